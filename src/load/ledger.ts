import type { ResumeState } from '../model/source.js';
import { MigrateError } from '../errors.js';
import { LEGACY_ENTITIES, type LegacyEntity } from '../model/entities.js';
import type { Reject, RejectReason } from '../model/reject.js';
import { targetFailure } from '../db/database-error.js';
import { positionFromJsonb, storableJson } from './jsonb-text.js';
import { insertRejects } from './rejects.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';

/**
 * Run ids are PostgreSQL bigints, handled as decimal strings everywhere (a JS number would be
 * exact only up to 2^53, and the id goes straight back into SQL).
 */
export type RunId = string;

export type RunStatus = 'running' | 'completed' | 'failed' | 'rolled_back';

export interface RunStart {
  environment: string;
  sourceKind: string;
  targetSchema: string;
  /** What the operator asked for (no secrets): stored as jsonb. */
  options: Record<string, unknown>;
  codeVersion: string;
  configHash: string;
  dryRun: boolean;
}

export interface RunRecord {
  id: RunId;
  /** The operator's name for a run that workers share (`run --worker K/N --run LABEL`), else null. */
  label: string | null;
  environment: string;
  sourceKind: string;
  targetSchema: string;
  options: Record<string, unknown>;
  codeVersion: string;
  configHash: string;
  status: RunStatus;
  dryRun: boolean;
  /** ISO-8601 UTC with microseconds, as PostgreSQL recorded it. */
  startedAt: string;
  finishedAt: string | null;
  error: unknown;
}

/** One entity's accounting in a run: read = migrated + rejected + skipped once the run is done. */
export interface EntityRunCounts {
  read: number;
  migrated: number;
  rejected: number;
  skipped: number;
  rowsOut: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  personFallbacks: number;
  rejectsByReason: Partial<Record<RejectReason, number>>;
}

export interface RunCounts {
  runId: RunId;
  entities: Partial<Record<LegacyEntity, EntityRunCounts>>;
}

const RUN_ID = /^[1-9][0-9]{0,18}$/;

function assertRunId(runId: string): void {
  if (!RUN_ID.test(runId)) throw new MigrateError('RUN_NOT_FOUND', `not a run id: ${JSON.stringify(runId)}`);
}

async function ledgerQuery<Row>(sql: SqlSession, doing: string, text: string, params: readonly unknown[]): Promise<Row[]> {
  try {
    return (await sql.query<Row>(text, params)).rows;
  } catch (error) {
    throw targetFailure(error, doing);
  }
}

const UTC_TEXT = (column: string): string => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const RUN_COLUMNS = `id::text as id, label, environment, source_kind, target_schema, options::text as options, code_version,
  config_hash, status, dry_run, ${UTC_TEXT('started_at')} as started_at, ${UTC_TEXT('finished_at')} as finished_at,
  error::text as error`;

