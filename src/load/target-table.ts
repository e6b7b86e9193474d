import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS } from '../model/rows.js';
import { quoteIdent } from '../db/identifiers.js';
import { applicationRowColumns, TOOL_OWNED, type TableLayout } from './target-ownership.js';

/** A target table as the batch writer sees it. */
export interface TargetTable {
  name: 'kpi_links' | 'kpi_data';
  /** The columns a row carries, in COPY order; `id` is the primary key. */
  columns: readonly string[];
  /**
   * Compared as text when deciding whether a row changed: numeric and jsonb equality call 1.0 and
   * 1.00 equal, but the digits as written are the data, so a change of scale is an update.
   */
  textCompared: ReadonlySet<string>;
  /** A record fans out to several rows and may stop producing some (a link went away). */
  fansOut: boolean;
}

export const KPI_LINKS_TABLE: TargetTable = {
  name: 'kpi_links',
  columns: KPI_LINK_COLUMNS,
  textCompared: new Set(['threshold_pct', 'weight', 'legacy_extra']),
  fansOut: false,
};

export const KPI_DATA_TABLE: TargetTable = {
  name: 'kpi_data',
  columns: KPI_DATA_COLUMNS,
  textCompared: new Set(['post_value', 'original_value', 'legacy_extra']),
  fansOut: true,
};

/**
 * The one relation every reader of provenance goes through: the table's rows with the contract's
 * columns, `source_entity`, `source_id`, `legacy_extra`, `first_run_id` and `last_run_id`, whoever
 * owns the table. The tool's own table is itself; the application's is joined to
 * kpi_migrate.row_provenance, so its own rows show null provenance there as in the tool's table.
 * A plain subquery with a left join: PostgreSQL pulls it up, so a condition on `id` or on
 * provenance still reaches the index of the table it is about.
 */
export function provenancedRows(targetSchema: string, table: TargetTable, layout: TableLayout = TOOL_OWNED): string {
  const target = `${quoteIdent(targetSchema)}.${quoteIdent(table.name)}`;
  if (layout.owner === 'tool') return target;
  const own = applicationRowColumns(table.name, layout).map((c) => `r.${quoteIdent(c)}`);
  return `(select ${own.join(', ')}${layout.legacyExtraInRow ? '' : ', p.legacy_extra'}, p.source_entity, p.source_id, p.first_run_id, p.last_run_id
    from ${target} r left join kpi_migrate.row_provenance p on p.table_name = '${table.name}' and p.row_id = r.id)`;
}

/**
 * A CTE named `name` that deletes the rows of `table` matching `condition` (over `t`, the table's
 * own columns) and returns each as provenancedRows presents it: its provenance goes with it.
 */
export function deletingRows(targetSchema: string, table: TargetTable, layout: TableLayout, name: string, condition: string): string {
  const target = `${quoteIdent(targetSchema)}.${quoteIdent(table.name)}`;
  if (layout.owner === 'tool') return `${name} as (delete from ${target} t where ${condition} returning t.*)`;
  const own = applicationRowColumns(table.name, layout).map((c) => `g.${quoteIdent(c)}`);
  return `${name}_rows as (delete from ${target} t where ${condition} returning t.*),
    ${name}_provenance as (
      delete from kpi_migrate.row_provenance p using ${name}_rows g where p.table_name = '${table.name}' and p.row_id = g.id returning p.*
    ),
    ${name} as (
      select ${own.join(', ')}${layout.legacyExtraInRow ? '' : ', q.legacy_extra'}, q.source_entity, q.source_id, q.first_run_id, q.last_run_id
      from ${name}_rows g left join ${name}_provenance q on q.row_id = g.id
    )`;
}

/**
 * A CTE named `name` that writes the rows of `source` (a relation with every column of
 * provenancedRows) into `table`, inserting new ids and overwriting existing ones, provenance
 * included; returns `id` and `inserted` per row.
 */
