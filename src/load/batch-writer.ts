import type { Position } from '../extract/source.js';
import { MigrateError } from '../errors.js';
import type { MigratedEntity } from '../transform/entities.js';
import { MIGRATED_ENTITIES } from '../transform/entities.js';
import { toJsonText, type LegacyItem } from '../transform/legacy-value.js';
import type { Reject } from '../transform/reject.js';
import type { KpiDataRow, KpiLinkRow } from '../transform/rows.js';
import { CopyEncodingError, encodeCopyRows } from './copy-text.js';
import { databaseRefusalOf, refusesRecord, targetFailure, type DatabaseRefusal } from './database-error.js';
import { canonicalUuid, resolveIdConflicts, type ClaimingRecord, type RowHolder } from './id-conflicts.js';
import { positionToJsonb, storableJson } from './jsonb-text.js';
import { insertRejects } from './rejects.js';
import type { SqlClient, SqlSession } from './sql-client.js';
import { KPI_DATA_TABLE, KPI_LINKS_TABLE, tableStatements, type TableStatements, type TargetTable } from './target-table.js';

/** One source record that the transform mapped, and the target rows it yields. */
export interface RecordRows<Row> {
  sourceId: string;
  item: LegacyItem;
  rows: Row[];
}

/** Where a partition of the source stands once this batch is committed. */
export interface CheckpointAdvance {
  partition: string;
  position: Position | null;
  done: boolean;
}

/**
 * One transaction's worth of one entity. `read` counts every item taken from the source for this
 * batch, so read = records + mappingRejects + skipped must hold (checked: the run's accounting
 * depends on it).
 */
export interface BatchInput {
  /** A run id from `startRun`; the run must be `running`. */
  runId: string;
  targetSchema: string;
  entity: MigratedEntity;
  /** For GoalKpiLink. */
  links?: RecordRows<KpiLinkRow>[];
  /** For KpiMilestone, KpiActual, KpiReading. */
  data?: RecordRows<KpiDataRow>[];
  /** Rejects already decided by the transform stage. */
  mappingRejects: Reject[];
  read: number;
  skipped: number;
  personFallbacks: number;
  checkpoints: CheckpointAdvance[];
  /** Do everything and count everything, then roll the transaction back. */
  dryRun?: boolean;
}

/** A reject as the load stage records it: a `db_error` carries the database's SQLSTATE. */
export interface LoadReject extends Reject {
  sqlstate?: string;
}

export interface BatchOutcome {
  inserted: number;
  updated: number;
  /** Rows the batch produced that were already in the target exactly as they are. */
  unchanged: number;
  /** Rows removed because their record no longer produces them (a link it fanned out to is gone). */
  deleted: number;
  /** Records whose rows are in the target. */
  migrated: number;
  /** Rows of the migrated records (inserted + updated + unchanged). */
  rowsOut: number;
  /** Every reject of this batch: the mapping ones first, then id_conflict, then db_error. */
  rejects: LoadReject[];
}

type TargetRow = KpiLinkRow | KpiDataRow;

/** A record ready to load: its rows as COPY text and the row ids they take. */
interface Candidate {
  record: RecordRows<TargetRow>;
  copyText: string;
  rowIds: string[];
}

interface BatchPlan {
  input: BatchInput;
  table: TargetTable;
  sql: TableStatements;
  candidates: Candidate[];
  /** Records refused before reaching the database (text it could not store exactly). */
  encodingRejects: LoadReject[];
}

interface LoadResult {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  migrated: number;
  rowsOut: number;
  rejects: LoadReject[];
}

const NOTHING_LOADED: LoadResult = { inserted: 0, updated: 0, unchanged: 0, deleted: 0, migrated: 0, rowsOut: 0, rejects: [] };

// Batches into one target table are serialised: the id_conflict check reads who holds a row and
// must still be true when the upsert writes it.
const TABLE_LOCK_CLASS = 7312002;

class DryRunRollback extends Error {
  constructor(readonly outcome: BatchOutcome) {
    super('dry run: rolled back');
  }
}

/**
 * Writes one batch and everything that goes with it in ONE transaction: the rows (COPY into a
 * staging table, then a guarded upsert), the old images of updated rows, every reject, the
 * checkpoints the batch advances and the run's counts. Killed at any moment, either all of it
 * is committed or none of it. Per-record problems become rejects; anything else is a MigrateError.
 */
