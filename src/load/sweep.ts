import { MigrateError } from '../errors.js';
import { DATA_ENTITIES, type MigratedEntity } from '../model/entities.js';
import { TABLE_LOCK_CLASS } from './batch-writer.js';
import { targetFailure } from '../db/database-error.js';
import type { RunId } from './ledger.js';
import type { SqlClient, SqlSession } from '../db/sql-client.js';
import { deletingRows, KPI_DATA_TABLE, KPI_LINKS_TABLE, provenancedRows, tableStatements, type TargetTable } from './target-table.js';
import { readRecordedLayout } from './target-ownership.js';

/** How much a converge run may delete from one target table: a number of rows, or a share of the tool's rows there. */
export type DeleteLimit = { rows: number } | { percent: number };

/**
 * 10% of a table: between a rehearsal and the next one (or production) the legacy service deletes
 * and re-links a few percent of records at most, while a wrong source (another directory, a
 * half-copied export, another environment's tables) leaves most of the target unjustified.
 */
export const DEFAULT_DELETE_LIMIT_TEXT = '10%';

/** `N` rows or `P%` of a table (P up to 100, decimals allowed). */
export function parseDeleteLimit(text: string): DeleteLimit {
  const trimmed = text.trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(trimmed);
  if (percent !== null && Number(percent[1]) <= 100) return { percent: Number(percent[1]) };
  if (/^\d+$/.test(trimmed) && Number.isSafeInteger(Number(trimmed))) return { rows: Number(trimmed) };
  throw new MigrateError('USAGE', `--max-delete must be a number of rows (e.g. 5000) or a percentage of a table up to 100% (e.g. 25%), got ${JSON.stringify(text)}`);
}

export function describeDeleteLimit(limit: DeleteLimit): string {
  return 'rows' in limit ? `${limit.rows} row(s)` : `${limit.percent}%`;
}

export interface SweepRequest {
  runId: RunId;
  targetSchema: string;
  /** A tenant-scoped run sweeps only this tenant's rows (kpi_data's tenant is its link's). */
  tenant?: string;
  maxDelete: DeleteLimit;
  /** Decide, guard, delete and count, then roll it all back: what the sweep would do. */
  dryRun?: boolean;
  /** Called with the figures once the guard has passed, before the first delete. */
  announce?: (figures: SweepFigures) => void;
}

/** One target table as the guard sees it. */
export interface SweepTableFigures {
  table: 'kpi_links' | 'kpi_data';
  /** Rows the tool wrote in the table (in the run's tenant when scoped), before the sweep. */
  toolRows: number;
  /** Of those, rows the run did not produce and the sweep removes. */
  toDelete: number;
}

export interface SweepFigures {
  tables: SweepTableFigures[];
  /** Rows removed per source entity. */
  deleted: Record<MigratedEntity, number>;
  /** Tool-written links the run no longer justifies, kept because a row the tool did not write references them. */
  keptReferencedLinks: number;
}

export interface SweepOutcome extends SweepFigures {
  /** An earlier session of this run had swept already: nothing was done now (its figures are the ledger's). */
  alreadySwept: boolean;
}

// The rows the sweep removes, decided before the first delete.
const DOOMED = 'kpi_migrate_sweep_rows';
const PRODUCED = 'kpi_migrate_sweep_produced';

/**
 * The end of a converge run, in ONE transaction: every tool-written row of the target (in the
 * tenant, when scoped) that this run did not produce is removed, its image kept in row_history
 * ('delete') for rollback; the run's counts get `deleted` per entity and the run is marked swept,
 * so that a resumed run neither sweeps nor counts twice. Rows the application wrote (no
 * provenance) are never touched, and links they still reference are kept (counted). Refuses
 * (CONVERGE_REFUSED, nothing deleted) when a table would lose more than `maxDelete`.
 */
export async function sweepRun(sql: SqlClient, request: SweepRequest): Promise<SweepOutcome> {
  try {
    return await sql.transaction(async (session) => {
      const outcome = await sweepInTransaction(session, request);
      if (request.dryRun) throw new DryRunSweep(outcome);
      return outcome;
    });
  } catch (error) {
    if (error instanceof DryRunSweep) return error.outcome;
    throw targetFailure(error, `sweeping what run ${request.runId} no longer justifies`);
  }
}

