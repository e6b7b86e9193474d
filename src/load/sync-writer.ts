import { MigrateError } from '../errors.js';
import type { SqlSession } from '../db/sql-client.js';
import { refusableUnderSavepoint } from './savepoint.js';
import { quoteIdent } from '../db/identifiers.js';
import type { LegacyEntity, MigratedEntity } from '../model/entities.js';
import type { Reject } from '../model/reject.js';
import { insertRejectsReturningIds } from './rejects.js';
import type { LoadReject, PreparedRecord } from './prepare-record.js';
import { deletingRows, provenancedRows, tableStatements, TARGET_TABLES } from './target-table.js';
import type { TargetLayout } from './target-ownership.js';
import { takeWriteGenerations } from './target-writes.js';

/** Who wrote a target row: a source record, or (both null) the application. */
export interface RowProvenance {
  id: string;
  sourceEntity: string | null;
  sourceId: string | null;
  /** kpi_data: the link the row belongs to now (null for kpi_links). */
  linkId: string | null;
}

export type TargetTableName = 'kpi_links' | 'kpi_data';

/** The target a sync writes: its schema, and where each table keeps provenance (readRecordedLayout). */
export interface SyncTarget {
  schema: string;
  layout: TargetLayout;
}

/** The table's rows with their provenance, whoever owns the table (provenancedRows). */
function rowsOf(target: SyncTarget, table: TargetTableName): string {
  return provenancedRows(target.schema, TARGET_TABLES[table], target.layout[table]);
}

export interface RecordKey {
  entity: LegacyEntity;
  sourceId: string;
}

/**
 * The provenance of target rows, chosen by `condition` over the row alias `t` (its id, provenance
 * columns), read through provenancedRows: in the row or beside it, as the table keeps it.
 */
async function selectProvenance(session: SqlSession, target: SyncTarget, table: TargetTableName, condition: string, params: readonly unknown[]): Promise<RowProvenance[]> {
  const { rows } = await session.query<{ id: string; source_entity: string | null; source_id: string | null; link_id: string | null }>(
    `select t.id::text as id, t.source_entity, t.source_id, ${table === 'kpi_data' ? 't.kpi_link_id::text' : 'null'} as link_id
     from ${rowsOf(target, table)} t where ${condition}`,
    params,
  );
  return rows.map((row) => ({ id: row.id, sourceEntity: row.source_entity, sourceId: row.source_id, linkId: row.link_id }));
}

/** The rows these source records hold now. */
export function rowsOfRecords(session: SqlSession, target: SyncTarget, table: TargetTableName, keys: readonly RecordKey[]): Promise<RowProvenance[]> {
  if (keys.length === 0) return Promise.resolve([]);
  return selectProvenance(session, target, table, '(t.source_entity, t.source_id) in (select * from unnest($1::text[], $2::text[]))', [
    keys.map((key) => key.entity),
    keys.map((key) => key.sourceId),
  ]);
}

/** The links the tool wrote, as the fan-out of facts needs them (provenance GoalKpiLink). */
export async function toolWrittenLinks(
  session: SqlSession,
  target: SyncTarget,
): Promise<{ id: string; tenant_id: string; kpi_id: string; is_primary: boolean; source_id: string }[]> {
  const { rows } = await session.query<{ id: string; tenant_id: string; kpi_id: string; is_primary: boolean; source_id: string }>(
    `select t.id::text as id, t.tenant_id::text as tenant_id, t.kpi_id::text as kpi_id, t.is_primary, t.source_id
     from ${rowsOf(target, 'kpi_links')} t where t.source_entity = 'GoalKpiLink'`,
  );
  return rows;
}

/**
 * The records whose kpi_data rows are, in the target now, on a link of one of these (tenant, KPI)
 * pairs or on one of these links (the application's rows left out): the facts as the target holds
 * them, whatever the source image says of them today.
 */
