import type { Position } from '../model/source.js';
import { MigrateError } from '../errors.js';
import type { MigratedEntity } from '../model/entities.js';
import { MIGRATED_ENTITIES } from '../model/entities.js';
import { toJsonText, type LegacyItem } from '../model/legacy-value.js';
import type { Reject } from '../model/reject.js';
import type { KpiDataRow, KpiLinkRow } from '../model/rows.js';
import { databaseRefusalOf, refusesRecord, targetFailure, type DatabaseRefusal } from '../db/database-error.js';
import { resolveIdConflicts, type ClaimingRecord, type IdConflictLoss, type RowHolder } from './id-conflicts.js';
import { positionToJsonb, storableJson } from './jsonb-text.js';
import { insertRejects } from './rejects.js';
import { refusableUnderSavepoint } from './savepoint.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { KPI_DATA_TABLE, KPI_LINKS_TABLE, tableStatements, type TableStatements, type TargetTable } from './target-table.js';
import { readRecordedLayout } from './target-ownership.js';
import { prepareRecord, type LoadReject, type PreparedBatch, type RecordRows, type TargetRow } from './prepare-record.js';
import type { SessionWrites, TableWrites } from './session-writes.js';
import { takeWriteGeneration } from './target-writes.js';
import {
  claimsOf,
  claimsOfRecords,
  contestedRecords,
  copyDataOf,
  encodeRecords,
  isSuspect,
  recordCount,
  rowIdsLiteralOf,
  rowIdsOf,
  rowsOf,
  sourceIdOf,
  sourceIdsLiteralOf,
  type EncodedRecords,
} from './encoded-records.js';

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
  /** Instead of `links` or `data`: records already encoded by `prepareRecord` (in another thread, say). */
  prepared?: PreparedBatch;
  /** Rejects already decided by the transform stage. */
  mappingRejects: Reject[];
  read: number;
  skipped: number;
  personFallbacks: number;
  checkpoints: CheckpointAdvance[];
  /** Do everything and count everything, then roll the transaction back. */
  dryRun?: boolean;
  /**
   * A converge run (`run --converge`): the rows the batch loads are recorded in
   * kpi_migrate.run_rows for the run's closing sweep, which alone deletes (so deleteDropped does
   * not run here); a row held by a record this run has not produced is stale and is taken over.
   */
  converge?: boolean;
  /** A converge run scoped to this tenant: another tenant's rows are never stale to it. */
  tenant?: string;
  /**
   * The records' rows are likely in the target already (the previous batch's were: a re-run):
   * staged and checked in the statement that writes them, not probed first. Only how long the
   * batch takes depends on it, never what it writes.
   */
  rowsLikelyHeld?: boolean;
  /**
   * What this session of the run has written so far (one object for all its batches): in a table
   * that held no row of the tool when the session began writing there, only the records it may
   * have written before are probed for holders. Like rowsLikelyHeld, it changes only how long a
   * batch takes, never what it writes. Not used by a converge run.
   */
  sessionWrites?: SessionWrites;
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

interface BatchPlan {
  input: BatchInput;
  table: TargetTable;
  sql: TableStatements;
  /** The records that reached the writer; the steps below name them by index. */
  candidates: EncodedRecords;
  /** Records refused before reaching the database (text it could not store exactly). */
  encodingRejects: LoadReject[];
}

/** One batch's transaction as the loading steps share it; the staging table is made on first use. */
interface LoadContext {
  session: SqlSession;
  plan: BatchPlan;
  staged: boolean;
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

/**
 * Batches into one target table are serialised by the transaction-scoped advisory lock
 * (TABLE_LOCK_CLASS, hashtext(table)): the id_conflict check reads who holds a row and must still
 * be true when the upsert writes it.
 */
export const TABLE_LOCK_CLASS = 7312002;

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
  const writes = input.sessionWrites?.table(plan.sql.target);
  try {
    const outcome = await sql.transaction(async (session) => {
      const outcome = await writeInTransaction(session, plan, writes);
      if (input.dryRun) throw new DryRunRollback(outcome);
      return outcome;
    });
    writes?.end(true);
    return outcome;
  } catch (error) {
    writes?.end(false);
    if (error instanceof DryRunRollback) return error.outcome;
    throw targetFailure(error, `writing a ${input.entity} batch of run ${input.runId}`);
  }
}

