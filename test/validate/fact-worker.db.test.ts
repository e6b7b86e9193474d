import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createExportSource } from '../../src/extract/export-source.js';
import { defaultTableNames } from '../../src/model/entities.js';
import { packageRoot } from '../../src/package-root.js';
import { seed } from '../../src/seed/index.js';
import type { ValidationReport } from '../../src/validate/report.js';
import { describeOutcome, runCli } from '../support/child-cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { migrate, validate } from './harness.js';

/** What may differ between two validations of the same target: when, by what, described how. */
function comparable(report: ValidationReport): unknown {
  const { timings: _timings, generatedAt: _at, environment: _env, codeVersion: _code, configFingerprint: _fingerprint, source, target: _target, ...rest } = report;
  return {
    ...rest,
    source: { kind: source.kind },
    entities: report.entities.map(({ itemsPerSecond: _rate, ...entity }) => entity),
    checks: report.checks,
  };
}

// The built CLI maps KpiMilestone and KpiReading in a worker thread; the library called from the tests' TypeScript has no built worker and maps every table itself.
describe.skipIf(missing('postgres-server'))('a validation whose fact tables a worker thread maps (the built CLI)', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-fact-worker-'));
    await seed({ items: 3000, seed: 11, out: path.join(dir, 'export'), format: 'export' });
    db = await createTestDatabase();
    const { runId } = await migrate(db.sql, createExportSource({ dir: path.join(dir, 'export'), tableNames: defaultTableNames() }));
    // Damage a fact table of each thread, and the rejects: rows, samples and accounting then name records.
    for (const entity of ['KpiMilestone', 'KpiActual', 'KpiReading']) {
      await db.sql.query(`delete from kpi_data where id = (select id from kpi_data where source_entity = $1 order by id limit 1)`, [entity]);
      await db.sql.query(`update kpi_data set post_value = post_value + 1 where id = (select id from kpi_data where source_entity = $1 order by id offset 7 limit 1)`, [entity]);
      await db.sql.query(`delete from kpi_migrate.rejects where id = (select id from kpi_migrate.rejects where source_entity = $1 order by source_id limit 1)`, [entity]);
      await db.sql.query(`insert into kpi_migrate.rejects (run_id, source_entity, source_id, reason, message, item) values ($1::bigint, $2, 'no-such-record', 'invalid_id', 'made up', '{}')`, [runId, entity]);
    }
  }, 120_000);

  afterAll(async () => {
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the built CLI has the worker, for an export source', async () => {
    const built = (await import(path.join(packageRoot, 'dist', 'src', 'validate', 'fact-pass.js'))) as typeof import('../../src/validate/fact-pass.js');
    expect(built.factWorkerAvailable({ source: { kind: 'export', dir, tablePrefix: 'purposepath-', tables: {} } } as never)).toBe(true);
  });

  // A sample of 300 is full before the worker's tables are mapped: they are read again by the Ids it
  // could still choose, while the worker maps them. One of 5,000 is not: by each table's candidates.
  test.each([
    [false, 300],
    [true, 300],
    [false, 5000],
  ])('finds what a validation in one thread finds, to the report (--full: %s, sample %i)', async (full, sample) => {
    const file = path.join(dir, `report-${full}-${sample}.json`);
    const outcome = await runCli([
      'validate', '--database-url', db.url, '--source', 'export', '--export-dir', path.join(dir, 'export'),
      '--sample', String(sample), '--seed', '5', '--limit', '10', ...(full ? ['--full'] : []), '--format', 'json', '--report', file,
    ]);
    expect(outcome.code, describeOutcome(outcome)).toBe(1);
    const fromCli = JSON.parse(await readFile(file, 'utf8')) as ValidationReport;
    const inOneThread = await validate(db.sql, createExportSource({ dir: path.join(dir, 'export'), tableNames: defaultTableNames() }), { sample, seed: 5, limit: 10, full });
    const failed = (report: ValidationReport) => report.checks.filter((check) => check.status === 'failed').map((check) => `${check.name}${check.subject ? `:${check.subject}` : ''}`);
    expect(failed(inOneThread)).toEqual(expect.arrayContaining(['accounting:KpiActual', 'accounting:KpiReading', full ? 'full-compare:kpi_data' : 'rows:kpi_data', 'samples']));
    expect(comparable(fromCli)).toEqual(comparable(inOneThread));
  }, 120_000);
});
