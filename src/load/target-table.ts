import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS } from '../transform/rows.js';
import { quoteIdent } from './identifiers.js';

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

/** The statements of one batch against one table; `$1` is always the run id. */
export interface TableStatements {
  target: string;
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
  /** The columns a batch COPYs, into staging or straight into the target: the data columns, then first_run_id, last_run_id. */
  copyColumns: readonly string[];
  /** Removes (and records in row_history) rows that staged records no longer produce. */
  deleteDropped: string;
  /** Guarded upsert of the new and changed staged rows, old images into row_history; counts. */
  upsert: string;
  clearStaging: string;
}

export function tableStatements(targetSchema: string, table: TargetTable): TableStatements {
  const target = `${quoteIdent(targetSchema)}.${quoteIdent(table.name)}`;
  const staging = quoteIdent(`kpi_migrate_staging_${table.name}`);
  const columns = table.columns.map(quoteIdent);
  const comparable = (alias: string): string =>
    `(${table.columns.map((c) => `${alias}.${quoteIdent(c)}${table.textCompared.has(c) ? '::text' : ''}`).join(', ')})`;
  const changed = (old: string, next: string): string => `${comparable(old)} is distinct from ${comparable(next)}`;
  const history = (operation: 'update' | 'delete', source: string): string =>
    `insert into kpi_migrate.row_history (run_id, table_name, row_id, operation, old_row)
     select $1::bigint, '${table.name}', h.id, '${operation}', to_jsonb(h) from ${source} h`;
  return {
    target,
    staging,
    // The COPY columns and no constraints: COPY checks types, the upsert checks the rest.
    createStaging: `create temp table ${staging} on commit drop as select ${columns.join(', ')}, first_run_id, last_run_id from ${target} with no data`,
    // Every probe of the target below goes through a LATERAL subquery with LIMIT (or OFFSET 0),
    // which PostgreSQL never flattens into a join: a batch is a few thousand rows against a target
    // of millions, and a hash join would read the whole target once per batch (quadratic in a run).
    selectHolders: `with probed as (
        select r.source_id as claimant, t.id, t.source_entity, t.source_id, t.last_run_id
        from unnest($1::uuid[], $3::text[]) as r(id, source_id)
        cross join lateral (select t.id, t.source_entity, t.source_id, t.last_run_id from ${target} t where t.id = r.id limit 1) t
      )
      select id::text as id, source_entity, source_id, last_run_id::text as last_run_id, false as summary
      from probed where (source_entity, source_id) is distinct from ($2::text, claimant)
      union all
      select null, null, null, (count(*) filter (where (source_entity, source_id) is not distinct from ($2::text, claimant)))::text, true
      from probed`,
    sourcesHaveRows: `select exists (
        select 1 from unnest($2::text[]) as r(source_id)
        cross join lateral (select 1 from ${target} t where t.source_entity = $1::text and t.source_id = r.source_id limit 1) t
      ) as found`,
    copyColumns: [...table.columns, 'first_run_id', 'last_run_id'],
    deleteDropped: `with dropped as (
        delete from ${target} t
        where t.ctid = any(array(
          select held.ctid
          from (select distinct s.source_entity, s.source_id from ${staging} s) r
          cross join lateral (select t.ctid, t.id from ${target} t where t.source_entity = r.source_entity and t.source_id = r.source_id offset 0) held
          where not exists (select 1 from ${staging} s where s.id = held.id)
        ))
        returning t.*
      )
      ${history('delete', 'dropped')}`,
    // One join of staging against the target finds the new and the changed rows (with the old
    // images); unchanged rows go no further, so a re-run costs one index probe per row.
    upsert: `with changes as materialized (
        select s.*, t.id is null as is_new, case when t.id is not null then to_jsonb(t) end as old_row
        from ${staging} s
        left join lateral (select * from ${target} t where t.id = s.id limit 1) t on true
        where t.id is null or (t.source_entity is not null and ${changed('t', 's')})
      ), history as (
        insert into kpi_migrate.row_history (run_id, table_name, row_id, operation, old_row)
        select $1::bigint, '${table.name}', c.id, 'update', c.old_row from changes c where not c.is_new
      ), upserted as (
        insert into ${target} as t (${columns.join(', ')}, first_run_id, last_run_id)
        select ${columns.join(', ')}, $1::bigint, $1::bigint from changes
        on conflict (id) do update set
          ${[...table.columns.filter((c) => c !== 'id'), 'last_run_id'].map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(', ')}
        where t.source_entity is not null and ${changed('t', 'excluded')}
        returning (xmax = 0) as inserted
      )
      select (count(*) filter (where inserted))::int as inserted, (count(*) filter (where not inserted))::int as updated
      from upserted`,
    clearStaging: `truncate ${staging}`,
  };
}
