import { MigrateError } from '../errors.js';
import { databaseRefusalOf, targetFailure } from '../db/database-error.js';
import { finishRun, type RunId, type RunStatus } from './ledger.js';
import { claimRun, type RunClaim, proveClaim } from './run-claim.js';
import { isSafeIdentifier, quoteIdent } from '../db/identifiers.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { takeWriteGenerations } from './target-writes.js';
import { deletingRows, KPI_DATA_TABLE, KPI_LINKS_TABLE, provenancedRows, tableStatements, writingRows, type TargetTable } from './target-table.js';
import { contractColumnType, readRecordedLayout, type TargetLayout } from './target-ownership.js';
import { clearImage, unmarkImageBuilt } from './source-image.js';

export interface RollbackRequest {
  runId: RunId;
  /** The target schema the run wrote to (checked against the ledger). */
  schema: string;
  /** Later runs that built on this one, rolled back with it, newest first. */
  alsoRuns?: readonly RunId[];
}

export interface TableRollback {
  /** Rows the run inserted: removed. */
  delete: number;
  /** Rows the run updated or removed: put back as they were before it. */
  restore: number;
}

export interface RunRollback {
  runId: RunId;
  statusBefore: RunStatus;
  kpiData: TableRollback;
  kpiLinks: TableRollback;
  /** A sync (`runs.sync_of`): what undoing it does to the sync state of the run it continues. */
  sync?: SyncRollback;
}

/**
 * A sync's rollback puts the run it continues back where a next sync loses nothing: the rejects
 * the sync replaced in the run's reject set come back (reject_history), and the run's source image
 * and change positions are dropped, so that the next sync reads the image again and replays the
 * changes from the point the full run recorded (applying a change twice changes nothing).
 */
export interface SyncRollback {
  /** The full run the sync continued. */
  baseRunId: RunId;
  /** Rejects the sync recorded in the run's reject set: removed. */
  rejectsRemoved: number;
  /** Rejects of the run's reject set the sync had replaced: put back. */
  rejectsRestored: number;
}

/** A run, not being rolled back, that changed what a run being rolled back wrote. */
export interface BlockingRun {
  runId: RunId;
  /** Status in the ledger; 'unknown' when rows name a run id the ledger does not have. */
  status: RunStatus | 'unknown';
  /** The run it built on. */
  builtOn: RunId;
  /** What it did, e.g. `updated or removed 12 kpi_data row(s) it wrote`. */
  reasons: string[];
}

export interface RollbackPlan {
  runId: RunId;
  schema: string;
  /**
   * Every run to undo, in the order it would be undone (newest first). Until the first blocked
   * run, the figures are those of undoing each in turn; from it on, as the target stands now.
   */
  runs: RunRollback[];
  /** While this is not empty, rollbackRun refuses: name these runs in alsoRuns (or roll them back first). */
  blockingRuns: BlockingRun[];
}

export type RollbackResult = Omit<RollbackPlan, 'blockingRuns'>;

/** What undoing the run would do, and which later runs stand in the way. Changes nothing. */
export async function planRollback(sql: SqlClient, request: RollbackRequest): Promise<RollbackPlan> {
  try {
    await sql.transaction(async (session) => {
      throw new PlanComplete(await undoRuns(session, request));
    });
  } catch (error) {
    if (error instanceof PlanComplete) return error.plan;
    throw rollbackFailure(error, request);
  }
  throw new MigrateError('INTERNAL', 'planning a rollback ended without a plan');
}

/**
 * Undoes exactly what the run (and the runs in alsoRuns, newest first) did to the target, in one
 * transaction: rows it inserted are deleted (kpi_data before kpi_links), rows it updated or
 * removed get back the image row_history kept from before it, and it is marked `rolled_back`.
 * Its rejects, counts and checkpoints stay; a sync's changes to the reject set of the run it
 * continues are undone, and that run's sync state is dropped (SyncRollback). Refuses (RUN_STATE)
 * while a later run that is not named has built on it (for a sync: any later sync of the same
 * run): undoing this run would then undo part of that one too.
 */
