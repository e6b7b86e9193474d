import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MigrateError } from '../errors.js';
import { targetFailure } from '../db/database-error.js';
import { storableJson } from '../load/jsonb-text.js';
import type { SqlSession } from '../db/sql-client.js';
import { parseReport, type Report } from './report.js';

/** Where reports go without `--report FILE`: beside the embedded database's default directory. */
export const DEFAULT_REPORT_DIR = path.join('.kpi-migrate', 'reports');

const RUN_ID = /^[1-9][0-9]{0,18}$/;

/** Keeps a report in kpi_migrate.reports (migration 004), beside its run. Returns the report's id. */
export async function storeReport(sql: SqlSession, report: Report): Promise<string> {
  try {
    const { rows } = await sql.query<{ id: string }>(
      'insert into kpi_migrate.reports (run_id, kind, report) values ($1::bigint, $2, $3::jsonb) returning id::text as id',
      [report.runId, report.kind, storableJson(report)],
    );
    return rows[0]!.id;
  } catch (error) {
    throw targetFailure(error, `storing the ${report.kind} report${report.runId === null ? '' : ` of run ${report.runId}`}`);
  }
}

/** The latest report stored for a run (of one kind, when given). */
export async function loadReport(sql: SqlSession, query: { runId: string; kind?: 'run' | 'validate' }): Promise<Report> {
  const stored = await latestStoredReport(sql, query);
  if (stored === undefined) {
    throw new MigrateError('RUN_NOT_FOUND', `no ${query.kind ?? ''}${query.kind ? ' ' : ''}report is stored for run ${query.runId}`);
  }
  return stored.report;
}

/** loadReport's report with its id in kpi_migrate.reports, or undefined when none is stored. */
export async function latestStoredReport(sql: SqlSession, query: { runId: string; kind?: 'run' | 'validate' }): Promise<{ id: string; report: Report } | undefined> {
  if (!RUN_ID.test(query.runId)) throw new MigrateError('USAGE', `not a run id: ${JSON.stringify(query.runId)}`);
  let rows: { id: string; report: string }[];
  try {
    ({ rows } = await sql.query<{ id: string; report: string }>(
      `select id::text as id, report::text as report from kpi_migrate.reports
       where run_id = $1::bigint and ($2::text is null or kind = $2) order by id desc limit 1`,
      [query.runId, query.kind ?? null],
    ));
  } catch (error) {
    throw targetFailure(error, `reading the reports of run ${query.runId}`);
  }
  if (rows[0] === undefined) return undefined;
  return { id: rows[0].id, report: parseReport(JSON.parse(rows[0].report), `the stored report of run ${query.runId}`) };
}

export function defaultReportFile(report: Report): string {
  const stamp = report.generatedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return path.join(DEFAULT_REPORT_DIR, `${report.kind}-run-${report.runId ?? 'none'}-${stamp}.json`);
}

/** Writes the report as JSON; returns the file written. */
export async function writeReportFile(report: Report, file: string = defaultReportFile(report)): Promise<string> {
  try {
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  } catch (error) {
    throw new MigrateError('USAGE', `cannot write the report to ${file}: ${(error as Error).message}`, { cause: error });
  }
  return file;
}

export async function readReportFile(file: string): Promise<Report> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new MigrateError('USAGE', `cannot read the report ${file}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MigrateError('USAGE', `${file} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseReport(parsed, file);
}
