import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ResolvedConfig } from '../../src/config/resolve.js';
import { openSqlClient } from '../../src/db/open.js';
import { prepareRun } from '../../src/pipeline/migrate-in-this-thread.js';
import { migrateAndValidate } from '../../src/pipeline/validated-run.js';
import { validateConfigured } from '../../src/validate/validate-configured.js';
import { createTestDatabase, usesRealPostgres, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';
import { expectedOutcome, SMALL_FIXTURES } from '../support/fixtures.js';

const expected = expectedOutcome();

describe('migrateAndValidate (what `kpi-migrate run` calls)', () => {
  let dir: string;
  const databases: TestDatabase[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-validated-run-'));
  });
  afterAll(async () => {
    for (const db of databases) await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A target migrate() opens by URL: a database of its own on the server, or a PGlite directory (closed between uses). */
  async function targetUrl(name: string): Promise<string> {
    if (!usesRealPostgres()) return `pglite://${path.join(dir, name)}`;
    const db = await createTestDatabase();
    databases.push(db);
    return db.url;
  }

  it('a --tenant run is validated within its tenant: the other tenants’ records are skipped, and it passes', async () => {
    const config = resolveConfig({ env: {}, overrides: { source: 'export', exportDir: path.join(SMALL_FIXTURES, 'export'), databaseUrl: await targetUrl('tenant') } });
    const whole = await migrateAndValidate(config, { reportFile: path.join(dir, 'whole.json') });
    expect(whole.passed).toBe(true);
    const tenant = await busiestTenant(config);
    const one = await migrateAndValidate(config, { tenant, reportFile: path.join(dir, 'tenant.json') });
    expect(one.migration.accountingBalanced).toBe(true);
    expect(one.validation?.options.tenant).toBe(tenant);
    expect(one.validation?.checks.filter((c) => c.status === 'failed')).toEqual([]);
    expect(one.passed).toBe(true);
    const actuals = one.validation!.entities.find((e) => e.entity === 'KpiActual')!;
    expect(actuals.skipped).toBeGreaterThan(0);
    expect(actuals.skipped).toBe(one.migration.counts.entities.KpiActual!.skipped);
  });

  // Workers are separate connections to one server: PGlite cannot host them.
  it.skipIf(missing('postgres-server'))('a worker’s share is not validated (the others may still write); validate --run ID proves the run once all are done', async () => {
    const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
    const config = resolveConfig({
      env: {},
      overrides: { source: 'dynamodb', dynamodbEndpoint: endpoint, region: 'local', tablePrefix: prefix, segments: 4, pageLimit: 20, databaseUrl: await targetUrl('workers'), batchRows: 60 },
    });
    const runId = await prepareRun(config);
    const workers = await Promise.all(
      [1, 2].map((index) => migrateAndValidate(config, { resume: runId, worker: { index, count: 2 }, reportFile: path.join(dir, `worker-${index}.json`) })),
    );
    for (const worker of workers) {
      expect(worker.migration.runId).toBe(runId);
      expect(worker.validation).toBeUndefined();
      expect(worker.notValidated).toBe('worker');
      expect(worker.report.options.validated).toBe(false);
      expect(worker.report.warnings).toEqual([
        expect.stringContaining('once every worker is done, run kpi-migrate finalize'),
        expect.stringContaining(`once every worker is done, run kpi-migrate validate --run ${runId}`),
      ]);
      expect(worker.finalize).toBeUndefined();
      expect(worker.passed).toBe(true);
    }
    const validation = await validateConfigured(config, { runId, reportFile: path.join(dir, 'workers-validated.json') });
    expect(validation.report.checks.filter((c) => c.status === 'failed')).toEqual([]);
    expect(validation.report.entities.find((e) => e.entity === 'KpiActual')?.migrated).toBe(expected.tables.KpiActual.migrated);
  });
});

/** The tenant with the most links in the target. */
async function busiestTenant(config: ResolvedConfig): Promise<string> {
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    const { rows } = await sql.query<{ tenant: string }>('select tenant_id::text as tenant from public.kpi_links group by 1 order by count(*) desc limit 1');
    return rows[0]!.tenant;
  } finally {
    await sql.close();
  }
}