export async function rollbackRun(sql: SqlClient, request: RollbackRequest & { confirm: true }): Promise<RollbackResult> {
  if (request.confirm !== true) throw new MigrateError('USAGE', 'a rollback changes the target: it needs confirm');
  // Each run is claimed as a whole, as a run in progress claims it (RUN_BUSY while a process, or
  // any worker, is still writing it): undoing rows a live process goes on writing would leave a
  // target that is neither the run nor its absence. Claiming fences off any process that lost its
  // claim on the run, and the undo commits only while these claims are the runs' latest.
  const claims: RunClaim[] = [];
  try {
    // A sync claims the full run it continues (one sync of a run at a time): so does undoing one,
    // so that no sync of that run applies changes on top of what is being undone.
    for (const runId of [...runIdsOf(request), ...(await syncedRunsOf(sql, request))]) claims.push(await claimRun(sql, { runId }));
    return await sql.transaction(async (session) => {
      const plan = await undoRuns(session, request);
      if (plan.blockingRuns.length > 0) throw refusal(plan);
      for (const claim of claims) await proveClaim(session, claim);
      return { runId: plan.runId, schema: plan.schema, runs: plan.runs };
    });
  } catch (error) {
    throw rollbackFailure(error, request);
  } finally {
    for (const claim of claims) await claim.release();
  }
}

/** The full runs that the syncs a request names continue, those the request does not name itself. */
async function syncedRunsOf(sql: SqlSession, request: RollbackRequest): Promise<string[]> {
  const ids = runIdsOf(request);
  const { rows } = await sql.query<{ id: string }>(
    `select distinct sync_of::text as id from kpi_migrate.runs where id = any($1::bigint[]) and sync_of is not null order by 1`,
    [`{${ids.join(',')}}`],
  );
  return rows.map((row) => row.id).filter((id) => !ids.includes(id));
}

/** The runs a request names, each once, checked to be run ids. */
function runIdsOf(request: RollbackRequest): string[] {
  const ids = [...new Set([request.runId, ...(request.alsoRuns ?? [])])];
  for (const id of ids) if (!RUN_ID.test(id)) throw new MigrateError('RUN_NOT_FOUND', `not a run id: ${JSON.stringify(id)}`);
  return ids;
}

class PlanComplete extends Error {
  constructor(readonly plan: RollbackPlan) {
    super('rollback plan: rolled back');
  }
}

function refusal(plan: RollbackPlan): MigrateError {
  const lines = plan.blockingRuns.map((b) => `run ${b.runId} (${b.status}) built on run ${b.builtOn}: ${b.reasons.join('; ')}`);
  const later = [...new Set(plan.blockingRuns.map((b) => b.runId))];
  return new MigrateError(
    'RUN_STATE',
    `run ${plan.runId} cannot be rolled back alone:\n  ${lines.join('\n  ')}\n` +
      `roll back ${later.length === 1 ? 'that run' : 'those runs'} with it (--also ${later.join(' --also ')}) or first`,
    { details: { blockingRuns: plan.blockingRuns } },
  );
}

function rollbackFailure(error: unknown, request: RollbackRequest): MigrateError {
  const refused = databaseRefusalOf(error);
  if (!(error instanceof MigrateError) && refused?.sqlstate === '23503') {
    // The checks above find every run that built on this one; a row they do not explain (written
    // outside kpi-migrate, or a ledger edited by hand) still must not be orphaned.
    return new MigrateError('RUN_STATE', `run ${request.runId} cannot be rolled back: rows no run being rolled back wrote still reference links it inserted (${refused.message})`, {
      cause: error,
    });
  }
  return targetFailure(error, `rolling back run ${request.runId}`);
}

const RUN_ID = /^[1-9][0-9]{0,18}$/;

// batch-writer.ts serialises batches into one target table with this lock (its TABLE_LOCK_CLASS):
// holding it, no batch reads who holds a row while the rollback changes the answer.
const TABLE_LOCK_CLASS = 7312002;