interface RunRow {
  id: string;
  label: string | null;
  environment: string;
  source_kind: string;
  target_schema: string;
  options: string;
  code_version: string;
  config_hash: string;
  status: RunStatus;
  dry_run: boolean;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

function runOf(row: RunRow): RunRecord {
  return {
    id: row.id,
    label: row.label,
    environment: row.environment,
    sourceKind: row.source_kind,
    targetSchema: row.target_schema,
    options: JSON.parse(row.options) as Record<string, unknown>,
    codeVersion: row.code_version,
    configHash: row.config_hash,
    status: row.status,
    dryRun: row.dry_run,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error === null ? null : (JSON.parse(row.error) as unknown),
  };
}

/** Records a new run as `running` and returns its id. */
export async function startRun(sql: SqlSession, start: RunStart): Promise<RunId> {
  const rows = await ledgerQuery<{ id: string }>(
    sql,
    'starting a run',
    `insert into kpi_migrate.runs (environment, source_kind, target_schema, options, code_version, config_hash, dry_run)
     values ($1, $2, $3, $4::jsonb, $5, $6, $7) returning id::text as id`,
    [start.environment, start.sourceKind, start.targetSchema, storableJson(start.options), start.codeVersion, start.configHash, start.dryRun],
  );
  return rows[0]!.id;
}

/** A run as an operator names it: by its id, or by the label it was created under. */
export type RunReference = { id: RunId } | { label: string };

// Starting with a letter keeps a label from ever reading as a run id.
const RUN_LABEL = /^[A-Za-z][A-Za-z0-9._-]{0,62}$/;

/** Digits are a run id; anything else must be a label: a letter, then up to 62 letters, digits, `.`, `_` or `-`. */
export function parseRunReference(text: string): RunReference {
  if (RUN_ID.test(text)) return { id: text };
  if (RUN_LABEL.test(text)) return { label: text };
  throw new MigrateError(
    'USAGE',
    `not a run id or label: ${JSON.stringify(text)} (an id is digits; a label starts with a letter, then up to 62 letters, digits, '.', '_' or '-')`,
  );
}

/**
 * The id of the run that `text` names: digits are taken as an id (whether that run exists is for
 * the caller to find), a label is looked up. RUN_NOT_FOUND when no run carries the label.
 */
export async function resolveRunId(sql: SqlSession, text: string): Promise<RunId> {
  const reference = parseRunReference(text);
  if ('id' in reference) return reference.id;
  const rows = await ledgerQuery<{ id: string }>(sql, `looking up run ${reference.label}`, 'select id::text as id from kpi_migrate.runs where label = $1', [reference.label]);
  if (rows[0] === undefined) throw new MigrateError('RUN_NOT_FOUND', `no run is labelled ${reference.label}`);
  return rows[0].id;
}

/**
 * The run labelled `label`, recorded as `running` if no run carries that label yet. Any number of
 * callers at once get one run: the label is unique, so all but the first insert do nothing.
 */
export async function startOrFindLabelledRun(sql: SqlSession, label: string, start: RunStart): Promise<{ run: RunRecord; created: boolean }> {
  if (!RUN_LABEL.test(label)) throw new MigrateError('USAGE', `not a run label: ${JSON.stringify(label)}`);
  const inserted = await ledgerQuery<RunRow>(
    sql,
    `starting run ${label}`,
    `insert into kpi_migrate.runs (label, environment, source_kind, target_schema, options, code_version, config_hash, dry_run)
     values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) on conflict (label) do nothing returning ${RUN_COLUMNS}`,
    [label, start.environment, start.sourceKind, start.targetSchema, storableJson(start.options), start.codeVersion, start.configHash, start.dryRun],
  );
  if (inserted[0] !== undefined) return { run: runOf(inserted[0]), created: true };
  // The conflicting insert has committed by now (the unique index made this one wait for it).
  const found = await ledgerQuery<RunRow>(sql, `reading run ${label}`, `select ${RUN_COLUMNS} from kpi_migrate.runs where label = $1`, [label]);
  if (found[0] === undefined) throw new MigrateError('INTERNAL', `run ${label} was neither created nor found`);
  return { run: runOf(found[0]), created: false };
}

/** The run with this id, or undefined (also for a string that cannot be a run id). */
export async function findRun(sql: SqlSession, runId: RunId): Promise<RunRecord | undefined> {
  if (!RUN_ID.test(runId)) return undefined;
  const rows = await ledgerQuery<RunRow>(sql, `reading run ${runId}`, `select ${RUN_COLUMNS} from kpi_migrate.runs where id = $1::bigint`, [runId]);
  return rows[0] === undefined ? undefined : runOf(rows[0]);
}

/**
 * The newest run (of this environment, when given) if it did not finish: `running` (killed, or
 * still going) or `failed`. A run that a newer run superseded is not offered for resuming.
 */
export async function lastUnfinishedRun(sql: SqlSession, filter: { environment?: string } = {}): Promise<RunRecord | undefined> {
  const rows = await ledgerQuery<RunRow>(
    sql,
    'looking for an unfinished run',
    // runs.id, not id: that would be the text column of RUN_COLUMNS, and '9' sorts after '10'.
    // A sync's own run (sync_of) is no migration to resume: the same sync command continues it.
    `select ${RUN_COLUMNS} from kpi_migrate.runs where ($1::text is null or environment = $1) and sync_of is null order by runs.id desc limit 1`,
    [filter.environment ?? null],
  );
  const newest = rows[0];
  return newest !== undefined && (newest.status === 'running' || newest.status === 'failed') ? runOf(newest) : undefined;
}

// Which status a run may move to, from which.
const FINISH_FROM: Record<Exclude<RunStatus, 'running'>, readonly RunStatus[]> = {
  completed: ['running'],
  failed: ['running'],
  rolled_back: ['running', 'completed', 'failed'],
};

/**
 * Ends a run: `completed` or `failed` (from `running`), or `rolled_back` (from any state but
 * rolled_back). The error (a MigrateError, any Error, or a plain object) is stored as jsonb.
 */
export async function finishRun(sql: SqlSession, runId: RunId, status: Exclude<RunStatus, 'running'>, error?: unknown): Promise<void> {
  assertRunId(runId);
  const allowedFrom = FINISH_FROM[status];
  if (allowedFrom === undefined) throw new MigrateError('INTERNAL', `a run cannot be finished as ${String(status)}`);
  const rows = await ledgerQuery<{ id: string }>(
    sql,
    `finishing run ${runId}`,
    `update kpi_migrate.runs set status = $2, finished_at = now(), error = $3::jsonb
     where id = $1::bigint and status = any($4::text[]) returning id::text as id`,
    [runId, status, error === undefined ? null : storableJson(describeError(error)), `{${allowedFrom.join(',')}}`],
  );
  // Finishing follows the checks a command makes first: a run in another state by now was changed by another process.
  if (rows.length === 0) await refuseTransition(sql, runId, `be marked ${status}`, 'RUN_CHANGED');
}

/** Makes a `running` or `failed` run `running` again, to continue it from its checkpoints. */
export async function resumeRun(sql: SqlSession, runId: RunId): Promise<RunRecord> {
  assertRunId(runId);
  const rows = await ledgerQuery<RunRow>(
    sql,
    `resuming run ${runId}`,
    `update kpi_migrate.runs set status = 'running', finished_at = null, error = null
     where id = $1::bigint and status in ('running', 'failed') returning ${RUN_COLUMNS}`,
    [runId],
  );
  if (rows[0] === undefined) return refuseTransition(sql, runId, 'be resumed');
  return runOf(rows[0]);
}

async function refuseTransition(sql: SqlSession, runId: RunId, what: string, changed?: 'RUN_CHANGED'): Promise<never> {
  const run = await findRun(sql, runId);
  if (run === undefined) throw new MigrateError(changed ?? 'RUN_NOT_FOUND', `run ${runId} does not exist`);
  throw new MigrateError(changed ?? 'RUN_STATE', `run ${runId} is ${run.status}: it cannot ${what}`);
}

function describeError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return error;
  const fields = error as Error & { code?: unknown; details?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(fields.code !== undefined ? { code: fields.code } : {}),
    ...(fields.details !== undefined && Object.keys(fields.details as object).length > 0 ? { details: fields.details } : {}),
    ...(error.cause !== undefined && depth < 4 ? { cause: describeError(error.cause, depth + 1) } : {}),
  };
}