class DryRunSweep extends Error {
  constructor(readonly outcome: SweepOutcome) {
    super('dry run: sweep rolled back');
  }
}

async function sweepInTransaction(session: SqlSession, request: SweepRequest): Promise<SweepOutcome> {
  const { runId } = request;
  const { rows: runs } = await session.query<{ status: string; swept: boolean }>(
    'select status, swept_at is not null as swept from kpi_migrate.runs where id = $1::bigint for update',
    [runId],
  );
  const run = runs[0];
  if (run === undefined) throw new MigrateError('RUN_NOT_FOUND', `run ${runId} does not exist`);
  if (run.status !== 'running') throw new MigrateError('RUN_STATE', `run ${runId} is ${run.status}: it cannot sweep`);
  if (run.swept) return { ...(await sweptBefore(session, runId)), alreadySwept: true };

  const links = tableStatements(request.targetSchema, KPI_LINKS_TABLE).target;
  const data = tableStatements(request.targetSchema, KPI_DATA_TABLE).target;
  // The order rollback takes them in; no batch may write while the sweep decides.
  for (const target of [links, data]) await session.query('select pg_advisory_xact_lock($1, hashtext($2))', [TABLE_LOCK_CLASS, target]);
  const layout = await readRecordedLayout(session, request.targetSchema);
  const rowsOf = (table: TargetTable): string => provenancedRows(request.targetSchema, table, layout[table.name]);

  const tenant = request.tenant ?? null;
  // `$n` is the tenant (null: every tenant).
  const inScope = (table: TargetTable, alias: string, n: number): string =>
    table === KPI_LINKS_TABLE
      ? `($${n}::text is null or ${alias}.tenant_id::text = $${n}::text)`
      : `($${n}::text is null or exists (select 1 from ${links} l where l.id = ${alias}.kpi_link_id and l.tenant_id::text = $${n}::text))`;
  await session.query(`create temp table ${DOOMED} (table_name text not null, row_id uuid not null, primary key (table_name, row_id)) on commit drop`);
  // What the run produced, one row an id (run_rows keeps them an array a batch), for an anti-join.
  await session.query(`create temp table ${PRODUCED} (table_name text not null, row_id uuid not null) on commit drop`);
  await session.query(
    `insert into ${PRODUCED} (table_name, row_id)
     select distinct r.table_name, p.row_id from kpi_migrate.run_rows r cross join unnest(r.row_ids) as p(row_id) where r.run_id = $1::bigint`,
    [runId],
  );
  await session.query(`analyze ${PRODUCED}`);
  for (const table of [KPI_DATA_TABLE, KPI_LINKS_TABLE]) {
    await session.query(
      `insert into ${DOOMED} (table_name, row_id)
       select '${table.name}', t.id from ${rowsOf(table)} t
       where t.source_entity is not null and ${inScope(table, 't', 1)}
         and not exists (select 1 from ${PRODUCED} p where p.table_name = '${table.name}' and p.row_id = t.id)`,
      [tenant],
    );
  }
  // A link still referenced by a kpi_data row that stays (one the tool did not write) must stay too.
  const { rowCount: keptReferencedLinks } = await session.query(
    `delete from ${DOOMED} x
     where x.table_name = 'kpi_links'
       and exists (select 1 from ${data} d where d.kpi_link_id = x.row_id
                   and not exists (select 1 from ${DOOMED} y where y.table_name = 'kpi_data' and y.row_id = d.id))`,
  );

  const tables: SweepTableFigures[] = [];
  for (const table of [KPI_LINKS_TABLE, KPI_DATA_TABLE]) {
    const { rows } = await session.query<{ tool_rows: string; doomed: string }>(
      `select (select count(*) from ${rowsOf(table)} t where t.source_entity is not null and ${inScope(table, 't', 1)})::text as tool_rows,
              (select count(*) from ${DOOMED} x where x.table_name = '${table.name}')::text as doomed`,
      [tenant],
    );
    tables.push({ table: table.name, toolRows: Number(rows[0]!.tool_rows), toDelete: Number(rows[0]!.doomed) });
  }
  const refused = tables.filter((figures) => figures.toDelete > allowedDeletes(request.maxDelete, figures.toolRows));
  if (refused.length > 0) throw guardRefusal(request, tables, refused);

  const deleted = Object.fromEntries(['GoalKpiLink', ...DATA_ENTITIES].map((entity) => [entity, 0])) as Record<MigratedEntity, number>;
  request.announce?.({ tables, deleted, keptReferencedLinks });
  // Data rows first: the links they reference go after them.
  for (const table of [KPI_DATA_TABLE, KPI_LINKS_TABLE]) {
    const doomed = `t.id in (select x.row_id from ${DOOMED} x where x.table_name = '${table.name}')`;
    const { rows } = await session.query<{ source_entity: MigratedEntity; n: number }>(
      `with ${deletingRows(request.targetSchema, table, layout[table.name], 'gone', doomed)}, history as (
         insert into kpi_migrate.row_history (run_id, table_name, row_id, operation, old_row)
         select $1::bigint, '${table.name}', g.id, 'delete', to_jsonb(g) from gone g
       )
       select g.source_entity, count(*)::int as n from gone g group by 1`,
      [runId],
    );
    for (const row of rows) deleted[row.source_entity] = row.n;
  }
  for (const entity of Object.keys(deleted) as MigratedEntity[]) {
    await session.query(
      `insert into kpi_migrate.run_counts as c (run_id, entity, deleted, kept_referenced) values ($1::bigint, $2, $3, $4)
       on conflict (run_id, entity) do update set deleted = c.deleted + excluded.deleted, kept_referenced = c.kept_referenced + excluded.kept_referenced`,
      [runId, entity, deleted[entity], entity === 'GoalKpiLink' ? keptReferencedLinks : 0],
    );
  }
  await session.query('update kpi_migrate.runs set swept_at = now() where id = $1::bigint', [runId]);
  // Only the sweep needed them; the rows themselves now carry the run.
  await session.query('delete from kpi_migrate.run_rows where run_id = $1::bigint', [runId]);
  return { tables, deleted, keptReferencedLinks, alreadySwept: false };
}

