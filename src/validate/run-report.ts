import type { RunCounts, RunRecord } from '../load/ledger.js';
import { LEGACY_ENTITIES, MIGRATED_ENTITIES } from '../model/entities.js';
import { REJECT_REASONS } from '../model/reject.js';
import { check, outcomeOf, REPORT_VERSION, type CheckResult, type EntityReport, type Report, type ValidationReport, DifferenceList, type FinalizeSection } from './report.js';
import type { FinalizeOutcome } from '../load/finalize.js';

export interface RunReportInput {
  /** What runMigration returned (or migrate(), which adds the environment and target). */
  result: { runId: string; status: string; counts: RunCounts; startedAt: Date; finishedAt: Date; dryRun?: boolean };
  /** The run as the ledger holds it (findRun): options, code version, config hash. */
  run: RunRecord;
  /** The validation that ended the run, unless it ran with --no-validate (or dry). */
  validation?: ValidationReport;
  /** Why there is no validation; the report's warning says so (default: --no-validate or a dry run). */
  notValidated?: NotValidatedReason;
  /** What finalize did before the validation, unless it did not run. */
  finalize?: FinalizeOutcome;
  /** Why finalize did not run, when it did not; the report's warning says so. */
  notFinalized?: NotFinalizedReason;
  /** A redacted URL or `pglite`. */
  targetDatabase: string;
  sourceDescription?: string;
}

/** Why a run ended without its validation. */
export type NotValidatedReason = 'no-validate' | 'dry-run' | 'worker';

/** Why a run ended without finalize. */
export type NotFinalizedReason = 'no-finalize' | 'dry-run' | 'worker' | 'run-incomplete';

const NOT_FINALIZED_WARNING: Record<NotFinalizedReason, ((runId: string) => string) | undefined> = {
  'no-finalize': () => 'the run was not finalized (--no-finalize): kpi-migrate finalize adds and validates the foreign key, builds the index and computes the progress cache',
  'dry-run': undefined,
  worker: () => 'the run was not finalized: this was one worker’s share; once every worker is done, run kpi-migrate finalize',
  'run-incomplete': (runId) => `the run was not finalized: it did not complete (kpi-migrate run --resume ${runId} finalizes it at its end)`,
};

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
  if (input.finalize !== undefined) checks.push(...finalizeChecks(input.finalize));
  const seconds = (result.finishedAt.getTime() - result.startedAt.getTime()) / 1000;
  const read = entities.reduce((sum, e) => sum + e.read, 0);
  const phases: Report['timings']['phases'] = [{ name: 'run', seconds: round(seconds), items: read }];
  if (input.finalize !== undefined) phases.push({ name: 'finalize', seconds: input.finalize.seconds });
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
    ...(input.finalize === undefined ? {} : { finalize: finalizeSection(input.finalize) }),
    ...(validation === undefined ? {} : { validation }),
    warnings: [
      ...(input.notFinalized === undefined ? [] : [NOT_FINALIZED_WARNING[input.notFinalized]?.(result.runId)].filter((w): w is string => w !== undefined)),
      ...(validation === undefined ? [notValidatedWarning(input.notValidated, result.runId)] : []),
    ],
  };
}

function notValidatedWarning(reason: NotValidatedReason | undefined, runId: string): string {
  return reason === undefined ? 'the run was not validated (--no-validate, or a dry run)' : NOT_VALIDATED_WARNING[reason](runId);
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

function finalizeSection(outcome: FinalizeOutcome): FinalizeSection {
  const { seconds, changed, foreignKey, index, progressCache } = outcome;
  return { seconds, changed, foreignKey, index, progressCache };
}

/** One check per step of finalize: the key unvalidated (orphans) fails the run, like the validation's orphans check. */
function finalizeChecks(outcome: FinalizeOutcome): CheckResult[] {
  const { foreignKey: fk, index, progressCache: cache } = outcome;
  const checks: CheckResult[] = [];
  const fkEvidence = { constraint: fk.constraint, found: fk.found, added: fk.added, validated: fk.validated, orphanRows: fk.orphanRows, seconds: fk.seconds };
  const start = fk.found === 'absent' ? 'added NOT VALID' : fk.found === 'not_valid' ? 'found NOT VALID' : 'present and valid';
  if (fk.valid) {
    checks.push(check('finalize', 'passed', `foreign key ${fk.constraint} kpi_data.kpi_link_id → kpi_links.id: ${start}${fk.validated ? ', no orphan rows, validated in its own transaction' : ''}`, fkEvidence, undefined, 'foreign key'));
  } else {
    const orphans = new DifferenceList(Math.max(1, fk.orphans.length));
    for (const orphan of fk.orphans) {
      orphans.add({ kind: 'orphan_row', table: 'kpi_data', id: orphan.id, message: `kpi_data row ${orphan.id} points to link ${orphan.kpiLinkId}, which kpi_links does not hold` });
    }
    orphans.found = fk.orphanRows ?? fk.orphans.length;
    checks.push(check('finalize', 'failed', `foreign key ${fk.constraint}: ${start}, not validated: ${fk.orphanRows} kpi_data row(s) without their link (nothing deleted; fix them, then kpi-migrate finalize)`, fkEvidence, orphans, 'foreign key'));
  }
  const indexSummary = index.created
    ? `${index.name} on kpi_data (kpi_link_id, post_date) created CONCURRENTLY (${index.droppedInvalid ? 'an invalid one dropped first' : 'it was missing'})`
    : `${index.name} on kpi_data (kpi_link_id, post_date): present and valid`;
  checks.push(check('finalize', 'passed', indexSummary, { ...index }, undefined, 'index'));
  const changes = (t: 'links' | 'goals') => `${cache[t].computed} ${t} (${cache[t].inserted} inserted, ${cache[t].updated} updated, ${cache[t].deleted} deleted)`;
  checks.push(check('finalize', 'passed', `progress cache computed: ${changes('links')}, ${changes('goals')}`, { ...cache }, undefined, 'progress cache'));
  return checks;
}