export async function recordsOnKpiLinks(
  session: SqlSession,
  target: SyncTarget,
  kpis: readonly { tenantId: string; kpiId: string }[],
  linkIds: readonly string[],
): Promise<RecordKey[]> {
  if (kpis.length === 0 && linkIds.length === 0) return [];
  const { rows } = await session.query<{ source_entity: LegacyEntity; source_id: string }>(
    `select distinct t.source_entity, t.source_id from ${rowsOf(target, 'kpi_data')} t
     where t.source_entity is not null and (
       t.kpi_link_id = any($3::uuid[])
       or t.kpi_link_id = any(array(
         select l.id from ${rowsOf(target, 'kpi_links')} l
         where (l.tenant_id, l.kpi_id) in (select k.tenant_id::uuid, k.kpi_id::uuid from unnest($1::text[], $2::text[]) as k(tenant_id, kpi_id))
       ))
     )`,
    [kpis.map((kpi) => kpi.tenantId), kpis.map((kpi) => kpi.kpiId), linkIds],
  );
  return rows.map((row) => ({ entity: row.source_entity, sourceId: row.source_id }));
}

/** Who holds these row ids now (the application's rows included). */
export function holdersOfRows(session: SqlSession, target: SyncTarget, table: TargetTableName, rowIds: readonly string[]): Promise<RowProvenance[]> {
  if (rowIds.length === 0) return Promise.resolve([]);
  return selectProvenance(session, target, table, 't.id = any($1::uuid[])', [rowIds]);
}

export interface RowWrites {
  inserted: number;
  updated: number;
  unchanged: number;
  /** Records the database refused (db_error): none of their rows were written. */
  refused: LoadReject[];
}

/**
 * Upserts the records' rows as a run's batch does (staging, guarded upsert, old images into
 * row_history under `runId`; the application's rows are never touched). A record the database
 * refuses is isolated under a savepoint and becomes a db_error reject, as in a run.
 */
export async function upsertRecordRows(
  session: SqlSession,
  target: SyncTarget,
  table: TargetTableName,
  entityOf: (record: PreparedRecord) => MigratedEntity,
  runId: string,
  records: readonly PreparedRecord[],
): Promise<RowWrites> {
  const writes: RowWrites = { inserted: 0, updated: 0, unchanged: 0, refused: [] };
  if (records.length === 0) return writes;
  await takeWriteGenerations(session);
  const statements = tableStatements(target.schema, TARGET_TABLES[table], target.layout[table]);
  await session.query(statements.createStaging);
  const attempt = async (some: readonly PreparedRecord[]): Promise<void> => {
    const rowCount = some.reduce((sum, record) => sum + record.rowIds.length, 0);
    if (rowCount === 0) return;
    const copied = await session.copyFrom(statements.staging, statements.copyColumns, some.map((record) => record.copyText).join(''));
    if (copied !== rowCount) throw new MigrateError('INTERNAL', `COPY into staging took ${copied} rows, ${rowCount} were sent`);
    const { rows } = await session.query<{ inserted: number; updated: number }>(statements.upsert, [runId]);
    await session.query(statements.clearStaging);
    writes.inserted += rows[0]?.inserted ?? 0;
    writes.updated += rows[0]?.updated ?? 0;
    writes.unchanged += rowCount - (rows[0]?.inserted ?? 0) - (rows[0]?.updated ?? 0);
  };
  const isolating = async (some: readonly PreparedRecord[]): Promise<void> => {
    const tried = await refusableUnderSavepoint(session, 'kpi_migrate_sync', () => attempt(some));
    if (tried.ok) return;
    const { refusal } = tried;
    if (some.length === 1) {
      const record = some[0]!;
      writes.refused.push({
        sourceEntity: entityOf(record),
        sourceId: record.sourceId,
        reason: 'db_error',
        message: `PostgreSQL refused this record's rows [${refusal.sqlstate}]: ${refusal.message}; none of its ${record.rowIds.length} row(s) were loaded`,
        item: await record.item(),
        sqlstate: refusal.sqlstate,
      });
      return;
    }
    const middle = Math.ceil(some.length / 2);
    await isolating(some.slice(0, middle));
    await isolating(some.slice(middle));
  };
  await isolating(records);
  return writes;
}