/** Where each partition of an entity stopped in this run: the `from` of `LegacySource.readTable`. */
export async function loadCheckpoints(sql: SqlSession, runId: RunId, entity: LegacyEntity): Promise<ResumeState> {
  assertRunId(runId);
  const rows = await ledgerQuery<{ partition: string; position: string | null; done: boolean }>(
    sql,
    `reading the checkpoints of run ${runId}`,
    `select partition, position::text as position, done from kpi_migrate.checkpoints
     where run_id = $1::bigint and entity = $2 order by partition`,
    [runId, entity],
  );
  const state: ResumeState = {};
  for (const row of rows) state[row.partition] = { position: positionFromJsonb(row.position), done: row.done };
  return state;
}

const COUNT_COLUMNS = [
  ['read', 'read'],
  ['migrated', 'migrated'],
  ['rejected', 'rejected'],
  ['skipped', 'skipped'],
  ['rows_out', 'rowsOut'],
  ['inserted', 'inserted'],
  ['updated', 'updated'],
  ['unchanged', 'unchanged'],
  ['deleted', 'deleted'],
  ['person_fallbacks', 'personFallbacks'],
] as const;

/** The run's accounting per entity, with its rejects counted by reason from kpi_migrate.rejects. */
export async function runCounts(sql: SqlSession, runId: RunId): Promise<RunCounts> {
  if ((await findRun(sql, runId)) === undefined) throw new MigrateError('RUN_NOT_FOUND', `run ${runId} does not exist`);
  const counts = await ledgerQuery<Record<string, string>>(
    sql,
    `reading the counts of run ${runId}`,
    `select entity, ${COUNT_COLUMNS.map(([column]) => `${column}::text`).join(', ')} from kpi_migrate.run_counts where run_id = $1::bigint`,
    [runId],
  );
  const byReason = await ledgerQuery<{ source_entity: string; reason: RejectReason; n: string }>(
    sql,
    `counting the rejects of run ${runId}`,
    `select source_entity, reason, count(*)::text as n from kpi_migrate.rejects where run_id = $1::bigint group by 1, 2`,
    [runId],
  );
  const found = new Map<string, EntityRunCounts>();
  const entityCounts = (entity: string): EntityRunCounts => {
    let entry = found.get(entity);
    if (entry === undefined) {
      entry = { read: 0, migrated: 0, rejected: 0, skipped: 0, rowsOut: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0, personFallbacks: 0, rejectsByReason: {} };
      found.set(entity, entry);
    }
    return entry;
  };
  for (const row of counts) {
    const entry = entityCounts(row.entity!);
    for (const [column, field] of COUNT_COLUMNS) entry[field] = Number(row[column]);
  }
  for (const row of byReason) entityCounts(row.source_entity).rejectsByReason[row.reason] = Number(row.n);
  const entities: RunCounts['entities'] = {};
  for (const entity of LEGACY_ENTITIES) {
    const entry = found.get(entity);
    if (entry !== undefined) entities[entity] = entry;
  }
  return { runId, entities };
}

