import { MigrateError } from '../errors.js';
import { applyMigrations } from '../load/migrate.js';
import { findRun, startOrFindLabelledRun, type RunRecord, type RunReference, type RunStart } from '../load/ledger.js';
import type { SqlClient } from '../load/sql-client.js';

export interface SharedRunRequest {
  reference: RunReference;
  worker: { index: number; count: number };
  /** The run as this worker would record it, if it is the first to arrive under a label. */
  start: RunStart;
}

/**
 * The run worker K of N joins: an existing run by id, or the run under a label, which the first
 * worker to arrive creates (a pod restarted with the same arguments finds it again). Refused when
 * this worker would read or write something other than the run's other workers do.
 */
export async function joinSharedRun(sql: SqlClient, request: SharedRunRequest): Promise<RunRecord> {
  await applyMigrations(sql, request.start.targetSchema);
  const { reference } = request;
  let run: RunRecord | undefined;
  if ('label' in reference) run = (await startOrFindLabelledRun(sql, reference.label, request.start)).run;
  else run = await findRun(sql, reference.id);
  if (run === undefined) throw new MigrateError('RUN_NOT_FOUND', `run ${'id' in reference ? reference.id : reference.label} does not exist`);
  const differences = differencesFrom(run, request);
  if (differences.length > 0) {
    throw new MigrateError(
      'RUN_STATE',
      `worker ${request.worker.index}/${request.worker.count} cannot join run ${describeRun(run)}: every worker of a run needs the same configuration, and this one differs:\n  ${differences.join('\n  ')}`,
      { details: { differences } },
    );
  }
  if (run.status === 'rolled_back') {
    throw new MigrateError('RUN_STATE', `run ${describeRun(run)} was rolled back: start the migration again under a new label`);
  }
  return run;
}

export function describeRun(run: RunRecord): string {
  return run.label === null ? run.id : `${run.id} (${run.label})`;
}

// How fast one process reads does not change what the run reads or writes.
const PER_PROCESS_SOURCE_SETTINGS = ['pageLimit', 'maxReadUnits'];

/** What would make this worker's share read, map or count differently from the run's. */
function differencesFrom(run: RunRecord, request: SharedRunRequest): string[] {
  const { start, worker } = request;
  const differences: string[] = [];
  const compare = (what: string, recorded: unknown, given: unknown) => {
    if (canonicalJson(recorded) !== canonicalJson(given)) differences.push(`${what}: the run has ${canonicalJson(recorded)}, this worker ${canonicalJson(given)}`);
  };
  compare('source kind', run.sourceKind, start.sourceKind);
  compare('environment', run.environment, start.environment);
  compare('target schema', run.targetSchema, start.targetSchema);
  compare('source', withoutPerProcessSettings(run.options.source), withoutPerProcessSettings(start.options.source));
  compare('tenant', run.options.tenant ?? null, start.options.tenant ?? null);
  // A converge run's sweep removes what no worker produced: every worker must write as one.
  compare('--converge', run.options.converge === true, start.options.converge === true);
  // Runs made by prepareRun() do not say how many workers share them.
  if (typeof run.options.workers === 'number') compare('worker count (N of --worker K/N)', run.options.workers, worker.count);
  if (run.dryRun) differences.push('the run is a dry run, which records no checkpoints for workers to share');
  return differences;
}

function withoutPerProcessSettings(source: unknown): unknown {
  if (typeof source !== 'object' || source === null) return source;
  return Object.fromEntries(Object.entries(source).filter(([key]) => !PER_PROCESS_SOURCE_SETTINGS.includes(key)));
}

/** JSON with object keys sorted: jsonb hands the run's options back in an order of its own. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, nested: unknown) =>
    typeof nested === 'object' && nested !== null && !Array.isArray(nested)
      ? Object.fromEntries(Object.entries(nested).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : nested,
  );
}
