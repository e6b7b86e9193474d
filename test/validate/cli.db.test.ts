import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reportCommand } from '../../src/cli/commands/report.js';
import { validateCommand } from '../../src/cli/commands/validate.js';
import { EXIT, exitCodeFor } from '../../src/cli/exit.js';
import { MigrateError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { missing } from '../support/prerequisites.js';
import { FIXTURE_EXPORT, fixtureSource, migrate } from './harness.js';

/**
 * The two commands as main() runs them (build-cli.ts registers them): parse, run the handler,
 * map a thrown error to its exit code. Output is captured, not shown.
 */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (stdout.push(String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (stderr.push(String(chunk)), true));
  process.exitCode = undefined;
  let code: number;
  try {
    await yargs(args)
      .command(validateCommand as never)
      .command(reportCommand as never)
      .strict()
      .fail((message, error) => {
        throw error ?? new MigrateError('USAGE', message);
      })
      .parseAsync();
    code = Number(process.exitCode ?? EXIT.ok);
  } catch (error) {
    code = exitCodeFor(error);
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}

// The CLI opens the target by URL: an in-memory PGlite of the test would be another database.
describe.skipIf(missing('postgres-server'))('kpi-migrate validate and report (CLI)', () => {
  let db: TestDatabase;
  let dir: string;
  let runId: string;
  const target = () => ['--database-url', db.url, '--source', 'export', '--export-dir', FIXTURE_EXPORT];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kpi-validate-cli-'));
    db = await createTestDatabase();
    runId = (await migrate(db.sql, fixtureSource())).runId;
  });

  afterAll(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 when every check passes, prints the report, writes its JSON file and keeps it', async () => {
    const file = path.join(dir, 'clean.json');
    const result = await cli(['validate', ...target(), '--sample', '20', '--seed', '3', '--report', file]);
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toContain(`# kpi-migrate validation report — run ${runId}: PASSED`);
    expect(result.stderr).toContain(`report written to ${file}`);
    const written = JSON.parse(await readFile(file, 'utf8')) as { reportVersion: number; options: { seed: number; sample: number } };
    expect(written).toMatchObject({ reportVersion: 1, options: { seed: 3, sample: 20 } });
    const { rows } = await db.sql.query<{ n: string }>(`select count(*)::text as n from kpi_migrate.reports where run_id = $1 and kind = 'validate'`, [runId]);
    expect(rows[0]!.n).toBe('1');
  });

  it('exits 1 when a check fails, and names the record', async () => {
    const { rows } = await db.sql.query<{ id: string }>(`delete from kpi_data where id = (select id from kpi_data order by id limit 1) returning id::text as id`);
    const result = await cli(['validate', ...target(), '--sample', '0', '--report', path.join(dir, 'failed.json'), '--format', 'json']);
    expect(result.code).toBe(EXIT.checkFailed);
    const report = JSON.parse(result.stdout) as { outcome: string; checks: { name: string; differences: { id?: string }[] }[] };
    expect(report.outcome).toBe('failed');
    expect(report.checks.find((c) => c.name === 'rows' && c.differences.length > 0)?.differences).toEqual([expect.objectContaining({ kind: 'missing_row', id: rows[0]!.id })]);
  });

  it('exits 2 for a run that does not exist and for a bad option', async () => {
    expect((await cli(['validate', ...target(), '--run', '987654'])).code).toBe(EXIT.usage);
    expect((await cli(['validate', ...target(), '--limit', '0'])).code).toBe(EXIT.usage);
    expect((await cli(['report'])).code).toBe(EXIT.usage);
  });

  it('report --run renders the latest stored report as md, html and json', async () => {
    const md = await cli(['report', '--database-url', db.url, '--run', runId]);
    expect(md.code).toBe(EXIT.ok);
    expect(md.stdout).toContain(`kpi-migrate validation report — run ${runId}: FAILED`);
    const html = path.join(dir, 'report.html');
    const page = await cli(['report', '--database-url', db.url, '--run', runId, '--format', 'html', '--out', html]);
    expect(page.code).toBe(EXIT.ok);
    expect(await readFile(html, 'utf8')).toMatch(/^<!doctype html>[\s\S]*<svg/);
    const json = await cli(['report', '--database-url', db.url, '--run', runId, '--format', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ reportVersion: 1, kind: 'validate', runId, outcome: 'failed' });
    const fromFile = await cli(['report', '--input', path.join(dir, 'clean.json')]);
    expect(fromFile.stdout).toContain('PASSED');
  });
});