function planBatch(input: BatchInput): BatchPlan {
  const { entity } = input;
  if (!MIGRATED_ENTITIES.includes(entity)) throw new MigrateError('INTERNAL', `${String(entity)} is not a migrated entity`);
  if (!/^[1-9][0-9]{0,18}$/.test(input.runId)) throw new MigrateError('INTERNAL', `not a run id: ${JSON.stringify(input.runId)}`);
  const isLinks = entity === 'GoalKpiLink';
  const records: RecordRows<TargetRow>[] = (isLinks ? input.links : input.data) ?? [];
  if (((isLinks ? input.data : input.links) ?? []).length > 0) {
    throw new MigrateError('INTERNAL', `a ${entity} batch carries ${isLinks ? 'kpi_data' : 'kpi_links'} rows`);
  }
  if (input.prepared !== undefined && records.length > 0) throw new MigrateError('INTERNAL', `a ${entity} batch carries both rows and prepared records`);
  for (const count of [input.read, input.skipped, input.personFallbacks]) {
    if (!Number.isSafeInteger(count) || count < 0) throw new MigrateError('INTERNAL', `batch counts must be whole numbers, got ${count}`);
  }
  const table = isLinks ? KPI_LINKS_TABLE : KPI_DATA_TABLE;
  let prepared = input.prepared;
  if (prepared !== undefined && prepared.runId !== input.runId) {
    throw new MigrateError('INTERNAL', `${entity} batch of run ${input.runId} was prepared for run ${prepared.runId}`);
  }
  if (prepared === undefined) {
    prepared = { runId: input.runId, records: [], encodingRejects: [] };
    for (const record of records) {
      const outcome = prepareRecord(entity, record, input.runId);
      if (outcome.ok) prepared.records.push(outcome.record);
      else prepared.encodingRejects.push(outcome.reject);
    }
  }
  const { encodingRejects } = prepared;
  const candidates = prepared.encoded ?? encodedHere(prepared);
  const mapped = recordCount(candidates) + encodingRejects.length;
  if (input.read !== mapped + input.mappingRejects.length + input.skipped) {
    throw new MigrateError(
      'INTERNAL',
      `${entity} batch: read ${input.read} ≠ ${mapped} mapped + ${input.mappingRejects.length} rejected + ${input.skipped} skipped`,
    );
  }
  for (const reject of [...input.mappingRejects, ...encodingRejects]) {
    if (reject.sourceEntity !== entity) throw new MigrateError('INTERNAL', `a ${entity} batch carries a ${reject.sourceEntity} reject`);
  }
  return { input, table, sql: tableStatements(input.targetSchema, table), candidates, encodingRejects };
}

/** Records prepared in this thread, encoded here as another thread would have sent them. */
function encodedHere({ records }: PreparedBatch): EncodedRecords {
  return { ...encodeRecords(records), item: (index) => records[index]!.item() };
}

