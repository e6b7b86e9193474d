import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlClient } from '../../src/db/open.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { describeOutcome, runCli } from '../support/child-cli.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';
import { temporaryDirectory } from '../faults/harness.js';

const skipReason = missing('postgres-server');
if (skipReason) console.warn(`skipping the TLS URL tests: ${skipReason}`);

function withParameters(url: string, parameters: Record<string, string>): string {
  const parsed = new URL(url);
  for (const [key, value] of Object.entries(parameters)) parsed.searchParams.set(key, value);
  return parsed.toString();
}

describe.skipIf(skipReason !== undefined)('PostgreSQL TLS parameters in the URL reach the driver unchanged', () => {
  let db: TestDatabase;
  let serverSsl: boolean;
  let work: Awaited<ReturnType<typeof temporaryDirectory>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    work = await temporaryDirectory('tls');
    const { rows } = await db.sql.query<{ ssl: string }>(`select current_setting('ssl') as ssl`);
    serverSsl = rows[0]!.ssl === 'on';
  });

  afterAll(async () => {
    await db?.drop();
    await work?.remove();
  });

  async function sslInUse(url: string): Promise<boolean> {
    const sql = await openSqlClient(url);
    try {
      const { rows } = await sql.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      return rows[0]!.ssl;
    } finally {
      await sql.close();
    }
  }

  async function failure(url: string): Promise<string> {
    const sql = await openSqlClient(url);
    try {
      await sql.query('select 1');
      return 'connected';
    } catch (error) {
      return (error as Error).message;
    } finally {
      await sql.close().catch(() => {});
    }
  }

  it('sslmode=disable connects in clear text', async () => {
    expect(await sslInUse(withParameters(db.url, { sslmode: 'disable' }))).toBe(false);
  });

  it('sslmode=require demands TLS: refused by a server without it, used by a server with it', async () => {
    if (serverSsl) {
      // pg reads `require` as verify-full; `no-verify` encrypts without checking the certificate.
      expect(await sslInUse(withParameters(db.url, { sslmode: 'no-verify' }))).toBe(true);
    } else {
      expect(await failure(withParameters(db.url, { sslmode: 'require' }))).toMatch(/does not support SSL/);
    }
  });

  it('sslrootcert is read as the CA file: a missing one is named in the error, exit 3 from the CLI', async () => {
    const missing = path.join(work.dir, 'no-such-ca.pem');
    expect(await failure(withParameters(db.url, { sslmode: 'verify-full', sslrootcert: missing }))).toContain(missing);
    const outcome = await runCli(['run', '--source', 'export', '--export-dir', path.join(SMALL_FIXTURES, 'export'), '--database-url', withParameters(db.url, { sslmode: 'verify-full', sslrootcert: missing })]);
    expect(outcome.code, describeOutcome(outcome)).toBe(3);
    expect(outcome.stderr).toContain(`TARGET_UNAVAILABLE: preparing the target database: ENOENT: no such file or directory, open '${missing}'`);
  });

  it('the CLI passes them through too: sslmode=require against this server fails with exit 3 and the reason', async () => {
    const outcome = await runCli(['run', '--source', 'export', '--export-dir', path.join(SMALL_FIXTURES, 'export'), '--database-url', withParameters(db.url, { sslmode: serverSsl ? 'verify-full' : 'require' })]);
    expect(outcome.code, describeOutcome(outcome)).toBe(3);
    expect(outcome.stderr).toMatch(serverSsl ? /TARGET_UNAVAILABLE: .*(certificate|self.signed|unable to verify)/i : /TARGET_UNAVAILABLE: preparing the target database: The server does not support SSL connections/);
  });

  it('TLS file parameters in a config file’s URL are settings, not secrets: the run is not refused and reaches the server', async () => {
    const [cert, key] = [path.join(work.dir, 'client.crt'), path.join(work.dir, 'client.key')];
    await writeFile(cert, 'not used: sslmode=disable\n');
    await writeFile(key, 'not used: sslmode=disable\n');
    const url = withParameters(db.url, { sslmode: 'disable', sslcert: cert, sslkey: key });
    const configFile = path.join(work.dir, 'kpi-migrate.config.json');
    await writeFile(configFile, JSON.stringify({ environments: { tls: { target: { databaseUrl: url } } } }));
    const outcome = await runCli(['run', '--config', configFile, '--env', 'tls', '--source', 'export', '--export-dir', path.join(SMALL_FIXTURES, 'export')]);
    expect(outcome.code, describeOutcome(outcome)).toBe(0);
    expect(outcome.stderr).not.toMatch(/warning/);
    expect(outcome.stdout).toContain(`sslkey=${encodeURIComponent(key)}`);
    const { rows } = await db.sql.query<{ n: string }>(`select count(*)::text as n from kpi_migrate.runs where environment = 'tls' and status = 'completed'`);
    expect(rows[0]!.n).toBe('1');
  });

  it('a password in the database URL never reaches the output or the run ledger', async () => {
    const secret = 'pw-s3cr3t-Zq9';
    const url = new URL(db.url);
    url.password = secret;
    url.searchParams.set('sslmode', 'disable');
    const outcome = await runCli(['run', '--source', 'export', '--export-dir', path.join(SMALL_FIXTURES, 'export'), '--database-url', url.toString()]);
    expect(outcome.code, describeOutcome(outcome)).toBe(0);
    expect(outcome.stdout + outcome.stderr).not.toContain(secret);
    const { rows } = await db.sql.query<{ row: string }>('select to_jsonb(r)::text as row from kpi_migrate.runs r');
    expect(rows.length).toBeGreaterThan(0);
    for (const { row } of rows) expect(row).not.toContain(secret);
  });
});