// Row ids this run touched, each with the image it had before the run (null: it did not exist).
const TOUCHED = 'kpi_migrate_rollback_rows';

interface LedgerRun {
  id: string;
  status: RunStatus;
  target_schema: string;
  sync_of: string | null;
}

async function undoRuns(session: SqlSession, request: RollbackRequest): Promise<RollbackPlan> {
  const { schema } = request;
  if (!isSafeIdentifier(schema)) throw new MigrateError('CONFIG_INVALID', `not a schema name: ${JSON.stringify(schema)}`);
  const ids = runIdsOf(request);

  // Run rows first, then the table locks: the order batch-writer takes them in, so no deadlock.
  const { rows: found } = await session.query<LedgerRun>(
    `select id::text as id, status, target_schema, sync_of::text as sync_of from kpi_migrate.runs where id = any($1::bigint[]) order by runs.id for update`,
    [`{${ids.join(',')}}`],
  );
  const problems: string[] = [];
  for (const id of ids) {
    const run = found.find((r) => r.id === id);
    if (run === undefined) throw new MigrateError('RUN_NOT_FOUND', `run ${id} does not exist`);
    if (run.status === 'rolled_back') problems.push(`run ${id} is already rolled back`);
    else if (run.target_schema !== schema) problems.push(`run ${id} wrote to schema ${run.target_schema}, not ${schema}`);
  }
  if (problems.length > 0) throw new MigrateError('RUN_STATE', problems.join('\n'));

  const tables = [KPI_LINKS_TABLE, KPI_DATA_TABLE];
  for (const table of tables) await session.query('select pg_advisory_xact_lock($1, hashtext($2))', [TABLE_LOCK_CLASS, tableStatements(schema, table).target]);
  // Restored images are rows of the tool a run's session did not write (target-writes.ts).
  await takeWriteGenerations(session);
  await session.query(
    `create temp table if not exists ${TOUCHED} (table_name text not null, row_id uuid not null, image jsonb,
       primary key (table_name, row_id)) on commit drop`,
  );

  const layout = await readRecordedLayout(session, schema);
  const target: RollbackTarget = { schema, layout };
  const runs: RunRollback[] = [];
  const blockingRuns: BlockingRun[] = [];
  const newestFirst = [...found].sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
  const resetRuns = new Set<string>();
  for (const run of newestFirst) {
    await collectTouchedRows(session, target, run.id);
    const blockers = mergeBlockers([...(await findBlockingRuns(session, target, run.id)), ...(await laterSyncs(session, run))]).filter((b) => !ids.includes(b.runId));
    blockingRuns.push(...blockers);
    if (blockingRuns.length > 0) {
      // Undoing it would undo part of a later run too; what it would touch is still worth showing.
      runs.push({ runId: run.id, statusBefore: run.status, ...(await countTouchedRows(session, target)), ...(await countSyncRejects(session, run)) });
      continue;
    }
    const undone: RunRollback = { runId: run.id, statusBefore: run.status, ...(await undoTouchedRows(session, target)) };
    if (run.sync_of !== null) {
      undone.sync = { baseRunId: run.sync_of, ...(await restoreReplacedRejects(session, run.id)) };
      resetRuns.add(run.sync_of);
    }
    runs.push(undone);
    await finishRun(session, run.id, 'rolled_back');
  }
  if (blockingRuns.length === 0) for (const runId of resetRuns) await dropSyncState(session, runId);
  return { runId: request.runId, schema, runs, blockingRuns };
}

/**
 * Syncs of the same full run later than `run` (for a full run: its syncs), not rolled back. Each
 * applied changes from the stream positions and image the syncs before it left: undoing an
 * earlier sync alone would leave them standing on changes whose effect is gone, and the sync state
 * is reset to the full run's (dropSyncState), which only a rollback of every later sync keeps true.
 * They are refused and named, not undone silently: a rollback undoes only the runs it is given.
 */