export function writingRows(targetSchema: string, table: TargetTable, layout: TableLayout, name: string, source: string): string {
  const target = `${quoteIdent(targetSchema)}.${quoteIdent(table.name)}`;
  const all = [...table.columns, 'first_run_id', 'last_run_id'];
  const own = layout.owner === 'tool' ? all : applicationRowColumns(table.name, layout);
  const set = (columns: readonly string[]) => columns.filter((c) => c !== 'id').map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(', ');
  const rows = `${name}${layout.owner === 'tool' ? '' : '_rows'} as (
      insert into ${target} as t (${own.map(quoteIdent).join(', ')})
      select ${own.map((c) => `w.${quoteIdent(c)}`).join(', ')} from ${source} w
      on conflict (id) do update set ${set(own)}
      returning t.id, (xmax = 0) as inserted
    )`;
  if (layout.owner === 'tool') return rows;
  const side = ['source_entity', 'source_id', 'legacy_extra', 'first_run_id', 'last_run_id'];
  return `${rows},
    ${name}_provenance as (
      insert into kpi_migrate.row_provenance (table_name, row_id, ${side.join(', ')})
      select '${table.name}', w.id, ${side.map((c) => (c === 'legacy_extra' && layout.legacyExtraInRow ? 'null' : `w.${c}`)).join(', ')}
      from ${source} w where w.source_entity is not null
      on conflict (table_name, row_id) do update set ${set(side)}
    ),
    ${name} as (select * from ${name}_rows)`;
}

export const TARGET_TABLES = { kpi_links: KPI_LINKS_TABLE, kpi_data: KPI_DATA_TABLE } as const;

/** The statements of one batch against one table; `$1` is always the run id. */
export interface TableStatements {
  target: string;
  /** provenancedRows of the table. */
  rows: string;
  /** Rows may be COPied straight into the target (the tool's own table: provenance is in the row). */
  copiesIntoTarget: boolean;
  staging: string;
  createStaging: string;
  /**
   * `$1` row ids (uuid[] literal), `$2` the batch's entity, `$3` each row's source id (text[]
   * literal): the rows among these that a different source record holds now, then one summary
   * row (`summary` true, `last_run_id` = how many of the ids their own record holds already).
   */
  selectHolders: string;
  /** `$1` the batch's entity, `$2` source ids (text[] literal): whether any of them has a row. */
  sourcesHaveRows: string;
  /** Whether the table holds any row the tool wrote (its own rows, in the tool's layout): one index probe. */
  holdsToolRows: string;
  /** The columns a batch COPYs, into staging or straight into the target: the data columns, then first_run_id, last_run_id. */
  copyColumns: readonly string[];
  /** Removes (and records in row_history) rows that staged records no longer produce. */
  deleteDropped: string;
  /** Guarded upsert of the new and changed staged rows, old images into row_history; counts. */
  upsert: string;
  /**
   * The staged rows written in one statement that also makes the id_conflict probe, for a batch
   * whose rows are mostly in the target already and whose records claim no row id in common:
   * `$2` and `$3` are the row ids and source ids of the batch's records that are not staged (as
   * for selectHolders, or null), `$4` the batch's entity. Each staged or listed row another record
   * (or the application) holds comes back with its holder (`kind` 'holder'), and the staged
   * records claiming one are left out whole. Of the others, the rows they no longer produce go
   * (fansOut) and the new and changed rows are upserted, as deleteDropped and upsert do; one row
   * (`kind` 'counts') gives inserted, updated, deleted.
   */
  writeStaged: string;
  clearStaging: string;
}

