import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';
import { usesRealPostgres } from '../support/database.js';
import { cli, scratchDir, show, type CliResult } from './cli-process.js';
import { createCliTarget, type CliTarget } from './cli-target.js';

const PASSWORD = 'Pa55-w0rd-KNOWN-7731';
/** Percent-encoded in the URL; pg decodes it. Neither form may show. */
const ENCODED_PASSWORD = 'S3cr%23t-KNOWN-4242';
const AWS_SECRET = 'wJalrXUtnFEMI-KNOWN-SECRET-4411';
const AWS_TOKEN = 'IQoJb3JpZ2luX2VjEKNOWNTOKEN9988';
const SECRETS = [PASSWORD, ENCODED_PASSWORD, decodeURIComponent(ENCODED_PASSWORD), AWS_SECRET, AWS_TOKEN];

const awsEnv = { AWS_ACCESS_KEY_ID: 'AKIAKNOWNKEYID', AWS_SECRET_ACCESS_KEY: AWS_SECRET, AWS_SESSION_TOKEN: AWS_TOKEN };
/** Everything a failure can print (causes and stacks), and a progress log line per update. */
const chatty = { KPI_MIGRATE_DEBUG: '1', KPI_MIGRATE_PROGRESS_MS: '0' };

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString().replace(encodeURIComponent(password), password);
}

describe('secrets never reach a printed line or a log', () => {
  const outputs: { what: string; result: CliResult }[] = [];
  let target: CliTarget;
  const record = async (what: string, args: string[], env: Record<string, string>, expectedCode: number, cwd?: string) => {
    const result = await cli(args, { env: { ...chatty, ...awsEnv, ...env }, ...(cwd === undefined ? {} : { cwd }) });
    outputs.push({ what, result });
    expect(result.code, `${what}\n${show(result)}`).toBe(expectedCode);
    return result;
  };

  beforeAll(async () => {
    target = await createCliTarget();
  });
  afterAll(async () => {
    await target.drop();
  });

  it('a whole run from DynamoDB Local, with AWS keys set and a password in DATABASE_URL', async () => {
    const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
    // The test server trusts local connections, so a password in the URL is sent and ignored.
    const databaseUrl = usesRealPostgres() ? withPassword(target.url, PASSWORD) : target.url;
    const result = await record(
      'run',
      ['run', '--source', 'dynamodb', '--dynamodb-endpoint', endpoint, '--region', 'local', '--table-prefix', prefix, '--segments', '2', '--batch-rows', '40'],
      { DATABASE_URL: databaseUrl },
      0,
    );
    const progressLines = result.stderr.split('\n').filter((line) => line.includes('"event":"progress"'));
    expect(progressLines.length).toBeGreaterThan(10);
    // The user stays readable (whichever role the test server gives us); the password becomes *****.
    if (usesRealPostgres()) expect(result.stdout).toContain(`target postgres://${new URL(target.url).username}:*****@`);
  });

  it('config, and failures to reach a target, a kv_store or DynamoDB whose URLs hold the password', async () => {
    const exportArgs = ['--source', 'export', '--export-dir', path.join(SMALL_FIXTURES, 'export')];
    await record('config', ['config', ...exportArgs], { DATABASE_URL: `postgres://migrator:${PASSWORD}@db.example:5432/kpi` }, 0);
    await record('unknown host', ['run', ...exportArgs], { DATABASE_URL: `postgres://migrator:${ENCODED_PASSWORD}@db.invalid:5432/kpi` }, 3);
    await record('refused connection, URL as a flag', ['run', ...exportArgs, '--database-url', `postgres://migrator:${PASSWORD}@127.0.0.1:1/kpi`], {}, 3);
    await record('rejects', ['rejects'], { DATABASE_URL: `postgresql://migrator:${PASSWORD}@127.0.0.1:1/kpi` }, 3);
    await record(
      'kv source',
      ['run', '--source', 'kv', '--kv-url', `postgres://reader:${PASSWORD}@127.0.0.1:1/legacy`],
      { DATABASE_URL: `postgres://migrator:${PASSWORD}@127.0.0.1:1/kpi` },
      3,
    );
    await record('DynamoDB unreachable', ['run', '--source', 'dynamodb', '--dynamodb-endpoint', 'http://127.0.0.1:1', '--region', 'local'], { DATABASE_URL: target.url }, 3);
    const dir = scratchDir('secret-file');
    writeFileSync(path.join(dir, 'kpi-migrate.config.json'), JSON.stringify({ environments: { prod: { target: { databaseUrl: `postgres://m:${PASSWORD}@db/kpi` } } } }));
    await record('a password in the config file', ['config', '--env', 'prod'], {}, 2, dir);
  });

  it('none of those outputs holds a secret', () => {
    expect(outputs.length).toBe(8);
    for (const { what, result } of outputs) {
      expect(result.stdout.length + result.stderr.length, what).toBeGreaterThan(0);
      for (const secret of SECRETS) {
        expect(result.stdout.includes(secret), `${what}: stdout holds ${secret}\n${show(result)}`).toBe(false);
        expect(result.stderr.includes(secret), `${what}: stderr holds ${secret}\n${show(result)}`).toBe(false);
      }
    }
  });
});
