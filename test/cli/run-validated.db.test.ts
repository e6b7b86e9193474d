import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/validate/report.js';
import { FIXTURE_EXPORT, readExport, writeExport } from '../pipeline/changed-export.js';
import { expectedOutcome } from '../support/fixtures.js';
import { cli, scratchDir, show, type CliResult } from './cli-process.js';
import { createCliTarget, type CliTarget } from './cli-target.js';

const expected = expectedOutcome();

function runIdOf(result: CliResult): string {
  const id = /^run (\d+) /m.exec(result.stdout)?.[1];
  if (id === undefined) throw new Error(`no run id in the output:\n${show(result)}`);
  return id;
}

async function reportFile(file: string): Promise<Report> {
  return JSON.parse(await readFile(file, 'utf8')) as Report;
}

/** `kpi-migrate run` ends with `kpi-migrate validate` of that run and keeps the run's report. */
describe('kpi-migrate run, validated (the built CLI)', () => {
  let target: CliTarget;
  let dir: string;
  const runArgs = (exportDir: string, ...extra: string[]) => ['run', '--source', 'export', '--export-dir', exportDir, '--database-url', target.url, ...extra];

  beforeAll(async () => {
    target = await createCliTarget();
    dir = scratchDir('run-validated');
  });
  afterAll(async () => {
    await target.drop();
  });

  let firstRun: string;
  let firstReport: Report;

  it('a run of the committed fixtures ends validated, exit 0, and writes its report where --report says', async () => {
    const file = path.join(dir, 'reports', 'first.json');
    const result = await cli(runArgs(FIXTURE_EXPORT, '--report', file));
    expect(result.code, show(result)).toBe(0);
    firstRun = runIdOf(result);
    expect(result.stdout).toContain('accounting: read = migrated + rejected + skipped for every table ✓');
    expect(result.stdout).toMatch(new RegExp(`validation of run ${firstRun} \\(sample 200, seed \\d+\\):`));
    expect(result.stdout).toContain('✓ rows (kpi_data): 472 expected rows');
    expect(result.stdout).toContain('validation passed ✓');
    expect(result.stderr).toContain(`report written to ${file} and kept in kpi_migrate.reports (kpi-migrate report --run ${firstRun})`);

    firstReport = await reportFile(file);
    expect(firstReport).toMatchObject({ reportVersion: 1, kind: 'run', runId: firstRun, outcome: 'passed', options: { dryRun: false, validated: true }, warnings: [] });
    const actuals = firstReport.entities.find((e) => e.entity === 'KpiActual');
    expect(actuals).toMatchObject({ read: expected.tables.KpiActual.read, migrated: expected.tables.KpiActual.migrated, inserted: expected.kpiDataRows.KpiActual });
    expect(firstReport.checks.filter((c) => c.name === 'run-accounting').map((c) => c.status)).toEqual(['passed', 'passed', 'passed', 'passed']);
    // The checks `kpi-migrate validate` runs without --full, with the environment's sample.
    expect(firstReport.validation).toMatchObject({ kind: 'validate', runId: firstRun, outcome: 'passed', options: { sample: 200, full: false } });
    const checks = new Set(firstReport.validation!.checks.map((c) => c.name));
    for (const name of ['schema', 'accounting', 'fan-out', 'rows', 'samples', 'orphans', 'progress-cache']) expect(checks).toContain(name);
    expect(firstReport.validation!.checks.find((c) => c.name === 'progress-cache')?.status).toBe('passed');
    expect(firstReport.timings.phases.map((p) => p.name)).toEqual(['run', 'finalize', 'validate']);
    // Finalize ran before the validation: the key and index of migration 002 kept, the cache computed.
    expect(result.stdout).toContain('foreign key kpi_data_kpi_link_id_fkey: present and valid, nothing to do');
    expect(result.stdout).toContain('index kpi_data_link_date_idx on kpi_data (kpi_link_id, post_date): present and valid, nothing to do');
    expect(result.stdout).toMatch(/progress cache: \d+ link\(s\) \(\d+ inserted, 0 updated, 0 deleted\)/);
    expect(firstReport.finalize).toMatchObject({ changed: true, foreignKey: { found: 'valid', valid: true }, index: { found: 'valid', created: false } });
    expect(firstReport.finalize!.progressCache.links.inserted).toBe(expected.kpiLinks);
    expect(firstReport.checks.filter((c) => c.name === 'finalize').map((c) => [c.subject, c.status])).toEqual([
      ['foreign key', 'passed'],
      ['index', 'passed'],
      ['progress cache', 'passed'],
    ]);
  });

  it('finalize alone, after the run, changes nothing and says so; run --no-finalize skips it and says so', async () => {
    const again = await cli(['finalize', '--database-url', target.url]);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toContain(`progress cache: ${expected.kpiLinks} link(s) (0 inserted, 0 updated, 0 deleted)`);
    expect(again.stdout).toMatch(/^finalize: nothing changed/m);
    const file = path.join(dir, 'no-finalize.json');
    const skipped = await cli(runArgs(FIXTURE_EXPORT, '--no-finalize', '--report', file));
    expect(skipped.code, show(skipped)).toBe(0);
    expect(skipped.stdout).not.toContain('progress cache:');
    const report = await reportFile(file);
    expect(report.finalize).toBeUndefined();
    expect(report.timings.phases.map((p) => p.name)).toEqual(['run', 'validate']);
    expect(report.warnings).toEqual([expect.stringContaining('the run was not finalized (--no-finalize): kpi-migrate finalize')]);
  });

  it('report --run ID shows that run report, its validation embedded; --kind validate the validation alone', async () => {
    const json = await cli(['report', '--database-url', target.url, '--run', firstRun, '--format', 'json']);
    expect(json.code, show(json)).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(firstReport);
    const validation = await cli(['report', '--database-url', target.url, '--run', firstRun, '--kind', 'validate', '--format', 'json']);
    expect(validation.code, show(validation)).toBe(0);
    expect(JSON.parse(validation.stdout)).toEqual(firstReport.validation);
  });

  it('--no-validate skips the validation; the report, by default under .kpi-migrate/reports/, says so', async () => {
    const cwd = scratchDir('run-no-validate');
    const result = await cli(runArgs(FIXTURE_EXPORT, '--no-validate'), { cwd });
    expect(result.code, show(result)).toBe(0);
    const runId = runIdOf(result);
    expect(result.stdout).not.toContain('validation of run');
    expect(result.stdout).toContain(`the run was not validated (--no-validate): kpi-migrate validate --run ${runId} proves it`);
    const written = readdirSync(path.join(cwd, '.kpi-migrate', 'reports'));
    expect(written).toEqual([expect.stringMatching(new RegExp(`^run-run-${runId}-\\d{8}T\\d{6}Z\\.json$`))]);
    expect(result.stderr).toContain(`report written to ${path.join('.kpi-migrate', 'reports', written[0]!)}`);
    const report = await reportFile(path.join(cwd, '.kpi-migrate', 'reports', written[0]!));
    expect(report).toMatchObject({ kind: 'run', runId, outcome: 'passed', options: { validated: false } });
    expect(report.validation).toBeUndefined();
    expect(report.warnings).toEqual([`the run was not validated (--no-validate): kpi-migrate validate --run ${runId} proves it`]);
    // A re-run of the same input changes nothing.
    expect(report.entities.find((e) => e.entity === 'KpiActual')).toMatchObject({ inserted: 0, updated: 0, unchanged: expected.kpiDataRows.KpiActual });
    const stored = await cli(['report', '--database-url', target.url, '--run', runId, '--format', 'json']);
    expect(JSON.parse(stored.stdout)).toEqual(report);
    const validation = await cli(['report', '--database-url', target.url, '--run', runId, '--kind', 'validate']);
    expect(validation.code).toBe(2);
    expect(validation.stderr).toContain(`no validate report is stored for run ${runId}`);
  });

  it('a dry run is not validated: it wrote nothing', async () => {
    const file = path.join(dir, 'dry.json');
    const result = await cli(runArgs(FIXTURE_EXPORT, '--dry-run', '--report', file));
    expect(result.code, show(result)).toBe(0);
    expect(result.stdout).toContain('the run was not validated: a dry run writes no rows to validate');
    expect(await reportFile(file)).toMatchObject({ kind: 'run', options: { dryRun: true, validated: false } });
  });

  it('a record gone from the source since an earlier run: the run balances, its validation finds the row still there, exit 1', async () => {
    // One whose Id no reject shares (an id_conflict's loser would take its place).
    const [gone] = await target.query<{ source_id: string }>(
      `select source_id from public.kpi_data d where source_entity = 'KpiActual'
         and not exists (select 1 from kpi_migrate.rejects r where lower(r.source_id) = lower(d.source_id)) order by source_id limit 1`,
    );
    const tables = await readExport(FIXTURE_EXPORT);
    tables.KpiActual = tables.KpiActual.filter((item) => item.Id !== gone!.source_id);
    expect(tables.KpiActual).toHaveLength(expected.tables.KpiActual.read - 1);
    const shrunk = path.join(dir, 'export-without-one-actual');
    await writeExport(shrunk, tables);

    const file = path.join(dir, 'failed.json');
    const result = await cli(runArgs(shrunk, '--report', file));
    expect(result.code, show(result)).toBe(1);
    const runId = runIdOf(result);
    // The run saw one record less and accounted for each record it saw; the target still holds the other's rows.
    expect(result.stdout).toContain('accounting: read = migrated + rejected + skipped for every table ✓');
    expect(result.stdout).toContain('✗ accounting (KpiActual)');
    expect(result.stdout).toContain('validation FAILED');
    const report = await reportFile(file);
    expect(report).toMatchObject({ kind: 'run', runId, outcome: 'failed', options: { validated: true } });
    expect(report.checks.filter((c) => c.name === 'run-accounting').map((c) => c.status)).toEqual(['passed', 'passed', 'passed', 'passed']);
    expect(report.validation?.outcome).toBe('failed');
    const rows = report.validation!.checks.find((c) => c.name === 'rows' && c.subject === 'kpi_data');
    expect(rows?.status).toBe('failed');
    expect(rows?.differences.length).toBeGreaterThan(0);
    for (const difference of rows!.differences) expect(difference).toMatchObject({ kind: 'extra_row', sourceId: gone!.source_id });
  });

  it('finalize exits 1 while orphan rows keep the foreign key unvalidated, naming them; 0 once they are gone', async () => {
    const orphan = '00000000-0000-4000-8000-0000000000b1';
    await target.query('alter table public.kpi_data drop constraint kpi_data_kpi_link_id_fkey');
    await target.query(
      `insert into public.kpi_data (id, kpi_link_id, data_category, actual_subtype, post_value, post_date, source_entity, source_id, first_run_id, last_run_id)
       values ($1, '00000000-0000-4000-8000-00000000dead', 'actual', 'measured', 1, '2024-03-01T00:00:00Z', 'Test', 'orphan', 1, 1)`,
      [orphan],
    );
    const blocked = await cli(['finalize', '--database-url', target.url]);
    expect(blocked.code, show(blocked)).toBe(1);
    expect(blocked.stdout).toContain('foreign key kpi_data_kpi_link_id_fkey: added NOT VALID (it was missing); NOT validated: 1 kpi_data row(s)');
    expect(blocked.stdout).toContain(`kpi_data ${orphan} → missing link 00000000-0000-4000-8000-00000000dead`);
    await target.query('delete from public.kpi_data where id = $1', [orphan]);
    const validated = await cli(['finalize', '--database-url', target.url]);
    expect(validated.code, show(validated)).toBe(0);
    expect(validated.stdout).toContain('present but NOT VALID; no orphan rows; validated');
  });
});