export function tableStatements(targetSchema: string, table: TargetTable, layout: TableLayout = TOOL_OWNED): TableStatements {
  const target = `${quoteIdent(targetSchema)}.${quoteIdent(table.name)}`;
  const rows = provenancedRows(targetSchema, table, layout);
  const tool = layout.owner === 'tool';
  const staging = quoteIdent(`kpi_migrate_staging_${table.name}`);
  const columns = table.columns.map(quoteIdent);
  const comparable = (alias: string): string =>
    `(${table.columns.map((c) => `${alias}.${quoteIdent(c)}${table.textCompared.has(c) ? '::text' : ''}`).join(', ')})`;
  const changed = (old: string, next: string): string => `${comparable(old)} is distinct from ${comparable(next)}`;
  const history = (operation: 'update' | 'delete', source: string): string =>
    `insert into kpi_migrate.row_history (run_id, table_name, row_id, operation, old_row)
     select $1::bigint, '${table.name}', h.id, '${operation}', to_jsonb(h) from ${source} h`;
  // The old images of the changed rows (a CTE over `changes`, whose rows carry is_new and old_row).
  const changesHistory = `history as (
        insert into kpi_migrate.row_history (run_id, table_name, row_id, operation, old_row)
        select $1::bigint, '${table.name}', c.id, 'update', c.old_row from changes c where not c.is_new
      )`;
  const toolUpsert = `upserted as (
        insert into ${target} as t (${columns.join(', ')}, first_run_id, last_run_id)
        select ${columns.join(', ')}, $1::bigint, $1::bigint from changes
        on conflict (id) do update set
          ${[...table.columns.filter((c) => c !== 'id'), 'last_run_id'].map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(', ')}
        where t.source_entity is not null and ${changed('t', 'excluded')}
        returning (xmax = 0) as inserted
      )`;

  /**
   * A CTE `dropped` deleting (as deletingRows) the rows that staged records hold and no longer
   * produce, of the records `r` (source_entity, source_id) for which `condition` holds.
   */
  function droppedRows(condition: string): string {
    const heldNotStaged = (select: string, from: string) => `array(
          select held.${select}
          from (select distinct s.source_entity, s.source_id from ${staging} s) r
          cross join lateral (select h.${select}${select === 'id' ? '' : ', h.id'} from ${from} h where h.source_entity = r.source_entity and h.source_id = r.source_id offset 0) held
          where ${condition} and not exists (select 1 from ${staging} s where s.id = held.id)
        )`;
    return tool
      ? `dropped as (delete from ${target} t where t.ctid = any(${heldNotStaged('ctid', target)}) returning t.*)`
      : deletingRows(targetSchema, table, layout, 'dropped', `t.id = any(${heldNotStaged('id', rows)})`);
  }

  return {
    target,
    rows,
    copiesIntoTarget: tool,
    staging,
    // The COPY columns and no constraints: COPY checks types, the upsert checks the rest.
    // If not exists: a dry run's batches are savepoints of one transaction, which drops it only at its end.
    createStaging: `create temp table if not exists ${staging} on commit drop as select ${columns.join(', ')}, first_run_id, last_run_id from ${rows} t with no data`,
    // Every probe of the target below goes through a LATERAL subquery with LIMIT (or OFFSET 0),
    // which PostgreSQL never flattens into a join: a batch is a few thousand rows against a target
    // of millions, and a hash join would read the whole target once per batch (quadratic in a run).
    selectHolders: `with probed as (
        select r.source_id as claimant, t.id, t.source_entity, t.source_id, t.last_run_id
        from unnest($1::uuid[], $3::text[]) as r(id, source_id)
        cross join lateral (select t.id, t.source_entity, t.source_id, t.last_run_id from ${rows} t where t.id = r.id limit 1) t
      )
      select id::text as id, source_entity, source_id, last_run_id::text as last_run_id, false as summary
      from probed where (source_entity, source_id) is distinct from ($2::text, claimant)
      union all
      select null, null, null, (count(*) filter (where (source_entity, source_id) is not distinct from ($2::text, claimant)))::text, true
      from probed`,
    sourcesHaveRows: `select exists (
        select 1 from unnest($2::text[]) as r(source_id)
        cross join lateral (select 1 from ${rows} t where t.source_entity = $1::text and t.source_id = r.source_id limit 1) t
      ) as found`,
    holdsToolRows: `select exists (select 1 from ${rows} t where t.source_entity is not null) as held`,
    copyColumns: [...table.columns, 'first_run_id', 'last_run_id'],
    deleteDropped: `with ${droppedRows('true')}
      ${history('delete', 'dropped')}`,
    // One join of staging against the target finds the new and the changed rows (with the old
    // images); unchanged rows go no further, so a re-run costs one index probe per row.
    upsert: `with changes as materialized (
        select s.*, t.id is null as is_new, case when t.id is not null then to_jsonb(t) end as old_row
        from ${staging} s
        left join lateral (select * from ${rows} t where t.id = s.id limit 1) t on true
        where t.id is null or (t.source_entity is not null and ${changed('t', 's')})
      ), ${changesHistory}, ${tool ? toolUpsert : applicationUpsert(targetSchema, table, layout)}
      select (count(*) filter (where inserted))::int as inserted, (count(*) filter (where not inserted))::int as updated
      from upserted`,
    writeStaged: `with probed as materialized (
        select s.*, t.id is null as is_new,
          t.id is not null and (t.source_entity, t.source_id) is distinct from (s.source_entity, s.source_id) as held_by_other,
          t.source_entity as holder_entity, t.source_id as holder_source_id, t.last_run_id as holder_run_id,
          case when t.id is not null and t.source_entity is not null and ${changed('t', 's')} then to_jsonb(t) end as old_row
        from ${staging} s
        left join lateral (select * from ${rows} t where t.id = s.id limit 1) t on true
      ), holders as (
        select id, holder_entity as source_entity, holder_source_id as source_id, holder_run_id as last_run_id from probed where held_by_other
        union all
        select t.id, t.source_entity, t.source_id, t.last_run_id
        from unnest($2::uuid[], $3::text[]) as r(id, source_id)
        cross join lateral (select t.id, t.source_entity, t.source_id, t.last_run_id from ${rows} t where t.id = r.id limit 1) t
        where (t.source_entity, t.source_id) is distinct from ($4::text, r.source_id)
      ), lost as (
        select distinct source_id from probed where held_by_other
      ), changes as (
        select * from probed p where (is_new or old_row is not null) and not exists (select 1 from lost l where l.source_id = p.source_id)
      ), ${
        table.fansOut
          ? `${droppedRows('not exists (select 1 from lost l where l.source_id = r.source_id)')}, dropped_history as (${history('delete', 'dropped')}),`
          : 'dropped as (select null where false),'
      } ${changesHistory}, ${tool ? toolUpsert : applicationUpsert(targetSchema, table, layout)}
      select 'holder' as kind, id::text as id, source_entity, source_id, last_run_id::text as last_run_id, 0 as inserted, 0 as updated, 0 as deleted
      from holders
      union all
      select 'counts', null, null, null, null, (select count(*) filter (where inserted) from upserted)::int,
        (select count(*) filter (where not inserted) from upserted)::int, (select count(*) from dropped)::int`,
    clearStaging: `truncate ${staging}`,
  };
}