async function laterSyncs(session: SqlSession, run: LedgerRun): Promise<BlockingRun[]> {
  const base = run.sync_of ?? run.id;
  const { rows } = await session.query<{ id: string; status: RunStatus }>(
    `select id::text as id, status from kpi_migrate.runs where sync_of = $1::bigint and id > $2::bigint and status <> 'rolled_back' order by id`,
    [base, run.id],
  );
  return rows.map((row) => ({
    runId: row.id,
    status: row.status,
    builtOn: run.id,
    reasons: [run.sync_of === null ? `a sync of it` : `a later sync of run ${base}: it went on from the change positions and source image this one left`],
  }));
}

/** One entry per blocking run, its reasons together. */
function mergeBlockers(blockers: readonly BlockingRun[]): BlockingRun[] {
  const byRun = new Map<string, BlockingRun>();
  for (const blocker of blockers) {
    const known = byRun.get(blocker.runId);
    if (known === undefined) byRun.set(blocker.runId, { ...blocker, reasons: [...blocker.reasons] });
    else known.reasons.push(...blocker.reasons);
  }
  return [...byRun.values()];
}

/** What undoing a sync would do to the reject set of the run it continues (a plan that is refused). */
async function countSyncRejects(session: SqlSession, run: LedgerRun): Promise<Pick<RunRollback, 'sync'>> {
  if (run.sync_of === null) return {};
  // Net of the rejects the sync recorded and replaced again itself, as restoreReplacedRejects does it.
  const { rows } = await session.query<{ inserted: number; deleted: number }>(
    `select (count(*) filter (where h.operation = 'insert' and r.id is not null))::int as inserted,
            (count(*) filter (where h.operation = 'delete' and i.id is null))::int as deleted
     from kpi_migrate.reject_history h
     left join kpi_migrate.rejects r on h.operation = 'insert' and r.id = h.reject_id
     left join kpi_migrate.reject_history i on h.operation = 'delete' and i.run_id = h.run_id and i.operation = 'insert' and i.reject_id = h.reject_id
     where h.run_id = $1::bigint`,
    [run.id],
  );
  return { sync: { baseRunId: run.sync_of, rejectsRemoved: rows[0]!.inserted, rejectsRestored: rows[0]!.deleted } };
}

/**
 * The rejects a sync recorded in its full run's reject set are deleted, and those it replaced come
 * back as they were (their ids included). Syncs are undone newest first, so each finds the set as
 * it left it.
 */
async function restoreReplacedRejects(session: SqlSession, syncRunId: RunId): Promise<Pick<SyncRollback, 'rejectsRemoved' | 'rejectsRestored'>> {
  const { rows: removed } = await session.query<{ n: number }>(
    `with gone as (
       delete from kpi_migrate.rejects r
       where r.id = any(array(select h.reject_id from kpi_migrate.reject_history h where h.run_id = $1::bigint and h.operation = 'insert'))
       returning 1
     ) select count(*)::int as n from gone`,
    [syncRunId],
  );
  const { rows: restored } = await session.query<{ n: number }>(
    `with back as (
       insert into kpi_migrate.rejects (id, run_id, source_entity, source_id, reason, attribute, message, sqlstate, item, created_at)
       overriding system value
       select r.id, r.run_id, r.source_entity, r.source_id, r.reason, r.attribute, r.message, r.sqlstate, r.item, r.created_at
       from kpi_migrate.reject_history h
       cross join lateral jsonb_populate_record(null::kpi_migrate.rejects, h.old_reject) as r
       where h.run_id = $1::bigint and h.operation = 'delete'
         -- A reject the sync itself recorded and then replaced (a later batch of it) was not there before it.
         and not exists (select 1 from kpi_migrate.reject_history i where i.run_id = h.run_id and i.operation = 'insert' and i.reject_id = h.reject_id)
       order by h.id
       returning 1
     ) select count(*)::int as n from back`,
    [syncRunId],
  );
  return { rejectsRemoved: removed[0]!.n, rejectsRestored: restored[0]!.n };
}