/**
 * The outcome of reading a lookup table (KPIs, people) in this run: its counts and rejects.
 * Lookups are read again whenever a run resumes, so this replaces what an earlier attempt of the
 * same run recorded instead of adding to it.
 */
export async function recordLookupOutcome(
  sql: SqlClient,
  runId: RunId,
  entity: 'Kpi' | 'Person',
  outcome: { read: number; used: number; rejects: readonly Reject[] },
): Promise<void> {
  assertRunId(runId);
  if (outcome.read !== outcome.used + outcome.rejects.length) {
    throw new MigrateError('INTERNAL', `${entity}: read ${outcome.read} ≠ used ${outcome.used} + rejected ${outcome.rejects.length}`);
  }
  const stray = outcome.rejects.find((reject) => reject.sourceEntity !== entity);
  if (stray !== undefined) throw new MigrateError('INTERNAL', `the ${entity} lookup carries a ${stray.sourceEntity} reject`);
  try {
    await sql.transaction(async (tx) => {
      await tx.query('delete from kpi_migrate.rejects where run_id = $1::bigint and source_entity = $2', [runId, entity]);
      await insertRejects(tx, runId, outcome.rejects);
      await tx.query(
        `insert into kpi_migrate.run_counts (run_id, entity, read, migrated, rejected)
         values ($1::bigint, $2, $3, $4, $5)
         on conflict (run_id, entity) do update set read = excluded.read, migrated = excluded.migrated, rejected = excluded.rejected`,
        [runId, entity, outcome.read, outcome.used, outcome.rejects.length],
      );
    });
  } catch (error) {
    throw targetFailure(error, `recording the ${entity} lookup of run ${runId}`);
  }
}
