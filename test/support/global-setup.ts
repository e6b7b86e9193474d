import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../src/extract/dynamodb-local.js';
import { prepareTemplateDatabase, dropTemplateDatabase } from './database-template.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoDbEndpoint: string;
    /** A migrated template database on TEST_DATABASE_URL's server, or '' when tests use PGlite. */
    pgTemplateDatabase: string;
  }
}

let dynamo: DynamoDbLocal | undefined;
let template: string | undefined;

/** One DynamoDB Local and one migrated template database for the whole test run. */
export async function setup(project: TestProject): Promise<void> {
  const [started, templateName] = await Promise.all([
    startDynamoDbLocal({ heapMb: 2048 }),
    process.env.TEST_DATABASE_URL ? prepareTemplateDatabase(process.env.TEST_DATABASE_URL) : Promise.resolve(''),
  ]);
  dynamo = started;
  template = templateName;
  project.provide('dynamoDbEndpoint', started.endpoint);
  project.provide('pgTemplateDatabase', templateName);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
  if (template && process.env.TEST_DATABASE_URL) await dropTemplateDatabase(process.env.TEST_DATABASE_URL, template);
}