/**
 * The run's sync state back to what its full run left: no source image, no change positions. The
 * next sync reads the image again and applies the changes from the point the run recorded (the
 * stream shards it listed, the export it read), which re-derives whatever the undone syncs had
 * applied; a stream point older than the stream keeps is refused then (SYNC_REFUSED), never skipped.
 */
async function dropSyncState(session: SqlSession, runId: RunId): Promise<void> {
  await clearImage(session, runId);
  await unmarkImageBuilt(session, runId);
}

/** The target schema and where its tables keep provenance. */
interface RollbackTarget {
  schema: string;
  layout: TargetLayout;
}

async function collectTouchedRows(session: SqlSession, { schema, layout }: RollbackTarget, runId: RunId): Promise<void> {
  await session.query(`truncate ${TOUCHED}`);
  for (const table of [KPI_LINKS_TABLE, KPI_DATA_TABLE]) {
    await session.query(
      `insert into ${TOUCHED} (table_name, row_id, image)
       select '${table.name}', t.id, null from ${provenancedRows(schema, table, layout[table.name])} t where t.first_run_id = $1::bigint`,
      [runId],
    );
  }
  // The earliest image of a row is the one from before the run; if that image itself says the
  // run created the row (it inserted, then changed or removed it), there was no row before.
  await session.query(
    `insert into ${TOUCHED} (table_name, row_id, image)
     select table_name, row_id, case when (old_row ->> 'first_run_id')::bigint = $1::bigint then null else old_row end
     from (
       select distinct on (table_name, row_id) table_name, row_id, old_row
       from kpi_migrate.row_history where run_id = $1::bigint
       order by table_name, row_id, id
     ) earliest
     on conflict (table_name, row_id) do update set image = excluded.image`,
    [runId],
  );
}

/**
 * Later runs that built on the touched rows: they changed or removed them (row_history), wrote
 * them last (last_run_id: also a row this run removed and a later run wrote again), or wrote
 * kpi_data rows on links this run inserted. Rolled-back runs no longer count.
 */
async function findBlockingRuns(session: SqlSession, { schema, layout }: RollbackTarget, runId: RunId): Promise<BlockingRun[]> {
  const links = provenancedRows(schema, KPI_LINKS_TABLE, layout.kpi_links);
  const data = provenancedRows(schema, KPI_DATA_TABLE, layout.kpi_data);
  const { rows } = await session.query<{ run_id: string; status: RunStatus | null; reason: string; table_name: string; n: string }>(
    `with found as (
       select h.run_id, 'history' as reason, h.table_name, count(*) as n
       from ${TOUCHED} x join kpi_migrate.row_history h on h.table_name = x.table_name and h.row_id = x.row_id
       where h.run_id > $1::bigint group by 1, 2, 3
       union all
       select t.last_run_id, 'last', 'kpi_links', count(*)
       from ${TOUCHED} x join ${links} t on x.table_name = 'kpi_links' and t.id = x.row_id
       where t.last_run_id > $1::bigint group by 1
       union all
       select t.last_run_id, 'last', 'kpi_data', count(*)
       from ${TOUCHED} x join ${data} t on x.table_name = 'kpi_data' and t.id = x.row_id
       where t.last_run_id > $1::bigint group by 1
       union all
       select d.last_run_id, 'on_links', 'kpi_data', count(*)
       from ${TOUCHED} x join ${data} d on x.table_name = 'kpi_links' and x.image is null and d.kpi_link_id = x.row_id
       where not exists (select 1 from ${TOUCHED} y where y.table_name = 'kpi_data' and y.row_id = d.id)
       group by 1
     )
     select f.run_id::text as run_id, r.status, f.reason, f.table_name, f.n::text as n
     from found f left join kpi_migrate.runs r on r.id = f.run_id
     where r.status is distinct from 'rolled_back'
     order by f.run_id, f.reason, f.table_name`,
    [runId],
  );
  const byRun = new Map<string, BlockingRun>();
  for (const row of rows) {
    let blocker = byRun.get(row.run_id);
    if (blocker === undefined) {
      blocker = { runId: row.run_id, status: row.status ?? 'unknown', builtOn: runId, reasons: [] };
      byRun.set(row.run_id, blocker);
    }
    blocker.reasons.push(
      row.reason === 'history'
        ? `updated or removed ${row.n} ${row.table_name} row(s) it wrote`
        : row.reason === 'last'
          ? `last wrote ${row.n} ${row.table_name} row(s) it wrote`
          : `wrote ${row.n} kpi_data row(s) on links it inserted`,
    );
  }
  return [...byRun.values()];
}

