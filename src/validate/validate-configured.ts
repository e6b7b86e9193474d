import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolve.js';
import { configHash, describeSource, redactUrl } from '../config/secrets.js';
import { MigrateError } from '../errors.js';
import { openSqlClient } from '../db/open.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { resolveRunId } from '../load/ledger.js';
import { packageRoot } from '../package-root.js';
import { openConfiguredSource } from '../reading/open-source.js';
import type { Report, ValidationReport } from './report.js';
import { loadReport, readReportFile, storeReport, writeReportFile } from './store.js';
import { DEFAULT_DIFFERENCE_LIMIT, validateMigration } from './validate.js';
import { factWorkerAvailable } from './fact-pass.js';

const codeVersion: string = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

export interface ValidateOptions {
  runId?: string;
  /** Default: the environment's sampleSize (200). */
  sample?: number;
  /** Default: a random seed, recorded in the report so that the sample can be drawn again. */
  seed?: number;
  full?: boolean;
  limit?: number;
  /** Default: .kpi-migrate/reports/validate-run-<id>-<time>.json */
  reportFile?: string;
  progress?: (message: string) => void;
}

export interface ValidateOutcome {
  report: ValidationReport;
  reportFile: string;
  /** Its id in kpi_migrate.reports; undefined when the target has no such table (see the schema check). */
  storedAs: string | undefined;
}

/** Opens the configured source and target, validates, keeps the report (database and file), and closes both. */
export async function validateConfigured(config: ResolvedConfig, options: ValidateOptions = {}): Promise<ValidateOutcome> {
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    const runId = options.runId === undefined ? undefined : await resolveRunId(sql, options.runId);
    const report = await validateWithSession(config, sql, { ...options, runId });
    const storedAs = await keepValidationReport(sql, report);
    const reportFile = await writeReportFile(report, options.reportFile);
    return { report, reportFile, storedAs };
  } finally {
    await sql.close();
  }
}

/** Validates the configured source against an open target (the source is opened and closed here); keeps nothing. */
export async function validateWithSession(config: ResolvedConfig, sql: SqlClient, options: Omit<ValidateOptions, 'reportFile'> = {}): Promise<ValidationReport> {
  const source = await openConfiguredSource(config);
  try {
    return await validateMigration({
      source,
      sql,
      targetSchema: config.target.schema,
      runId: options.runId,
      sample: options.sample ?? config.sampleSize,
      seed: options.seed ?? randomInt(0, 2 ** 31),
      full: options.full ?? false,
      limit: options.limit ?? DEFAULT_DIFFERENCE_LIMIT,
      environment: config.environment,
      codeVersion,
      configFingerprint: configHash(config),
      sourceDescription: describeSource(config.source),
      targetDescription: redactUrl(config.target.databaseUrl),
      progress: options.progress,
      ...(factWorkerAvailable(config) ? { factWorker: { config } } : {}),
    });
  } finally {
    await source.close();
  }
}

/**
 * Stores a validation report in kpi_migrate.reports when the schema check found that table;
 * otherwise says so in the report's warnings (the report still goes to its file). Returns its id.
 */
export async function keepValidationReport(sql: SqlSession, report: ValidationReport): Promise<string | undefined> {
  const reportsTable = (report.checks.find((c) => c.name === 'schema')?.evidence.tables as string[] | undefined)?.includes('kpi_migrate.reports');
  if (reportsTable) return storeReport(sql, report);
  report.warnings.push('kpi_migrate.reports is missing (kpi-migrate schema apply): the report was written to its file only');
  return undefined;
}

/** A stored report of a run (the latest, or the latest of one kind), or a report file. */
export async function findReport(config: ResolvedConfig, query: { runId?: string; kind?: 'run' | 'validate'; file?: string }): Promise<Report> {
  if (query.file !== undefined) return readReportFile(query.file);
  if (query.runId === undefined) {
    throw new MigrateError('USAGE', 'name the run (--run ID) or a report file (--input FILE)');
  }
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    return await loadReport(sql, { runId: await resolveRunId(sql, query.runId), kind: query.kind });
  } finally {
    await sql.close();
  }
}