/**
 * The upsert of `changes` into a table the application owns: the same rows as the tool's own
 * table gets, the row's columns into the table, provenance and run bookkeeping beside it. The
 * `changes` rows were chosen under the batch's table lock (new ids, or rows the tool wrote that
 * changed); an id the application takes meanwhile is left to it (do nothing).
 */
function applicationUpsert(targetSchema: string, table: TargetTable, layout: TableLayout): string {
  const target = `${quoteIdent(targetSchema)}.${quoteIdent(table.name)}`;
  const own = applicationRowColumns(table.name, layout).map(quoteIdent);
  return `updated as (
        update ${target} t set ${own.filter((c) => c !== '"id"').map((c) => `${c} = c.${c}`).join(', ')}
        from changes c where not c.is_new and t.id = c.id
        returning t.id
      ), inserted as (
        insert into ${target} (${own.join(', ')})
        select ${own.map((c) => `c.${c}`).join(', ')} from changes c where c.is_new
        on conflict (id) do nothing
        returning id
      ), upserted as (
        select true as inserted, id from inserted union all select false, id from updated
      ), provenance as (
        insert into kpi_migrate.row_provenance (table_name, row_id, source_entity, source_id, legacy_extra, first_run_id, last_run_id)
        select '${table.name}', c.id, c.source_entity, c.source_id, ${layout.legacyExtraInRow ? 'null' : 'c.legacy_extra'},
          case when u.inserted then $1::bigint else (c.old_row ->> 'first_run_id')::bigint end, $1::bigint
        from changes c join upserted u on u.id = c.id
        on conflict (table_name, row_id) do update set source_entity = excluded.source_entity, source_id = excluded.source_id,
          legacy_extra = excluded.legacy_extra, first_run_id = excluded.first_run_id, last_run_id = excluded.last_run_id
      )`;
}
