import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import type { MigrateError } from '../../src/errors.js';
import { migrate } from '../../src/pipeline/migrate.js';
import { prepareRun } from '../../src/pipeline/migrate-in-this-thread.js';
import { MIGRATED_ENTITIES } from '../../src/model/entities.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { loadFixturesIntoDynamoDb } from '../support/dynamodb-fixtures.js';
import { expectedOutcome } from '../support/fixtures.js';
import { rowsPerSourceEntity, targetRows } from '../support/target-rows.js';

const expected = expectedOutcome();

// Workers are separate connections to one server: PGlite (one in-process database) cannot host them.
describe.skipIf(missing('postgres-server'))('several workers on one run (--worker K/N --run ID)', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  it('4 workers over 8 segments, at once, end with the rows and accounting of one process', async () => {
    const { endpoint, prefix } = await loadFixturesIntoDynamoDb();
    const configFor = (db: TestDatabase) =>
      resolveConfig({
        env: {},
        overrides: { source: 'dynamodb', dynamodbEndpoint: endpoint, region: 'local', tablePrefix: prefix, segments: 8, pageLimit: 10, databaseUrl: db.url, batchRows: 60 },
      });

    const single = await createTestDatabase();
    const shared = await createTestDatabase();
    databases.push(single, shared);
    const alone = await migrate(configFor(single));
    expect(alone.accountingBalanced).toBe(true);

    const config = configFor(shared);
    const runId = await prepareRun(config);
    const workers = await Promise.all(
      [1, 2, 3, 4].map((index) => migrate(config, { resume: runId, worker: { index, count: 4 } })),
    );
    for (const result of workers) {
      expect(result.runId).toBe(runId);
      expect(result.status).toBe('completed');
      expect(result.unbalanced).toEqual([]);
    }
    const counts = workers[3]!.counts;
    for (const entity of MIGRATED_ENTITIES) {
      const { read, migrated, rejected, skipped, rowsOut, rejectsByReason, personFallbacks } = counts.entities[entity]!;
      const want = alone.counts.entities[entity]!;
      expect({ entity, read, migrated, rejected, skipped, rowsOut, rejectsByReason, personFallbacks }).toEqual({
        entity, read: want.read, migrated: want.migrated, rejected: want.rejected, skipped: want.skipped,
        rowsOut: want.rowsOut, rejectsByReason: want.rejectsByReason, personFallbacks: want.personFallbacks,
      });
      expect(read).toBe(expected.tables[entity].read);
    }
    expect(await rowsPerSourceEntity(shared.sql)).toEqual(expected.kpiDataRows);
    expect(await targetRows(shared.sql)).toEqual(await targetRows(single.sql));
    const { rows } = await shared.sql.query<{ status: string }>('select status from kpi_migrate.runs where id = $1::bigint', [runId]);
    expect(rows[0]?.status).toBe('completed');
  });

  it('a worker whose configuration differs from its run is refused before it reads anything', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    // Nothing listens on this endpoint: a worker that got as far as reading would fail otherwise.
    const configWith = (overrides: { segments?: number; tablePrefix?: string }) =>
      resolveConfig({ env: {}, overrides: { source: 'dynamodb', dynamodbEndpoint: 'http://127.0.0.1:1', region: 'local', segments: 8, databaseUrl: db.url, ...overrides } });
    const created = await migrate(configWith({}), { worker: { index: 1, count: 4 }, run: 'mismatch' }).catch((error: unknown) => error);
    expect(created).toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    const refusals = await Promise.all([
      migrate(configWith({}), { worker: { index: 1, count: 2 }, run: 'mismatch' }).catch((error: unknown) => error),
      migrate(configWith({ segments: 16 }), { worker: { index: 1, count: 4 }, run: 'mismatch' }).catch((error: unknown) => error),
      migrate(configWith({ tablePrefix: 'other-' }), { worker: { index: 1, count: 4 }, run: 'mismatch' }).catch((error: unknown) => error),
    ]);
    expect(refusals.map((error) => (error as MigrateError).code)).toEqual(['RUN_STATE', 'RUN_STATE', 'RUN_STATE']);
    expect((refusals[0] as Error).message).toMatch(/worker count .*the run has 4, this worker 2/);
    expect((refusals[1] as Error).message).toMatch(/source: .*"segments":8.*"segments":16/);
    expect((refusals[2] as Error).message).toMatch(/source: .*"tablePrefix":"other-"/);
    const { rows } = await db.sql.query<{ n: number }>('select count(*)::int as n from kpi_migrate.runs');
    expect(rows[0]?.n).toBe(1);
  });

  it('refuses --worker without explicit segments or with another source kind', async () => {
    const base = { env: {}, overrides: { source: 'dynamodb' as const, dynamodbEndpoint: 'http://127.0.0.1:1', databaseUrl: 'postgres://x@127.0.0.1:1/x' } };
    await expect(migrate(resolveConfig(base), { worker: { index: 1, count: 2 } })).rejects.toThrow(/explicit --segments/);
    const exportConfig = resolveConfig({ env: {}, overrides: { source: 'export', exportDir: 'x', databaseUrl: 'postgres://x@127.0.0.1:1/x' } });
    await expect(migrate(exportConfig, { worker: { index: 1, count: 2 } })).rejects.toThrow(/needs --source dynamodb/);
    await expect(migrate(resolveConfig({ ...base, overrides: { ...base.overrides, segments: 4 } }), { worker: { index: 3, count: 2 } })).rejects.toThrow(/1 ≤ K ≤ N/);
  });
});
