import type { RunCounts, RunRecord } from '../load/ledger.js';
import { LEGACY_ENTITIES, MIGRATED_ENTITIES } from '../model/entities.js';
import { REJECT_REASONS } from '../model/reject.js';
import { check, outcomeOf, REPORT_VERSION, type CheckResult, type EntityReport, type Report, type ValidationReport } from './report.js';

export interface RunReportInput {
  /** What runMigration returned (or migrate(), which adds the environment and target). */
  result: { runId: string; status: string; counts: RunCounts; startedAt: Date; finishedAt: Date; dryRun?: boolean };
  /** The run as the ledger holds it (findRun): options, code version, config hash. */
  run: RunRecord;
  /** The validation that ended the run, unless it ran with --no-validate (or dry). */
  validation?: ValidationReport;
  /** Why there is no validation; the report's warning says so (default: --no-validate or a dry run). */
  notValidated?: NotValidatedReason;
  /** A redacted URL or `pglite`. */
  targetDatabase: string;
  sourceDescription?: string;
}

/** Why a run ended without its validation. */
export type NotValidatedReason = 'no-validate' | 'dry-run' | 'worker';

const NOT_VALIDATED_WARNING: Record<NotValidatedReason, (runId: string) => string> = {
  'no-validate': (runId) => `the run was not validated (--no-validate): kpi-migrate validate --run ${runId} proves it`,
  'dry-run': () => 'the run was not validated: a dry run writes no rows to validate',
  worker: (runId) => `the run was not validated: this was one worker’s share; once every worker is done, run kpi-migrate validate --run ${runId}`,
};

/**
 * A run's report: the run's own figures per entity (read, migrated, rejected by reason, skipped,
 * inserted, updated, unchanged), its accounting identity, and the independent validation that
 * ended it. The run's outcome is failed when either its accounting or the validation failed.
 */
export function buildRunReport(input: RunReportInput): Report {
  const { result, run, validation } = input;
  const entities: EntityReport[] = [];
  for (const entity of LEGACY_ENTITIES) {
    const counts = result.counts.entities[entity];
    if (counts === undefined) continue;
    entities.push({
      entity,
      read: counts.read,
      migrated: counts.migrated,
      rejected: counts.rejected,
      rejectsByReason: Object.fromEntries(REJECT_REASONS.filter((reason) => counts.rejectsByReason[reason]).map((reason) => [reason, counts.rejectsByReason[reason]])),
      skipped: counts.skipped,
      ...(entity === 'Kpi' || entity === 'Person'
        ? {}
        : { rows: counts.rowsOut, inserted: counts.inserted, updated: counts.updated, unchanged: counts.unchanged }),
    });
  }
  const checks: CheckResult[] = [];
  for (const entity of MIGRATED_ENTITIES) {
    const counts = result.counts.entities[entity];
    if (counts === undefined) continue;
    const balanced = counts.read === counts.migrated + counts.rejected + counts.skipped;
    const identity = `read ${counts.read} ${balanced ? '=' : '≠'} migrated ${counts.migrated} + rejected ${counts.rejected} + skipped ${counts.skipped}`;
    checks.push(check('run-accounting', balanced ? 'passed' : 'failed', `${identity} (the run’s own counters)`, { ...counts }, undefined, entity));
  }
  if (result.status !== 'completed') {
    checks.push(check('run-status', 'failed', `the run is ${result.status}: resume it with kpi-migrate run --resume ${result.runId}`, { status: result.status }));
  }
  const seconds = (result.finishedAt.getTime() - result.startedAt.getTime()) / 1000;
  const read = entities.reduce((sum, e) => sum + e.read, 0);
  const phases: Report['timings']['phases'] = [{ name: 'run', seconds: round(seconds), items: read }];
  if (validation !== undefined) phases.push({ name: 'validate', seconds: validation.timings.seconds });
  const finishedAt = validation === undefined ? result.finishedAt : new Date(validation.timings.finishedAt);
  const outcome = outcomeOf(checks) === 'failed' || validation?.outcome === 'failed' ? 'failed' : 'passed';
  return {
    reportVersion: REPORT_VERSION,
    kind: 'run',
    runId: result.runId,
    outcome,
    generatedAt: new Date().toISOString(),
    environment: run.environment,
    codeVersion: run.codeVersion,
    configFingerprint: run.configHash,
    source: { kind: run.sourceKind, ...(input.sourceDescription === undefined ? {} : { description: input.sourceDescription }) },
    target: { database: input.targetDatabase, schema: run.targetSchema },
    options: { ...run.options, dryRun: result.dryRun ?? run.dryRun, validated: validation !== undefined },
    timings: {
      startedAt: result.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      seconds: round((finishedAt.getTime() - result.startedAt.getTime()) / 1000),
      phases,
    },
    entities,
    checks,
    ...(validation === undefined ? {} : { validation }),
    warnings: validation === undefined ? [notValidatedWarning(input.notValidated, result.runId)] : [],
  };
}

function notValidatedWarning(reason: NotValidatedReason | undefined, runId: string): string {
  return reason === undefined ? 'the run was not validated (--no-validate, or a dry run)' : NOT_VALIDATED_WARNING[reason](runId);
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
