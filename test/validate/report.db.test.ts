import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRun } from '../../src/load/ledger.js';
import {
  buildRunReport,
  loadReport,
  parseReport,
  readReportFile,
  renderReport,
  storeReport,
  writeReportFile,
  type Report,
  type ValidationReport,
} from '../../src/validate/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { CHROMIUM, missing } from '../support/prerequisites.js';
import { fixtureSource, migrate, validate } from './harness.js';

const run = promisify(execFile);

describe('reports: stored, written, read back and rendered', () => {
  let db: TestDatabase;
  let dir: string;
  let runReport: Report;
  let validation: ValidationReport;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-report-'));
    db = await createTestDatabase();
    const source = fixtureSource();
    const result = await migrate(db.sql, source);
    validation = await validate(db.sql, source);
    runReport = buildRunReport({ result, run: (await findRun(db.sql, result.runId))!, validation, targetDatabase: 'test', sourceDescription: 'fixtures/small/export' });
  });

  afterAll(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a run report carries the run’s figures, its accounting and the validation that ended it', () => {
    expect(runReport.outcome).toBe('passed');
    expect(runReport.runId).toBe(validation.runId);
    const actuals = runReport.entities.find((e) => e.entity === 'KpiActual')!;
    expect(actuals).toMatchObject({ read: 120, migrated: 113, rejected: 7, skipped: 0, inserted: 181, updated: 0, unchanged: 0 });
    expect(runReport.checks.filter((c) => c.name === 'run-accounting').map((c) => c.status)).toEqual(['passed', 'passed', 'passed', 'passed']);
    expect(runReport.validation?.kind).toBe('validate');
    expect(parseReport(JSON.parse(JSON.stringify(runReport)), 'test')).toEqual(runReport);
  });

  it('is kept in kpi_migrate.reports and found again by run, latest first, or by kind', async () => {
    await storeReport(db.sql, runReport);
    await storeReport(db.sql, validation);
    expect(await loadReport(db.sql, { runId: runReport.runId! })).toEqual(validation);
    expect(await loadReport(db.sql, { runId: runReport.runId!, kind: 'run' })).toEqual(runReport);
    await expect(loadReport(db.sql, { runId: '424242' })).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
  });

  it('is written as a JSON file and read back; another version is refused', async () => {
    const file = await writeReportFile(validation, path.join(dir, 'nested', 'validate.json'));
    expect(await readReportFile(file)).toEqual(validation);
    await writeFile(path.join(dir, 'v2.json'), JSON.stringify({ ...validation, reportVersion: 2 }));
    await expect(readReportFile(path.join(dir, 'v2.json'))).rejects.toThrow(/version 2; this kpi-migrate reads version 1/);
  });

  it('renders as Markdown with every section', () => {
    const md = renderReport(runReport, 'md');
    for (const heading of ['# kpi-migrate run report — run', '## Records per entity', '## Rejects by reason', '## Checks:', '## Timings', '## kpi-migrate validation report']) {
      expect(md).toContain(heading);
    }
    expect(md).toContain('| KpiActual | 120 | 113 | 7 | 0 | 181 |');
    expect(md).toMatch(/✅ accounting · KpiActual/);
    expect(md).toContain(`config fingerprint | ${runReport.configFingerprint}`);
  });

  it('renders as one self-contained HTML page: inline style and SVG, no script, nothing fetched', () => {
    const html = renderReport(runReport, 'html');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).toContain('Rejects by reason, split by entity');
    expect(html).not.toMatch(/<script|<link|\ssrc=|url\(/i);
    for (const url of html.match(/https?:\/\/[^"'\s<]+/g) ?? []) expect(url).toBe('http://www.w3.org/2000/svg');
  });

  it('renders as JSON that is the report itself', () => {
    expect(JSON.parse(renderReport(validation, 'json'))).toEqual(validation);
  });

  it('legacy text in a difference cannot break out of the Markdown table or the HTML page', () => {
    const hostile: Report = {
      ...validation,
      outcome: 'failed',
      checks: [{
        name: 'rows', subject: 'kpi_data', status: 'failed', summary: 'planted', evidence: {}, differencesFound: 1,
        differences: [{ kind: 'changed_value', id: 'x', column: 'label', expected: 'a|b\n# c', found: '<script>alert(1)</script>', message: 'm | </td>' }],
      }],
    };
    const md = renderReport(hostile, 'md');
    expect(md).not.toContain('<script>');
    expect(md).toContain('a\\|b␤# c');
    const html = renderReport(hostile, 'html');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;');
  });

  it.skipIf(missing('chromium'))(`renders in headless Chromium (${CHROMIUM}): the DOM has the charts, and a screenshot is drawn`, async () => {
    const file = path.join(dir, 'report.html');
    await writeFile(file, renderReport(runReport, 'html'));
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--allow-file-access-from-files'];
    const { stdout: dom } = await run(CHROMIUM, [...flags, '--dump-dom', `file://${file}`], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 });
    expect(dom).toContain('Records per entity');
    expect((dom.match(/<rect /g) ?? []).length).toBeGreaterThan(10);
    const png = path.join(dir, 'report.png');
    await run(CHROMIUM, [...flags, `--screenshot=${png}`, '--window-size=1280,1600', `file://${file}`], { timeout: 60_000 });
    expect((await readFile(png)).subarray(1, 4).toString()).toBe('PNG');
    expect((await stat(png)).size).toBeGreaterThan(20_000);
  });
});

if (missing('chromium')) {
  process.stderr.write(`test/validate/report.db.test.ts: the HTML report is not rendered in a browser: ${missing('chromium')}\n`);
}