function allowedDeletes(limit: DeleteLimit, toolRows: number): number {
  return 'rows' in limit ? limit.rows : Math.floor((toolRows * limit.percent) / 100);
}

function guardRefusal(request: SweepRequest, tables: readonly SweepTableFigures[], refused: readonly SweepTableFigures[]): MigrateError {
  const share = (figures: SweepTableFigures): string =>
    figures.toolRows === 0 ? '' : ` (${((figures.toDelete * 100) / figures.toolRows).toFixed(1)}%)`;
  const lines = tables.map(
    (figures) => `${figures.table}: would delete ${figures.toDelete} of the ${figures.toolRows} row(s) the tool wrote${request.tenant ? ` in tenant ${request.tenant}` : ''}${share(figures)}`,
  );
  return new MigrateError(
    'CONVERGE_REFUSED',
    `converge run ${request.runId} refused before deleting anything: ${refused.map((f) => f.table).join(' and ')} would lose more than ` +
      `--max-delete ${describeDeleteLimit(request.maxDelete)} allows\n  ${lines.join('\n  ')}\n` +
      'Check that the source is the right one and complete (directory, export, environment). If these deletes are expected, ' +
      `raise the limit: kpi-migrate run --resume ${request.runId} --max-delete 100% (or N rows / P%; maxDelete in the config, KPI_MIGRATE_MAX_DELETE)`,
    { details: { runId: request.runId, maxDelete: request.maxDelete, tables } },
  );
}

/** The figures an earlier session's sweep recorded. */
async function sweptBefore(session: SqlSession, runId: RunId): Promise<SweepFigures> {
  const { rows } = await session.query<{ entity: MigratedEntity; deleted: number; kept_referenced: number }>(
    'select entity, deleted::int as deleted, kept_referenced::int as kept_referenced from kpi_migrate.run_counts where run_id = $1::bigint',
    [runId],
  );
  const deleted = Object.fromEntries(['GoalKpiLink', ...DATA_ENTITIES].map((entity) => [entity, 0])) as Record<MigratedEntity, number>;
  let keptReferencedLinks = 0;
  for (const row of rows) {
    if (row.entity in deleted) deleted[row.entity] = row.deleted;
    if (row.entity === 'GoalKpiLink') keptReferencedLinks = row.kept_referenced;
  }
  return { tables: [], deleted, keptReferencedLinks };
}