export async function writeBatch(sql: SqlClient, input: BatchInput): Promise<BatchOutcome> {
  const plan = planBatch(input);
  try {
    return await sql.transaction(async (session) => {
      const outcome = await writeInTransaction(session, plan);
      if (input.dryRun) throw new DryRunRollback(outcome);
      return outcome;
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return error.outcome;
    throw targetFailure(error, `writing a ${input.entity} batch of run ${input.runId}`);
  }
}

function planBatch(input: BatchInput): BatchPlan {
  const { entity } = input;
  if (!MIGRATED_ENTITIES.includes(entity)) throw new MigrateError('INTERNAL', `${String(entity)} is not a migrated entity`);
  if (!/^[1-9][0-9]{0,18}$/.test(input.runId)) throw new MigrateError('RUN_NOT_FOUND', `not a run id: ${JSON.stringify(input.runId)}`);
  const isLinks = entity === 'GoalKpiLink';
  const records: RecordRows<TargetRow>[] = (isLinks ? input.links : input.data) ?? [];
  if (((isLinks ? input.data : input.links) ?? []).length > 0) {
    throw new MigrateError('INTERNAL', `a ${entity} batch carries ${isLinks ? 'kpi_data' : 'kpi_links'} rows`);
  }
  for (const count of [input.read, input.skipped, input.personFallbacks]) {
    if (!Number.isSafeInteger(count) || count < 0) throw new MigrateError('INTERNAL', `batch counts must be whole numbers, got ${count}`);
  }
  if (input.read !== records.length + input.mappingRejects.length + input.skipped) {
    throw new MigrateError(
      'INTERNAL',
      `${entity} batch: read ${input.read} ≠ ${records.length} mapped + ${input.mappingRejects.length} rejected + ${input.skipped} skipped`,
    );
  }
  for (const reject of input.mappingRejects) {
    if (reject.sourceEntity !== entity) throw new MigrateError('INTERNAL', `a ${entity} batch carries a ${reject.sourceEntity} reject`);
  }
  const table = isLinks ? KPI_LINKS_TABLE : KPI_DATA_TABLE;
  const candidates: Candidate[] = [];
  const encodingRejects: LoadReject[] = [];
  for (const record of records) {
    for (const row of record.rows) {
      if (row.source_entity !== entity || row.source_id !== record.sourceId) {
        throw new MigrateError(
          'INTERNAL',
          `row ${row.id} says it comes from ${row.source_entity} ${row.source_id}, but its record is ${entity} ${record.sourceId}`,
        );
      }
    }
    try {
      const copyText = encodeCopyRows(record.rows, table.columns);
      candidates.push({ record, copyText, rowIds: record.rows.map((row) => canonicalUuid(row.id) ?? row.id) });
    } catch (error) {
      if (!(error instanceof CopyEncodingError)) throw new MigrateError('INTERNAL', `${entity} ${record.sourceId}: ${String(error)}`, { cause: error });
      encodingRejects.push({
        sourceEntity: entity,
        sourceId: record.sourceId,
        reason: 'db_error',
        message: `not sent to the database: ${error.message}, so it cannot be stored exactly; none of this record's ${record.rows.length} row(s) were loaded`,
        item: record.item,
      });
    }
  }
  return { input, table, sql: tableStatements(input.targetSchema, table), candidates, encodingRejects };
}

async function writeInTransaction(session: SqlSession, plan: BatchPlan): Promise<BatchOutcome> {
  const { input } = plan;
  await assertRunAcceptsBatches(session, input);
  await session.query('select pg_advisory_xact_lock($1, hashtext($2))', [TABLE_LOCK_CLASS, plan.sql.target]);

  const holders = await loadHolders(session, plan);
  const claims: ClaimingRecord[] = plan.candidates.map(({ record, rowIds }) => ({
    sourceEntity: input.entity,
    sourceId: record.sourceId,
    rowIds,
    contentKey: () => toJsonText(record.item),
  }));
  const { winners, losers } = resolveIdConflicts(claims, holders);
  const conflictRejects: LoadReject[] = losers.map((loss) => ({
    sourceEntity: input.entity,
    sourceId: plan.candidates[loss.record]!.record.sourceId,
    reason: 'id_conflict',
    attribute: 'Id',
    message: loss.message,
    item: plan.candidates[loss.record]!.record.item,
  }));

  let loaded = NOTHING_LOADED;
  if (winners.length > 0) {
    await session.query(plan.sql.createStaging);
    loaded = await loadIsolatingRefusals(session, plan, winners.map((index) => plan.candidates[index]!));
  }

  const rejects = [...input.mappingRejects, ...plan.encodingRejects, ...conflictRejects, ...loaded.rejects];
  await insertRejects(session, input.runId, rejects);
  await advanceCheckpoints(session, input);
  const outcome: BatchOutcome = {
    inserted: loaded.inserted,
    updated: loaded.updated,
    unchanged: loaded.unchanged,
    deleted: loaded.deleted,
    migrated: loaded.migrated,
    rowsOut: loaded.rowsOut,
    rejects,
  };
  await addRunCounts(session, input, outcome);
  return outcome;
}

async function assertRunAcceptsBatches(session: SqlSession, input: BatchInput): Promise<void> {
  // FOR SHARE: a concurrent finishRun waits until this batch has committed or rolled back.
  const { rows } = await session.query<{ status: string; target_schema: string }>(
    'select status, target_schema from kpi_migrate.runs where id = $1::bigint for share',
    [input.runId],
  );
  const run = rows[0];
  if (run === undefined) throw new MigrateError('RUN_NOT_FOUND', `run ${input.runId} does not exist`);
  if (run.status !== 'running') throw new MigrateError('RUN_STATE', `run ${input.runId} is ${run.status}: it takes no more batches`);
  if (run.target_schema !== input.targetSchema) {
    throw new MigrateError('RUN_STATE', `run ${input.runId} writes to schema ${run.target_schema}, not ${input.targetSchema}`);
  }
}

async function loadHolders(session: SqlSession, plan: BatchPlan): Promise<Map<string, RowHolder>> {
  const rowIds: string[] = [];
  const sourceIds: string[] = [];
  for (const { record, rowIds: ids } of plan.candidates) {
    // Text cannot hold U+0000: such a record is refused by COPY later, and holds nothing now.
    if (record.sourceId.includes('\u0000')) continue;
    for (const rowId of ids) {
      if (canonicalUuid(rowId) !== rowId) continue;
      rowIds.push(rowId);
      sourceIds.push(record.sourceId);
    }
  }
  const holders = new Map<string, RowHolder>();
  if (rowIds.length === 0) return holders;
  const { rows } = await session.query<{ id: string; source_entity: string; source_id: string; last_run_id: string }>(
    plan.sql.selectHolders,
    [`{${rowIds.join(',')}}`, plan.input.entity, arrayLiteral(sourceIds)],
  );
  for (const row of rows) holders.set(row.id, { sourceEntity: row.source_entity, sourceId: row.source_id, lastRunId: row.last_run_id });
  return holders;
}

/** A text[] literal: every element quoted, so commas, braces, quotes and "NULL" stay text. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * pgloader's way: load the records under a savepoint; when the database refuses them, roll back
 * to it and load each half on its own, down to the single record it refuses. The COPY into
 * staging is inside the savepoint too, since it is where a NUL byte or a malformed value fails.
 */
async function loadIsolatingRefusals(session: SqlSession, plan: BatchPlan, records: Candidate[]): Promise<LoadResult> {
  await session.query('savepoint kpi_migrate_records');
  try {
    const result = await loadRecords(session, plan, records);
    await session.query('release savepoint kpi_migrate_records');
    return result;
  } catch (error) {
    const refusal = databaseRefusalOf(error);
    if (refusal === undefined || !refusesRecord(refusal)) throw error;
    await session.query('rollback to savepoint kpi_migrate_records');
    await session.query('release savepoint kpi_migrate_records');
    if (records.length === 1) return { ...NOTHING_LOADED, rejects: [refusedRecordReject(plan.input.entity, records[0]!.record, refusal)] };
    const middle = Math.ceil(records.length / 2);
    const first = await loadIsolatingRefusals(session, plan, records.slice(0, middle));
    const second = await loadIsolatingRefusals(session, plan, records.slice(middle));
    return {
      inserted: first.inserted + second.inserted,
      updated: first.updated + second.updated,
      unchanged: first.unchanged + second.unchanged,
      deleted: first.deleted + second.deleted,
      migrated: first.migrated + second.migrated,
      rowsOut: first.rowsOut + second.rowsOut,
      rejects: [...first.rejects, ...second.rejects],
    };
  }
}

async function loadRecords(session: SqlSession, plan: BatchPlan, records: Candidate[]): Promise<LoadResult> {
  const rowCount = records.reduce((sum, candidate) => sum + candidate.rowIds.length, 0);
  if (rowCount === 0) return { ...NOTHING_LOADED, migrated: records.length };
  const copied = await session.copyFrom(plan.sql.staging, plan.table.columns, records.map((c) => c.copyText).join(''));
  if (copied !== rowCount) throw new MigrateError('INTERNAL', `COPY into staging took ${copied} rows, ${rowCount} were sent`);
  const runParam = [plan.input.runId];
  const deleted = plan.table.fansOut ? (await session.query(plan.sql.deleteDropped, runParam)).rowCount : 0;
  const { rows } = await session.query<{ inserted: number; updated: number }>(plan.sql.upsert, runParam);
  const { inserted, updated } = rows[0] ?? { inserted: 0, updated: 0 };
  await session.query(plan.sql.clearStaging);
  return { inserted, updated, unchanged: rowCount - inserted - updated, deleted, migrated: records.length, rowsOut: rowCount, rejects: [] };
}

function refusedRecordReject(entity: MigratedEntity, record: RecordRows<TargetRow>, refusal: DatabaseRefusal): LoadReject {
  // COPY's context names the staging table and a line of this batch; only the column means anything here.
  const column = refusal.column ?? /\bcolumn (\w+)/.exec(refusal.where ?? '')?.[1];
  const parts = [
    `PostgreSQL refused this record's rows [${refusal.sqlstate}]: ${refusal.message}`,
    ...(refusal.detail ? [refusal.detail] : []),
    ...(column ? [`column ${column}`] : []),
    `none of its ${record.rows.length} row(s) were loaded`,
  ];
  return {
    sourceEntity: entity,
    sourceId: record.sourceId,
    reason: 'db_error',
    message: parts.join('; '),
    item: record.item,
    sqlstate: refusal.sqlstate,
  };
}

async function advanceCheckpoints(session: SqlSession, input: BatchInput): Promise<void> {
  const latest = new Map<string, CheckpointAdvance>();
  for (const checkpoint of input.checkpoints) latest.set(checkpoint.partition, checkpoint);
  if (latest.size === 0) return;
  const entries = [...latest.values()].map((checkpoint) => {
    let position: string;
    try {
      position = positionToJsonb(checkpoint.position);
    } catch (error) {
      throw new MigrateError('INTERNAL', `checkpoint of ${input.entity} partition ${checkpoint.partition} is not JSON: ${String(error)}`, {
        cause: error,
      });
    }
    return `{"partition":${storableJson(checkpoint.partition)},"position":${position},"done":${checkpoint.done === true}}`;
  });
  await session.query(
    `insert into kpi_migrate.checkpoints (run_id, entity, partition, position, done, updated_at)
     select $1::bigint, $2, c.partition, c.position, c.done, now()
     from jsonb_to_recordset($3::jsonb) as c(partition text, position jsonb, done boolean)
     on conflict (run_id, entity, partition) do update
       set position = excluded.position, done = excluded.done, updated_at = excluded.updated_at`,
    [input.runId, input.entity, `[${entries.join(',')}]`],
  );
}

async function addRunCounts(session: SqlSession, input: BatchInput, outcome: BatchOutcome): Promise<void> {
  await session.query(
    `insert into kpi_migrate.run_counts as c (run_id, entity, read, migrated, rejected, skipped, rows_out,
       inserted, updated, unchanged, deleted, person_fallbacks)
     values ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     on conflict (run_id, entity) do update set
       read = c.read + excluded.read, migrated = c.migrated + excluded.migrated,
       rejected = c.rejected + excluded.rejected, skipped = c.skipped + excluded.skipped,
       rows_out = c.rows_out + excluded.rows_out, inserted = c.inserted + excluded.inserted,
       updated = c.updated + excluded.updated, unchanged = c.unchanged + excluded.unchanged,
       deleted = c.deleted + excluded.deleted, person_fallbacks = c.person_fallbacks + excluded.person_fallbacks`,
    [
      input.runId,
      input.entity,
      input.read,
      outcome.migrated,
      outcome.rejects.length,
      input.skipped,
      outcome.rowsOut,
      outcome.inserted,
      outcome.updated,
      outcome.unchanged,
      outcome.deleted,
      input.personFallbacks,
    ],
  );
}