/**
 * Removes tool-written rows by id, their old images into row_history under `runId`. A link that
 * rows the tool did not write still reference stays (as the converge sweep keeps it). Returns the
 * rows deleted: who wrote them, and (kpi_data) the link each belonged to.
 */
export async function deleteToolRows(
  session: SqlSession,
  target: SyncTarget,
  table: TargetTableName,
  runId: string,
  rowIds: readonly string[],
): Promise<{ sourceEntity: string; linkId: string }[]> {
  if (rowIds.length === 0) return [];
  // A delete makes no record's rows appear, but the generations come before any row this
  // transaction touches, in whichever order its writes come (takeWriteGenerations).
  await takeWriteGenerations(session);
  const unreferenced = table === 'kpi_links' ? `and not exists (select 1 from ${quoteIdent(target.schema)}.kpi_data d where d.kpi_link_id = h.id)` : '';
  const toolWritten = `t.id = any(array(select h.id from ${rowsOf(target, table)} h where h.id = any($2::uuid[]) and h.source_entity is not null ${unreferenced}))`;
  const { rows } = await session.query<{ source_entity: string; link_id: string }>(
    `with ${deletingRows(target.schema, TARGET_TABLES[table], target.layout[table], 'dropped', toolWritten)}, history as (
       insert into kpi_migrate.row_history (run_id, table_name, row_id, operation, old_row)
       select $1::bigint, '${table}', h.id, 'delete', to_jsonb(h) from dropped h
     )
     select source_entity, ${table === 'kpi_data' ? 'kpi_link_id' : 'id'}::text as link_id from dropped`,
    [runId, rowIds],
  );
  return rows.map((row) => ({ sourceEntity: row.source_entity, linkId: row.link_id }));
}

/**
 * The rejects of these records become `rejects` (the run's reject set follows the source): the
 * old ones of the records go, the new ones are recorded under the same run. Both are kept in
 * reject_history under `syncRunId` (the removed ones whole), so that rolling the sync back
 * restores the run's reject set exactly. Returns the entities of the rejects removed, one per reject.
 */
export async function replaceRejects(
  session: SqlSession,
  runId: string,
  syncRunId: string,
  keys: readonly RecordKey[],
  rejects: readonly (Reject & { sqlstate?: string })[],
): Promise<LegacyEntity[]> {
  let removed: LegacyEntity[] = [];
  if (keys.length > 0) {
    const { rows } = await session.query<{ source_entity: LegacyEntity }>(
      `with removed as (
         delete from kpi_migrate.rejects r where r.run_id = $1::bigint
           and (r.source_entity, r.source_id) in (select * from unnest($2::text[], $3::text[]))
         returning r.*
       ), kept as (
         insert into kpi_migrate.reject_history (run_id, reject_id, operation, old_reject)
         select $4::bigint, removed.id, 'delete', to_jsonb(removed) from removed
       )
       select source_entity from removed`,
      [runId, keys.map((key) => key.entity), keys.map((key) => key.sourceId), syncRunId],
    );
    removed = rows.map((row) => row.source_entity);
  }
  const inserted = await insertRejectsReturningIds(session, runId, rejects);
  if (inserted.length > 0) {
    await session.query(
      `insert into kpi_migrate.reject_history (run_id, reject_id, operation) select $1::bigint, i, 'insert' from unnest($2::bigint[]) as i`,
      [syncRunId, inserted],
    );
  }
  return removed;
}

/** The records a run rejected for these reasons (the id_conflict losers a removed winner frees, say). */
export async function rejectedRecords(session: SqlSession, runId: string, entities: readonly LegacyEntity[], reasons: readonly string[]): Promise<RecordKey[]> {
  const { rows } = await session.query<{ source_entity: LegacyEntity; source_id: string }>(
    `select distinct source_entity, source_id from kpi_migrate.rejects
     where run_id = $1::bigint and source_entity = any($2::text[]) and reason = any($3::text[]) and source_id is not null`,
    [runId, entities, reasons],
  );
  return rows.map((row) => ({ entity: row.source_entity, sourceId: row.source_id }));
}