async function countTouchedRows(session: SqlSession, { schema }: RollbackTarget): Promise<Pick<RunRollback, 'kpiData' | 'kpiLinks'>> {
  const count = async (table: TargetTable): Promise<TableRollback> => {
    const { rows } = await session.query<{ remove: string; restore: string }>(
      `select (count(*) filter (where x.image is null and t.id is not null))::text as remove,
              (count(*) filter (where x.image is not null))::text as restore
       from ${TOUCHED} x left join ${qualified(schema, table)} t on t.id = x.row_id
       where x.table_name = '${table.name}'`,
    );
    return { delete: Number(rows[0]!.remove), restore: Number(rows[0]!.restore) };
  };
  return { kpiData: await count(KPI_DATA_TABLE), kpiLinks: await count(KPI_LINKS_TABLE) };
}

/** Foreign-key order: kpi_data rows go before the links they reference, and come back after. */
async function undoTouchedRows(session: SqlSession, target: RollbackTarget): Promise<Pick<RunRollback, 'kpiData' | 'kpiLinks'>> {
  const dataDeleted = await deleteInserted(session, target, KPI_DATA_TABLE);
  const linksRestored = await restoreImages(session, target, KPI_LINKS_TABLE);
  const dataRestored = await restoreImages(session, target, KPI_DATA_TABLE);
  const linksDeleted = await deleteInserted(session, target, KPI_LINKS_TABLE);
  return { kpiData: { delete: dataDeleted, restore: dataRestored }, kpiLinks: { delete: linksDeleted, restore: linksRestored } };
}

async function deleteInserted(session: SqlSession, { schema, layout }: RollbackTarget, table: TargetTable): Promise<number> {
  const inserted = `t.id in (select x.row_id from ${TOUCHED} x where x.table_name = '${table.name}' and x.image is null)`;
  const { rows } = await session.query<{ n: number }>(
    `with ${deletingRows(schema, table, layout[table.name], 'gone', inserted)} select count(*)::int as n from gone`,
  );
  return rows[0]!.n;
}

async function restoreImages(session: SqlSession, { schema, layout }: RollbackTarget, table: TargetTable): Promise<number> {
  // Every column, the run bookkeeping included: the row is again exactly what it was.
  const columns = [...table.columns, 'first_run_id', 'last_run_id'];
  const images = `(select ${columns.map((c) => `r.${quoteIdent(c)}`).join(', ')}
     from ${TOUCHED} x cross join lateral jsonb_to_record(x.image) as r(${columns.map((c) => `${quoteIdent(c)} ${imageType(table, c)}`).join(', ')})
     where x.table_name = '${table.name}' and x.image is not null)`;
  const { rows } = await session.query<{ n: number }>(
    `with ${writingRows(schema, table, layout[table.name], 'restored', images)} select count(*)::int as n from restored`,
  );
  return rows[0]!.n;
}

/** A column's type as row_history images hold it: the contract's (migration 002's), whoever owns the table. */
function imageType(table: TargetTable, column: string): string {
  if (column === 'first_run_id' || column === 'last_run_id') return 'bigint';
  return contractColumnType(table.name, column);
}

function qualified(schema: string, table: TargetTable): string {
  return `${quoteIdent(schema)}.${quoteIdent(table.name)}`;
}
