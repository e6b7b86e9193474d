import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed } from '../../src/seed/index.js';
import { createTestDatabase, usesRealPostgres, type TestDatabase } from '../support/database.js';
import { checkNamed, failedChecks, fixtureSource, migrate, validate } from './harness.js';

// About 1.6 kpi_data rows per fact item: 65,000 items give a little over 100,000 rows. The
// embedded PGlite (when no server could be started) loads several times slower: there the same test runs
// on a fifth of the rows, to stay within the test timeout.
const REAL = usesRealPostgres();
const ITEMS = REAL ? 65_000 : 13_000;
const MIN_ROWS = REAL ? 100_000 : 20_000;
if (!REAL) process.stderr.write(`full-compare-100k: on PGlite, ${MIN_ROWS} rows instead of 100,000 (no PostgreSQL server could be started for the tests)\n`);

describe(`validate --full on ${MIN_ROWS / 1000}k rows`, () => {
  let dir: string;
  let db: TestDatabase;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-validate-100k-'));
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds a single changed value among them and names it', async () => {
    const seeded = await seed({ items: ITEMS, seed: 5, out: dir, format: 'export', layout: 'flat' });
    const dataRows = Object.values(seeded.expected.kpiDataRows).reduce((a, b) => a + b, 0);
    expect(dataRows).toBeGreaterThanOrEqual(MIN_ROWS);
    const source = fixtureSource(dir);
    const run = await migrate(db.sql, source, { batchRows: 20_000 });
    expect(run.status).toBe('completed');

    const { rows } = await db.sql.query<{ id: string; source_id: string; v: string }>(
      `update kpi_data set original_value = coalesce(original_value, 0) + 0.000001
       where id = (select id from kpi_data where source_entity = 'KpiActual' order by id offset $1 limit 1)
       returning id::text as id, source_id, original_value::text as v`,
      [Math.floor(seeded.expected.kpiDataRows.KpiActual / 2)],
    );
    expect(rows).toHaveLength(1);
    const changed = rows[0]!;

    const report = await validate(db.sql, source, { full: true, sample: 0, limit: 20 });
    expect(failedChecks(report)).toEqual(['full-compare:kpi_data']);
    const check = checkNamed(report, 'full-compare', 'kpi_data');
    expect(check.evidence).toMatchObject({ expectedRows: dataRows, targetRows: dataRows, differingBuckets: 1, drilledBuckets: 1 });
    expect(check.differences).toEqual([
      expect.objectContaining({ kind: 'changed_value', id: changed.id, entity: 'KpiActual', sourceId: changed.source_id, column: 'original_value', found: changed.v }),
    ]);
    expect(check.differencesFound).toBe(1);
  });
});
