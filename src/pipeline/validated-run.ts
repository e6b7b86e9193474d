import type { ResolvedConfig } from '../config/resolve.js';
import { MigrateError, coerceError } from '../errors.js';
import { findRun } from '../load/ledger.js';
import { openSqlClient } from '../db/open.js';
import type { SqlClient } from '../db/sql-client.js';
import type { Report, ValidationReport } from '../validate/report.js';
import type { NotValidatedReason, NotFinalizedReason } from '../validate/run-report.js';
import type { FinalizeOutcome } from '../load/finalize.js';
import { describeSource } from '../config/secrets.js';
import { migrate, type MigrateOptions, type MigrateResult } from './migrate.js';

export interface ValidatedRunOptions extends MigrateOptions {
  /** Validate the run once it is written (default true). A dry run and a worker's share never are. */
  validate?: boolean;
  /** Sample of the validation; default: the environment's sampleSize. */
  sample?: number;
  /** Seed of the sample; default: random, recorded in the report. */
  seed?: number;
  /** Where the run's JSON report goes; default: .kpi-migrate/reports/run-run-<id>-<time>.json. */
  reportFile?: string;
  /** The validation's steps, a line at a time. */
  validationProgress?: (message: string) => void;
  /** Finalize the target before the validation (default true): foreign key, index, progress cache. */
  finalize?: boolean;
  /** Finalize's steps, a line at a time. */
  finalizeProgress?: (message: string) => void;
}

export interface ValidatedRunOutcome {
  migration: MigrateResult;
  /** The validation that ended the run (also kept in kpi_migrate.reports as a `validate` report). */
  validation: ValidationReport | undefined;
  /** Why the run was not validated, when it was not. */
  notValidated: NotValidatedReason | undefined;
  /** What finalize did before the validation. */
  finalize?: FinalizeOutcome;
  /** Why it did not run, when it did not. */
  notFinalized?: NotFinalizedReason;
  /** The run's report, the validation embedded. */
  report: Report;
  /** Undefined when the run was completed and reported before: nothing was done, nor written. */
  reportFile: string | undefined;
  /** The run report's id in kpi_migrate.reports. */
  storedAs: string;
  /** The run's accounting balanced and every check of its report (the validation's included) passed. */
  passed: boolean;
}

/**
 * `kpi-migrate run`: migrates, finalizes the target (src/load/finalize.ts), then validates what
 * the run wrote (counts, rows, a sample: the checks of `kpi-migrate validate` without --full),
 * and keeps the run's report, its validation embedded, in kpi_migrate.reports and a JSON file.
 */
export async function migrateAndValidate(config: ResolvedConfig, options: ValidatedRunOptions = {}): Promise<ValidatedRunOutcome> {
  const { validate, sample, seed, reportFile, validationProgress, finalize: _finalize, finalizeProgress, ...migrateOptions } = options;
  const migration = await migrate(config, migrateOptions);
  // Loaded once the run is written: until then this thread only starts the run's threads, and
  // loading the validation first would hold them back.
  const [{ buildRunReport }, { latestStoredReport, storeReport, writeReportFile }] = await Promise.all([import('../validate/run-report.js'), import('../validate/store.js')]);
  const notValidated = reasonNotToValidate(options);
  const notFinalized = reasonNotToFinalize(options, migration);
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    // The same `run --run LABEL` after its run completed (a Job restarting a finished pod): the
    // run's report stands, and nothing is done again. Killed before its report was kept, it validates now.
    const stored = migration.alreadyCompleted && options.worker === undefined ? await latestStoredReport(sql, { runId: migration.runId, kind: 'run' }) : undefined;
    if (stored !== undefined) {
      const { report } = stored;
      return {
        migration,
        validation: report.validation as ValidationReport | undefined,
        notValidated: undefined,
        report,
        reportFile: undefined,
        storedAs: stored.id,
        passed: migration.accountingBalanced && report.outcome === 'passed',
      };
    }
    // Before the validation, so that it checks the progress cache as finalize left it.
    const finalize = notFinalized === undefined ? await finalizeRun(sql, config.target.schema, migration, finalizeProgress) : undefined;
    const validation = notValidated === undefined ? await validateRun(config, sql, migration.runId, { sample, seed, progress: validationProgress }) : undefined;
    const run = await findRun(sql, migration.runId);
    if (run === undefined) throw new MigrateError('RUN_CHANGED', `run ${migration.runId} is gone from kpi_migrate.runs`);
    const report = buildRunReport({
      result: migration,
      run,
      validation,
      notValidated,
      finalize,
      notFinalized,
      targetDatabase: migration.target,
      sourceDescription: describeSource(config.source),
    });
    const storedAs = await storeReport(sql, report);
    const written = await writeReportFile(report, reportFile);
    return { migration, validation, notValidated, finalize, notFinalized, report, reportFile: written, storedAs, passed: migration.accountingBalanced && report.outcome === 'passed' };
  } finally {
    await sql.close();
  }
}

function reasonNotToValidate(options: ValidatedRunOptions): NotValidatedReason | undefined {
  if (options.dryRun) return 'dry-run';
  // The other workers may still be writing: only a validation after the last of them proves the run.
  if (options.worker !== undefined) return 'worker';
  if (options.validate === false) return 'no-validate';
  return undefined;
}

function reasonNotToFinalize(options: ValidatedRunOptions, migration: MigrateResult): NotFinalizedReason | undefined {
  if (options.dryRun) return 'dry-run';
  // The other workers may still be writing: the key and the cache are for the whole run's rows.
  if (options.worker !== undefined) return 'worker';
  if (options.finalize === false) return 'no-finalize';
  if (migration.status !== 'completed') return 'run-incomplete';
  return undefined;
}

async function finalizeRun(sql: SqlClient, schema: string, migration: MigrateResult, progress: ((message: string) => void) | undefined): Promise<FinalizeOutcome> {
  const { runId } = migration;
  try {
    const { finalizeTarget } = await import('../load/finalize.js');
    // A converge run changed a few links: their cache rows are refreshed, not the whole cache.
    return await finalizeTarget(sql, schema, { progress, ...(migration.converge ? { touchedBy: runId } : {}) });
  } catch (error) {
    const failure = coerceError(error);
    throw new MigrateError(failure.code, `run ${runId} completed, but finalizing the target failed: ${failure.message} (kpi-migrate finalize does it again)`, {
      cause: failure,
      details: failure.details,
    });
  }
}

/** The validation, kept as a report of its own too (`kpi-migrate report --run ID --kind validate`). */
async function validateRun(
  config: ResolvedConfig,
  sql: SqlClient,
  runId: string,
  options: { sample?: number; seed?: number; progress?: (message: string) => void },
): Promise<ValidationReport> {
  try {
    const { keepValidationReport, validateWithSession } = await import('../validate/validate-configured.js');
    const validation = await validateWithSession(config, sql, { runId, ...options });
    await keepValidationReport(sql, validation);
    return validation;
  } catch (error) {
    // The run itself is complete (a resume has nothing left to do): what is missing is its proof.
    const failure = coerceError(error);
    throw new MigrateError(failure.code, `run ${runId} completed, but validating it failed: ${failure.message} (kpi-migrate validate --run ${runId} validates it again)`, {
      cause: failure,
      details: failure.details,
    });
  }
}