/** `sessionTable`: what the batch's session has written into the batch's table (SessionWrites.table), if it keeps that. */
async function writeInTransaction(session: SqlSession, planned: BatchPlan, sessionTable: TableWrites | undefined): Promise<BatchOutcome> {
  const { input } = planned;
  // The batch's COMMIT does not wait for its WAL to reach the disk. It is as atomic and as visible
  // as ever; only a crash of the server (not of this process) within a moment of it loses it,
  // whole and with the checkpoints it advanced, and a resumed run reads those records again. The
  // run's end is committed the default way, which flushes every batch before it, so a run that
  // says it is done is on disk. The 94 COMMITs of a first run of the bench's data took 0.2 to
  // 1.1 s in all (as the disk flushed), each while the next batch waited.
  await session.query('set local synchronous_commit = off');
  await assertRunAcceptsBatches(session, input);
  await session.query('select pg_advisory_xact_lock($1, hashtext($2))', [TABLE_LOCK_CLASS, planned.sql.target]);
  const generation = await takeWriteGeneration(session, planned.table);
  // The application's table keeps the tool's provenance beside its rows: other statements.
  const layout = (await readRecordedLayout(session, input.targetSchema))[planned.table.name];
  const plan = layout.owner === 'tool' ? planned : { ...planned, sql: tableStatements(input.targetSchema, planned.table, layout) };

  const context: LoadContext = { session, plan, staged: false };
  const writes = await tableWritesOf(session, plan, sessionTable);
  // After tableWritesOf: a session's first batch in the table asks what it holds under this generation.
  const alone = sessionTable?.begin(generation) ?? false;
  const { conflictRejects, loaded } =
    (input.rowsLikelyHeld === true && input.converge !== true ? await writeStagedFirst(context) : undefined) ??
    (writes?.state === 'predicted' ? await writtenAsPredicted(context, writes, alone) : undefined) ??
    (await writeProbedFirst(context));
  if (writes?.state === 'predicted') writes.add(plan.candidates, input.entity);

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

/** What a batch's records came to: those that lost a row to another record, and what the others loaded. */
interface Written {
  conflictRejects: LoadReject[];
  loaded: LoadResult;
}

/**
 * The session's prediction for the batch's table (SessionWrites), made at the session's first
 * batch there, under the table's lock: whether the table holds any row of the tool. Undefined
 * where nothing is predicted (no SessionWrites, a converge run, the application's table).
 */
async function tableWritesOf(session: SqlSession, plan: BatchPlan, writes: TableWrites | undefined): Promise<TableWrites | undefined> {
  if (writes === undefined || plan.input.converge === true || !plan.sql.copiesIntoTarget) return undefined;
  if (writes.state === 'unknown') {
    const { rows } = await session.query<{ held: boolean }>(plan.sql.holdsToolRows);
    writes.state = rows[0]?.held === false ? 'predicted' : 'probed';
  }
  return writes;
}

/**
 * A batch of a table whose every row of the tool the session knows (SessionWrites): only the
 * records the session may have written before, and those holding U+0000 (loaded apart), are
 * probed for holders; the others COPY straight into the target, where the primary key proves that
 * no one (the application, another process) holds their rows. Undefined, with nothing left
 * behind, when that does not hold: a record that holds rows already, one with rows under other
 * ids, or any refusal of the COPY. The probed way then decides the batch, and words its rejects.
 *
 * `alone`: no other writer of the tool has written the table since the session began there
 * (TableWrites.begin), so only the records the session may have written can have rows under other
 * ids; otherwise every record is asked.
 */
async function writtenAsPredicted(context: LoadContext, writes: TableWrites, alone: boolean): Promise<Written | undefined> {
  const { session, plan } = context;
  const { candidates, input } = plan;
  const probed: number[] = [];
  const seen = new Set<number>();
  for (let index = 0; index < recordCount(candidates); index++) {
    if (writes.mayHaveSeen(candidates, index, input.entity)) seen.add(index);
    if (isSuspect(candidates, index) || seen.has(index)) probed.push(index);
  }
  const stagedBefore = context.staged;
  await session.query('savepoint kpi_migrate_predicted');
  const attempt = await writeWithProbed(context, probed, (winners) => {
    const asked = alone ? winners.filter((index) => seen.has(index)) : winners;
    writes.figures.askedForOtherRows += asked.length;
    return asked;
  });
  if ('refused' in attempt) {
    await session.query('rollback to savepoint kpi_migrate_predicted');
    await session.query('release savepoint kpi_migrate_predicted');
    // Made under the savepoint, the staging table went with it.
    context.staged = stagedBefore;
    writes.figures.fellBack += 1;
    // A row id held by something the session did not write: its knowledge of the table is gone.
    if (attempt.refused?.sqlstate === UNIQUE_VIOLATION) writes.state = 'probed';
    return undefined;
  }
  await session.query('release savepoint kpi_migrate_predicted');
  writes.figures.predictedBatches += 1;
  writes.figures.probedRecords += probed.length;
  return attempt;
}

const UNIQUE_VIOLATION = '23505';

/**
 * writtenAsPredicted's work: the batch's rows, only `probed` having been probed for holders, and
 * only the winners `mayHaveOtherRows` keeps asked for rows under other ids; `refused` when it does not hold.
 */
async function writeWithProbed(
  context: LoadContext,
  probed: readonly number[],
  mayHaveOtherRows: (winners: readonly number[]) => readonly number[],
): Promise<Written | Refused> {
  const { session, plan } = context;
  const { holders, ownRows } = await loadHolders(session, plan, probed);
  if (ownRows > 0) return { refused: undefined };
  const { winners, losers, items } = await claimRows(plan, holders);
  let loaded = NOTHING_LOADED;
  if (winners.length > 0) {
    if (plan.table.fansOut && (await sourcesHaveRows(session, plan, mayHaveOtherRows(winners)))) return { refused: undefined };
    const attempt = await loadSuspectsApart(context, winners, (rest) => copyFreshRecords(context, rest));
    if ('refused' in attempt) return attempt;
    loaded = attempt;
  }
  return { conflictRejects: conflictRejectsOf(plan, losers, await items), loaded };
}

/** A load that did not go as presumed: the database's refusal, when it refused. */
interface Refused {
  refused: DatabaseRefusal | undefined;
}

/**
 * The batch's row ids probed for their holders first; the records that may have them loaded
 * straight into the target when none of their rows is there yet (a first run), else through staging.
 */
async function writeProbedFirst(context: LoadContext): Promise<Written> {
  const { session, plan } = context;
  const { input } = plan;
  const { holders: found, ownRows } = await loadHolders(session, plan);
  // A fresh run would not know a row of a record that this run has not produced (yet): in a
  // converge run, only the run's own rows and the application's defend their ids.
  const stale = input.converge ? await staleHolders(session, plan, found) : new Set<string>();
  const holders = stale.size === 0 ? found : new Map([...found].filter(([rowId]) => !stale.has(rowId)));
  const { winners, losers, items } = await claimRows(plan, holders);

  let loaded = NOTHING_LOADED;
  if (winners.length > 0) {
    // Nothing of these records is in the target yet (a first run): their rows can go straight into
    // it, as the database's own fastest path; any refusal falls back to staging and isolation.
    const fresh = plan.sql.copiesIntoTarget && ownRows === 0 && stale.size === 0 && !(plan.table.fansOut && (await sourcesHaveRows(session, plan, winners)));
    loaded = await loadSuspectsApart(context, winners, fresh ? (rest) => copyFreshElseIsolate(context, rest) : (rest) => loadIsolatingRefusals(context, rest));
    if (input.converge) await recordRunRows(session, plan, winners, loaded.rejects);
  }
  return { conflictRejects: conflictRejectsOf(plan, losers, await items), loaded };
}

/**
 * A batch whose records' rows are mostly in the target already (a re-run): every record staged
 * first (but those holding U+0000, loaded apart after), then probed for holders, compared and
 * written by one statement, rather than probed by one, staged and then written by two more.
 * Undefined, with nothing left behind, when the batch has records whose fate depends on each
 * other's (twins, or a row two records produce: then a record's loss frees a row for another) or
 * the database refuses a record: the probe-first way decides and isolates those.
 */
async function writeStagedFirst(context: LoadContext): Promise<Written | undefined> {
  const { session, plan } = context;
  const { candidates } = plan;
  if (contestedRecords(candidates, NO_HOLDERS).size > 0) return undefined;
  const all = [...Array(recordCount(candidates)).keys()];
  let suspects = Object.keys(candidates.suspectTexts).length === 0 ? [] : all.filter((index) => isSuspect(candidates, index));
  let staged = suspects.length === 0 ? all : all.filter((index) => !isSuspect(candidates, index));
  await ensureStaging(context);
  let conflicts: { losers: IdConflictLoss[]; items: Promise<ReadonlyMap<number, LegacyItem>> } | undefined;
  const attempt = await refusableUnderSavepoint(session, 'kpi_migrate_staged', async () => {
    const rowCount = rowsOf(candidates, staged);
    if (rowCount > 0) {
      const copied = await session.copyFrom(plan.sql.staging, plan.sql.copyColumns, copyDataOf(candidates, staged));
      if (copied !== rowCount) throw new MigrateError('INTERNAL', `COPY into staging took ${copied} rows, ${rowCount} were sent`);
    }
    const written = await writeStaged(session, plan, suspects);
    if (written.holders.size > 0) {
      // No record claims a row another of the batch claims: each that touches a held row lost whole, as the statement decided.
      const { losers, items } = await claimRows(plan, written.holders);
      const lost = new Set(losers.map((loss) => loss.record));
      staged = staged.filter((index) => !lost.has(index));
      suspects = suspects.filter((index) => !lost.has(index));
      conflicts = { losers, items };
    }
    return written;
  });
  if (!attempt.ok) return undefined;
  const { inserted, updated, deleted } = attempt.value;
  const rowCount = rowsOf(candidates, staged);
  const results: LoadResult[] = [{ inserted, updated, unchanged: rowCount - inserted - updated, deleted, migrated: staged.length, rowsOut: rowCount, rejects: [] }];
  // Emptied for what follows in this transaction: the records holding U+0000, or the next batch
  // in a rehearsal (its batches are savepoints of one transaction, and the staging table stays).
  await session.query(plan.sql.clearStaging);
  if (suspects.length > 0) results.push(...(await loadEachUnderOneSavepoint(context, suspects)));
  const conflictRejects = conflicts === undefined ? [] : conflictRejectsOf(plan, conflicts.losers, await conflicts.items);
  return { conflictRejects, loaded: combined(candidates, [...staged, ...suspects].sort((a, b) => a - b), results) };
}

const NO_HOLDERS: ReadonlyMap<string, RowHolder> = new Map();

interface StagedWrite {
  holders: Map<string, RowHolder>;
  inserted: number;
  updated: number;
  deleted: number;
}

/** writeStaged, with these (unstaged) records' rows probed beside the staged ones. */
async function writeStaged(session: SqlSession, plan: BatchPlan, unstaged: readonly number[]): Promise<StagedWrite> {
  const claims = unstaged.length === 0 ? undefined : claimsOfRecords(plan.candidates, unstaged);
  const { rows } = await session.query<{
    kind: 'holder' | 'counts';
    id: string | null;
    source_entity: string | null;
    source_id: string | null;
    last_run_id: string | null;
    inserted: number;
    updated: number;
    deleted: number;
  }>(plan.sql.writeStaged, [plan.input.runId, claims?.rowIds ?? null, claims?.sourceIds ?? null, plan.input.entity]);
  const written: StagedWrite = { holders: new Map(), inserted: 0, updated: 0, deleted: 0 };
  for (const row of rows) {
    if (row.kind === 'holder') written.holders.set(row.id!, { sourceEntity: row.source_entity, sourceId: row.source_id, lastRunId: row.last_run_id });
    else Object.assign(written, { inserted: row.inserted, updated: row.updated, deleted: row.deleted });
  }
  return written;
}

function conflictRejectsOf(plan: BatchPlan, losers: readonly IdConflictLoss[], items: ReadonlyMap<number, LegacyItem>): LoadReject[] {
  return losers.map((loss) => ({
    sourceEntity: plan.input.entity,
    sourceId: sourceIdOf(plan.candidates, loss.record),
    reason: 'id_conflict',
    attribute: 'Id',
    message: loss.message,
    item: items.get(loss.record)!,
  }));
}

async function assertRunAcceptsBatches(session: SqlSession, input: BatchInput): Promise<void> {
  // FOR SHARE: a concurrent finishRun waits until this batch has committed or rolled back.
  const { rows } = await session.query<{ status: string; target_schema: string }>(
    'select status, target_schema from kpi_migrate.runs where id = $1::bigint for share',
    [input.runId],
  );
  const run = rows[0];
  // The run was running when this process took it: a change is another process's doing, mid-run.
  if (run === undefined) throw new MigrateError('RUN_CHANGED', `run ${input.runId} does not exist (any more)`);
  if (run.status !== 'running') throw new MigrateError('RUN_CHANGED', `run ${input.runId} is ${run.status}: it takes no more batches`);
  if (run.target_schema !== input.targetSchema) {
    throw new MigrateError('RUN_STATE', `run ${input.runId} writes to schema ${run.target_schema}, not ${input.targetSchema}`);
  }
}

/**
 * Who holds the batch's row ids now (of `records` only, when given), other than the record
 * claiming them (id_conflict material), and how many of the ids their claiming record holds
 * already (none: a first run).
 */
async function loadHolders(session: SqlSession, plan: BatchPlan, records?: readonly number[]): Promise<{ holders: Map<string, RowHolder>; ownRows: number }> {
  const holders = new Map<string, RowHolder>();
  const claims = records === undefined ? claimsOf(plan.candidates) : claimsOfRecords(plan.candidates, records);
  if (claims === undefined) return { holders, ownRows: 0 };
  const { rows } = await session.query<{ id: string | null; source_entity: string | null; source_id: string | null; last_run_id: string | null; summary: boolean }>(
    plan.sql.selectHolders,
    [claims.rowIds, plan.input.entity, claims.sourceIds],
  );
  let ownRows = 0;
  for (const row of rows) {
    if (row.summary) ownRows = Number(row.last_run_id ?? 0);
    else holders.set(row.id!, { sourceEntity: row.source_entity, sourceId: row.source_id, lastRunId: row.last_run_id });
  }
  return { holders, ownRows };
}

/** Of the rows other records hold, those the tool wrote and this converge run has not produced. */
async function staleHolders(session: SqlSession, plan: BatchPlan, holders: ReadonlyMap<string, RowHolder>): Promise<Set<string>> {
  const toolHeld = [...holders].filter(([, holder]) => holder.sourceEntity !== null).map(([rowId]) => rowId);
  if (toolHeld.length === 0) return new Set();
  const links = tableStatements(plan.input.targetSchema, KPI_LINKS_TABLE).target;
  const inTenant =
    plan.table === KPI_LINKS_TABLE
      ? `exists (select 1 from ${plan.sql.target} t where t.id = h.id and t.tenant_id::text = $4::text)`
      : `exists (select 1 from ${plan.sql.target} t join ${links} l on l.id = t.kpi_link_id where t.id = h.id and l.tenant_id::text = $4::text)`;
  const { rows } = await session.query<{ id: string }>(
    `select h.id::text as id from unnest($3::uuid[]) as h(id)
     where not exists (select 1 from kpi_migrate.run_rows r where r.run_id = $1::bigint and r.table_name = $2 and h.id = any(r.row_ids))
       and ($4::text is null or ${inTenant})`,
    [plan.input.runId, plan.table.name, `{${toolHeld.join(',')}}`, plan.input.tenant ?? null],
  );
  return new Set(rows.map((row) => row.id));
}

/** The rows of the records this batch loaded, for the converge run's sweep (in the batch's transaction, so a resume keeps them). */
async function recordRunRows(session: SqlSession, plan: BatchPlan, records: readonly number[], rejects: readonly LoadReject[]): Promise<void> {
  const refused = new Set(rejects.map((reject) => reject.sourceId));
  const loaded = refused.size === 0 ? records : records.filter((index) => !refused.has(sourceIdOf(plan.candidates, index)));
  const rowIds = rowIdsLiteralOf(plan.candidates, loaded);
  if (rowIds === undefined) return;
  await session.query('insert into kpi_migrate.run_rows (run_id, table_name, row_ids) values ($1::bigint, $2, $3::uuid[])', [plan.input.runId, plan.table.name, rowIds]);
}

/** Whether any of these records already has rows in the target (under other ids than the batch's). */
async function sourcesHaveRows(session: SqlSession, plan: BatchPlan, records: readonly number[]): Promise<boolean> {
  const sourceIds = sourceIdsLiteralOf(plan.candidates, records);
  if (sourceIds === undefined) return false;
  const { rows } = await session.query<{ found: boolean }>(plan.sql.sourcesHaveRows, [plan.input.entity, sourceIds]);
  return rows[0]?.found === true;
}

/**
 * resolveIdConflicts, given only the records it could decide against: those touching a row held
 * by another record, sharing a row id with another record of the batch, or read twice. The
 * others win whatever their precedence and take no row anyone else wants, so leaving them out
 * changes nothing; sorting thousands of records by precedence for a handful of conflicts does.
 */
async function claimRows(
  plan: BatchPlan,
  holders: ReadonlyMap<string, RowHolder>,
): Promise<ReturnType<typeof resolveIdConflicts> & { items: Promise<ReadonlyMap<number, LegacyItem>> }> {
  const { candidates, input } = plan;
  const count = recordCount(candidates);
  const contested = contestedRecords(candidates, holders);
  if (contested.size === 0) return { winners: [...Array(count).keys()], losers: [], items: Promise.resolve(new Map()) };
  const decided = [...contested].sort((a, b) => a - b);
  // Items of contested records only: the losers' go into their rejects, twins compare by content.
  // They come from the reader's thread, busy mapping the next batch: asked for now, and awaited
  // here only for twins, else once the batch is loaded (about 13 ms a batch in the chain before).
  const fetching = Promise.all(decided.map((index) => candidates.item(index))).then(
    (fetched): ReadonlyMap<number, LegacyItem> => new Map(decided.map((index, at) => [index, fetched[at]!])),
  );
  fetching.catch(() => {});
  const sourceIds = decided.map((index) => sourceIdOf(candidates, index));
  const items = new Set(sourceIds).size < sourceIds.length ? await fetching : undefined;
  const claims: ClaimingRecord[] = decided.map((index, at) => ({
    sourceEntity: input.entity,
    sourceId: sourceIds[at]!,
    rowIds: rowIdsOf(candidates, index),
    // Asked only of two records with one source id (same entity in a batch), whose items were awaited.
    contentKey: () => {
      if (items === undefined) throw new MigrateError('INTERNAL', `${input.entity} ${sourceIds[at]} compared by content without its item`);
      return toJsonText(items.get(index)!);
    },
  }));
  const { winners, losers } = resolveIdConflicts(claims, holders);
  const uncontested: number[] = [];
  for (let index = 0; index < count; index++) if (!contested.has(index)) uncontested.push(index);
  return {
    winners: [...uncontested, ...winners.map((at) => decided[at]!)].sort((a, b) => a - b),
    losers: losers.map((loss) => ({ ...loss, record: decided[loss.record]! })),
    items: fetching,
  };
}

/**
 * PostgreSQL refuses text holding U+0000. Left in the batch, each such record would make the
 * halving below re-send the batch about log2(size) times, hundreds of COPYs and upserts for a few
 * dozen bad records; sent one by one first, each costs one refused COPY, and the database still
 * decides (and words) every refusal. The rejects keep the batch's record order.
 */
async function loadSuspectsApart<NotLoaded>(
  context: LoadContext,
  records: number[],
  loadRest: (records: number[]) => Promise<LoadResult | NotLoaded>,
): Promise<LoadResult | NotLoaded> {
  const { candidates } = context.plan;
  const suspects = Object.keys(candidates.suspectTexts).length === 0 ? [] : records.filter((index) => isSuspect(candidates, index));
  const rest = suspects.length === 0 ? records : records.filter((index) => !isSuspect(candidates, index));
  const results: LoadResult[] = suspects.length === 0 ? [] : await loadEachUnderOneSavepoint(context, suspects);
  if (rest.length > 0) {
    const loaded = await loadRest(rest);
    if (!isLoadResult(loaded)) return loaded;
    results.push(loaded);
  }
  return combined(candidates, records, results);
}

function isLoadResult(value: unknown): value is LoadResult {
  return typeof value === 'object' && value !== null && 'rowsOut' in value;
}

/** The results of loading `records` (ascending) in parts, as one: the rejects in record order. */
function combined(candidates: EncodedRecords, records: readonly number[], results: readonly LoadResult[]): LoadResult {
  if (results.length === 1) return results[0]!;
  // One record per source id among the winners (resolveIdConflicts), so the id gives the order.
  const position = new Map(records.map((index) => [sourceIdOf(candidates, index), index]));
  const rejects = results.flatMap((result) => result.rejects);
  rejects.sort((a, b) => (position.get(a.sourceId ?? '') ?? 0) - (position.get(b.sourceId ?? '') ?? 0));
  return {
    inserted: sum(results, 'inserted'),
    updated: sum(results, 'updated'),
    unchanged: sum(results, 'unchanged'),
    deleted: sum(results, 'deleted'),
    migrated: sum(results, 'migrated'),
    rowsOut: sum(results, 'rowsOut'),
    rejects,
  };
}

/** The staging table, made on first use in the transaction (outside any savepoint: rolling back to one must not drop it). */
async function ensureStaging(context: LoadContext): Promise<void> {
  if (context.staged) return;
  await context.session.query(context.plan.sql.createStaging);
  context.staged = true;
}

/**
 * Records one by one under ONE savepoint: a refused record costs its COPY and a rollback to the
 * savepoint, which stays for the next one (four round trips each otherwise). A record the database
 * takes is kept by releasing the savepoint and setting it again.
 *
 * The records holding U+0000 are all refused alike: the database checks the encoding of a COPY
 * line's bytes before it reads any column, and refuses the byte 0x00 there, naming no column. Once
 * it has refused one of them so, the others of the batch (each holds that byte) take the same
 * refusal, in the database's words, without a COPY and a rollback each (about 0.7 ms apiece in
 * the batch's chain); a refusal that names a column, or another reason, is not shared.
 */
async function loadEachUnderOneSavepoint(context: LoadContext, records: readonly number[]): Promise<LoadResult[]> {
  const { session, plan } = context;
  await ensureStaging(context);
  const results: LoadResult[] = [];
  let nulRefusal: DatabaseRefusal | undefined;
  await session.query('savepoint kpi_migrate_one');
  for (const record of records) {
    if (nulRefusal !== undefined && isSuspect(plan.candidates, record)) {
      results.push({ ...NOTHING_LOADED, rejects: [await refusedRecordReject(plan, record, nulRefusal)] });
      continue;
    }
    try {
      results.push(await loadRecords(context, [record]));
      await session.exec('release savepoint kpi_migrate_one; savepoint kpi_migrate_one');
    } catch (error) {
      const refusal = databaseRefusalOf(error);
      if (refusal === undefined || !refusesRecord(refusal)) throw error;
      await session.query('rollback to savepoint kpi_migrate_one');
      results.push({ ...NOTHING_LOADED, rejects: [await refusedRecordReject(plan, record, refusal)] });
      if (isSuspect(plan.candidates, record) && refusesTheNulByte(refusal)) nulRefusal = refusal;
    }
  }
  await session.query('release savepoint kpi_migrate_one');
  return results;
}

/** A refusal of the byte 0x00 by the encoding check of a COPY line, before any column is read. */
function refusesTheNulByte(refusal: DatabaseRefusal): boolean {
  return refusal.sqlstate === '22021' && refusal.column === undefined && !/\bcolumn\b/.test(refusal.where ?? '') && refusal.message.includes('0x00');
}

/**
 * COPY straight into the target, for records none of whose rows (nor any other row of theirs)
 * exist there: every row is an insert, nothing needs an old image. `refused` when the database
 * refuses a record: the savepoint undoes the COPY.
 */
async function copyFreshRecords({ session, plan }: LoadContext, records: number[]): Promise<LoadResult | Refused> {
  const rowCount = rowsOf(plan.candidates, records);
  if (rowCount === 0) return { ...NOTHING_LOADED, migrated: records.length };
  const attempt = await refusableUnderSavepoint(session, 'kpi_migrate_fresh', async () => {
    const copied = await session.copyFrom(plan.sql.target, plan.sql.copyColumns, copyDataOf(plan.candidates, records));
    if (copied !== rowCount) throw new MigrateError('INTERNAL', `COPY into ${plan.sql.target} took ${copied} rows, ${rowCount} were sent`);
  });
  if (!attempt.ok) return { refused: attempt.refusal };
  return { inserted: rowCount, updated: 0, unchanged: 0, deleted: 0, migrated: records.length, rowsOut: rowCount, rejects: [] };
}

/** copyFreshRecords, and when the database refuses a record, the records isolated the usual way. */
async function copyFreshElseIsolate(context: LoadContext, records: number[]): Promise<LoadResult> {
  const copied = await copyFreshRecords(context, records);
  return isLoadResult(copied) ? copied : loadIsolatingRefusals(context, records);
}

function sum(results: readonly LoadResult[], field: Exclude<keyof LoadResult, 'rejects'>): number {
  return results.reduce((total, result) => total + result[field], 0);
}

/**
 * pgloader's way: load the records under a savepoint; when the database refuses them, roll back
 * to it and load each half on its own, down to the single record it refuses. The COPY into
 * staging is inside the savepoint too, since it is where a NUL byte or a malformed value fails.
 */
async function loadIsolatingRefusals(context: LoadContext, records: number[]): Promise<LoadResult> {
  const { session, plan } = context;
  await ensureStaging(context);
  const attempt = await refusableUnderSavepoint(session, 'kpi_migrate_records', () => loadRecords(context, records));
  if (attempt.ok) return attempt.value;
  if (records.length === 1) return { ...NOTHING_LOADED, rejects: [await refusedRecordReject(plan, records[0]!, attempt.refusal)] };
  const middle = Math.ceil(records.length / 2);
  const first = await loadIsolatingRefusals(context, records.slice(0, middle));
  const second = await loadIsolatingRefusals(context, records.slice(middle));
  return combined(plan.candidates, records, [first, second]);
}

async function loadRecords(context: LoadContext, records: readonly number[]): Promise<LoadResult> {
  const { session, plan } = context;
  const rowCount = rowsOf(plan.candidates, records);
  if (rowCount === 0) return { ...NOTHING_LOADED, migrated: records.length };
  const copied = await session.copyFrom(plan.sql.staging, plan.sql.copyColumns, copyDataOf(plan.candidates, records));
  if (copied !== rowCount) throw new MigrateError('INTERNAL', `COPY into staging took ${copied} rows, ${rowCount} were sent`);
  const runParam = [plan.input.runId];
  const deleted = plan.table.fansOut && !plan.input.converge ? (await session.query(plan.sql.deleteDropped, runParam)).rowCount : 0;
  const { rows } = await session.query<{ inserted: number; updated: number }>(plan.sql.upsert, runParam);
  const { inserted, updated } = rows[0] ?? { inserted: 0, updated: 0 };
  await session.query(plan.sql.clearStaging);
  return { inserted, updated, unchanged: rowCount - inserted - updated, deleted, migrated: records.length, rowsOut: rowCount, rejects: [] };
}

async function refusedRecordReject(plan: BatchPlan, record: number, refusal: DatabaseRefusal): Promise<LoadReject> {
  // COPY's context names the staging table and a line of this batch; only the column means anything here.
  const column = refusal.column ?? /\bcolumn (\w+)/.exec(refusal.where ?? '')?.[1];
  const parts = [
    `PostgreSQL refused this record's rows [${refusal.sqlstate}]: ${refusal.message}`,
    ...(refusal.detail ? [refusal.detail] : []),
    ...(column ? [`column ${column}`] : []),
    `none of its ${rowsOf(plan.candidates, [record])} row(s) were loaded`,
  ];
  return {
    sourceEntity: plan.input.entity,
    sourceId: sourceIdOf(plan.candidates, record),
    reason: 'db_error',
    message: parts.join('; '),
    item: await plan.candidates.item(record),
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
