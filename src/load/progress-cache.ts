import { MigrateError } from '../errors.js';
import { quoteIdent } from '../db/identifiers.js';
import { KPI_DATA_TABLE, KPI_LINKS_TABLE, provenancedRows } from './target-table.js';
import { readRecordedLayout } from './target-ownership.js';
import type { SqlSession } from '../db/sql-client.js';

/**
 * The application's progress cache (contract §6), computed set-wise in SQL: `kpi_progress_cache`
 * (one row per kpi_links row) and `goal_progress_cache` (one row per tenant and goal that has
 * links). How §6 is read where it leaves room:
 * - "latest" and "first" order rows by (post_date, recorded_at, id), a null recorded_at before
 *   any time: the latest actual is the last in that order, the target the first target row with
 *   post_date ≥ the actual's, else (no actual, or none that late) the last target.
 * - progress_percentage = current / target × 100, rounded half away from zero to PROGRESS_SCALE
 *   decimals, computed exactly (no intermediate rounding); status compares that stored value.
 * - total_weight = Σ weight (1 when null) over every link of the goal, and weighted_progress =
 *   Σ weight × progress over the links with a progress ÷ total_weight: a link without progress
 *   counts as no progress rather than vanishing from the goal, and nothing is lost — Σ weight ×
 *   progress is total_weight × weighted_progress. Null when no link has a progress, or when
 *   total_weight is 0.
 */

/** Decimals of progress_percentage and weighted_progress. */
export const PROGRESS_SCALE = 4;
export const CALCULATION_METHOD = 'latest_actual';

/** The cache columns compared (and rewritten) by a refresh; last_calculated_at changes only with them. */
export const LINK_CACHE_COLUMNS = [
  'kpi_link_id',
  'tenant_id',
  'kpi_id',
  'goal_id',
  'current_value',
  'current_value_at',
  'target_value',
  'target_date',
  'progress_percentage',
  'status',
  'calculation_method',
] as const;
export const GOAL_CACHE_COLUMNS = ['tenant_id', 'goal_id', 'child_count', 'completed_child_count', 'total_weight', 'weighted_progress'] as const;

/** Same key as a plain `pg_advisory_xact_lock(PROGRESS_CACHE_LOCK_CLASS, hashtext(schema))`. */
export const PROGRESS_CACHE_LOCK_CLASS = 7312003;

export interface CacheTableCounts {
  /** Rows the refresh computed (its scope). */
  computed: number;
  inserted: number;
  /** Rows whose values changed (a row equal to its recomputation is not rewritten). */
  updated: number;
  /** Rows of links (or goals) that no longer exist. */
  deleted: number;
}

export interface ProgressCacheRefresh {
  links: CacheTableCounts;
  goals: CacheTableCounts;
  /** Every link, or only those asked for (and the other links of their goals). */
  scope: 'all' | 'links';
}

/**
 * `a / b × factor / 10^PROGRESS_SCALE` rounded half away from zero to PROGRESS_SCALE decimals,
 * exactly: div() truncates the exact quotient, where `/` would first round at a scale of its own
 * (a second rounding that could differ from the first in the last digit). Null when b is 0.
 */
function roundedQuotient(a: string, b: string, factor: string): string {
  const unit = `0.${'0'.repeat(PROGRESS_SCALE - 1)}1`;
  return `(sign(${a}) * sign(${b}) * div(2 * abs(${a}) * ${factor} + abs(${b}), 2 * abs(nullif(${b}, 0))) * ${unit})`;
}

const PROGRESS_FACTOR = `1${'0'.repeat(PROGRESS_SCALE + 2)}`; // × 100 (a percentage) × 10^scale
const WEIGHTED_FACTOR = `1${'0'.repeat(PROGRESS_SCALE)}`;

/**
 * A query yielding the cache row of every link `linkCondition` selects (a condition on `l`, the
 * kpi_links row; `dataCondition` the same on `d.kpi_link_id`, so the index on kpi_data
 * (kpi_link_id, post_date) serves a partial refresh), with the link's `weight` for its goal.
 */
export function linkProgressQuery(schema: string, linkCondition: string, dataCondition: string): string {
  const links = `${quoteIdent(schema)}.kpi_links`;
  const data = `${quoteIdent(schema)}.kpi_data`;
  return `
  with latest_actual as (
    select distinct on (d.kpi_link_id) d.kpi_link_id, d.post_value, d.post_date
      from ${data} d
     where d.data_category = 'actual' and ${dataCondition}
     order by d.kpi_link_id, d.post_date desc, d.recorded_at desc nulls last, d.id desc
  ), next_target as (
    select distinct on (d.kpi_link_id) d.kpi_link_id, d.post_value, d.post_date
      from ${data} d
      join latest_actual a on a.kpi_link_id = d.kpi_link_id and d.post_date >= a.post_date
     where d.data_category = 'target' and ${dataCondition}
     order by d.kpi_link_id, d.post_date, d.recorded_at nulls first, d.id
  ), latest_target as (
    select distinct on (d.kpi_link_id) d.kpi_link_id, d.post_value, d.post_date
      from ${data} d
     where d.data_category = 'target' and ${dataCondition}
     order by d.kpi_link_id, d.post_date desc, d.recorded_at desc nulls last, d.id desc
  ), valued as (
    select l.id as kpi_link_id, l.tenant_id, l.kpi_id, l.goal_id, l.weight,
           a.kpi_link_id is not null as has_actual,
           a.post_value as current_value, a.post_date as current_value_at,
           case when n.kpi_link_id is not null then n.post_value else t.post_value end as target_value,
           case when n.kpi_link_id is not null then n.post_date else t.post_date end as target_date
      from ${links} l
      left join latest_actual a on a.kpi_link_id = l.id
      left join next_target n on n.kpi_link_id = l.id
      left join latest_target t on t.kpi_link_id = l.id
     where ${linkCondition}
  ), measured as (
    select v.*, ${roundedQuotient('v.current_value', 'v.target_value', PROGRESS_FACTOR)} as progress_percentage from valued v
  )
  select kpi_link_id, tenant_id, kpi_id, goal_id, weight, current_value, current_value_at, target_value, target_date, progress_percentage,
         case when not has_actual then 'not_started' when progress_percentage >= 100 then 'completed' else 'in_progress' end as status,
         '${CALCULATION_METHOD}'::text as calculation_method
    from measured`;
}

/**
 * A query yielding the goal rows of `linkRows` (a relation with tenant_id, goal_id, weight,
 * status and progress_percentage per link), for the goals `goalCondition` selects (on `r`).
 */
export function goalProgressQuery(linkRows: string, goalCondition: string): string {
  return `
  with goals as (
    select r.tenant_id, r.goal_id, count(*)::int as child_count,
           (count(*) filter (where r.status = 'completed'))::int as completed_child_count,
           sum(coalesce(r.weight, 1)) as total_weight,
           sum(coalesce(r.weight, 1) * r.progress_percentage) as weighted_sum
      from ${linkRows} r
     where r.goal_id is not null and ${goalCondition}
     group by r.tenant_id, r.goal_id
  )
  select tenant_id, goal_id, child_count, completed_child_count, total_weight,
         ${roundedQuotient('weighted_sum', 'total_weight', WEIGHTED_FACTOR)} as weighted_progress
    from goals`;
}

const distinctFrom = (columns: readonly string[], left: string, right: string): string =>
  `(${columns.map((c) => `${left}.${c}`).join(', ')}) is distinct from (${columns.map((c) => `${right}.${c}`).join(', ')})`;

/**
 * Recomputes the cache rows of `linkIds` and of their goals (their goal now and the one their
 * cache row names, should a link have moved), every link of those goals included so that a goal
 * row always sums fresh link rows; all links and goals when `linkIds` is omitted. Rows of links
 * and goals that no longer exist are deleted; a row equal to its recomputation is not rewritten.
 *
 * `session` must be a transaction's (READ COMMITTED, the default): refreshes of one schema take
 * turns on a transaction-scoped advisory lock, and each statement reads the data after the lock
 * is granted, so a refresh that waited never writes values older than those of the one before it.
 */
export async function refreshProgressCache(session: SqlSession, schema: string, linkIds?: readonly string[]): Promise<ProgressCacheRefresh> {
  const scope = linkIds === undefined ? 'all' : 'links';
  if (linkIds !== undefined && linkIds.length === 0) return { links: emptyCounts(), goals: emptyCounts(), scope };
  await session.query('select pg_advisory_xact_lock($1, hashtext($2))', [PROGRESS_CACHE_LOCK_CLASS, schema]);
  const target = (table: string) => `${quoteIdent(schema)}.${table}`;

  let linkParams: unknown[] = [];
  let goalParams: unknown[] = [];
  let asked: string | undefined;
  if (linkIds !== undefined) {
    asked = `{${[...new Set(linkIds.map((id) => id.toLowerCase()))].join(',')}}`;
    // Read before the link rows are rewritten: a link that moved to another goal leaves its old one.
    const { rows } = await session.query<{ tenant_ids: string[] | string; goal_ids: string[] | string; link_ids: string[] | string }>(
      `with goals as (
         select tenant_id, goal_id from ${target('kpi_links')} where id = any($1::uuid[]) and goal_id is not null
         union
         select tenant_id, goal_id from ${target('kpi_progress_cache')} where kpi_link_id = any($1::uuid[]) and goal_id is not null
       ), links as (
         select id from ${target('kpi_links')} where id = any($1::uuid[])
         union
         select l.id from ${target('kpi_links')} l join goals g on g.tenant_id = l.tenant_id and g.goal_id = l.goal_id
       )
       select array(select tenant_id::text from goals order by tenant_id, goal_id) as tenant_ids,
              array(select goal_id::text from goals order by tenant_id, goal_id) as goal_ids,
              array(select id::text from links) as link_ids`,
      [asked],
    );
    const row = rows[0]!;
    linkParams = [textArray(row.link_ids)];
    goalParams = [textArray(row.tenant_ids), textArray(row.goal_ids)];
  }

  const all = linkIds === undefined;
  const linkRows = linkProgressQuery(schema, all ? 'true' : 'l.id = any($1::uuid[])', all ? 'true' : 'd.kpi_link_id = any($1::uuid[])');
  const linkCounts = await upsertComputed(session, target('kpi_progress_cache'), LINK_CACHE_COLUMNS, 1, linkRows, linkParams);
  const linksDeleted = await session.query(
    `delete from ${target('kpi_progress_cache')} c
      where ${all ? 'true' : 'c.kpi_link_id = any($1::uuid[])'}
        and not exists (select 1 from ${target('kpi_links')} l where l.id = c.kpi_link_id)`,
    all ? [] : [asked],
  );

  const goalScope = all ? 'true' : '(r.tenant_id, r.goal_id) in (select * from unnest($1::uuid[], $2::uuid[]))';
  const cachedLinks = `(select l.tenant_id, l.goal_id, l.weight, c.status, c.progress_percentage
      from ${target('kpi_links')} l left join ${target('kpi_progress_cache')} c on c.kpi_link_id = l.id)`;
  const goalCounts = await upsertComputed(session, target('goal_progress_cache'), GOAL_CACHE_COLUMNS, 2, goalProgressQuery(cachedLinks, goalScope), goalParams);
  const goalsDeleted = await session.query(
    `delete from ${target('goal_progress_cache')} r
      where ${goalScope}
        and not exists (select 1 from ${target('kpi_links')} l where l.tenant_id = r.tenant_id and l.goal_id = r.goal_id)`,
    goalParams,
  );
  return {
    links: { ...countsOf(linkCounts[0]), deleted: linksDeleted.rowCount },
    goals: { ...countsOf(goalCounts[0]), deleted: goalsDeleted.rowCount },
    scope,
  };
}

/**
 * The links whose cache rows `runId` may have changed: links it inserted, changed or removed, and
 * the links of the kpi_data rows it inserted, changed or removed (a changed row's old link too,
 * from its image in row_history). What a converge run hands to refreshProgressCache.
 */
export async function linksTouchedByRun(session: SqlSession, schema: string, runId: string): Promise<string[]> {
  const layout = await readRecordedLayout(session, schema);
  const links = provenancedRows(schema, KPI_LINKS_TABLE, layout.kpi_links);
  const data = provenancedRows(schema, KPI_DATA_TABLE, layout.kpi_data);
  const { rows } = await session.query<{ id: string }>(
    `select l.id::text as id from ${links} l where l.last_run_id = $1::bigint
     union
     select d.kpi_link_id::text from ${data} d where d.last_run_id = $1::bigint
     union
     select case when h.table_name = 'kpi_links' then h.row_id::text else h.old_row ->> 'kpi_link_id' end
     from kpi_migrate.row_history h where h.run_id = $1::bigint`,
    [runId],
  );
  return rows.map((row) => row.id);
}

/**
 * Links the cache has no row for, and cache rows whose link is gone: what a partial refresh adds
 * to the links it was given, so that the cache never lacks a link whoever wrote it (the
 * application's own links included). Two anti-joins on primary keys, no pass over kpi_data.
 */
export async function linksMissingFromCache(session: SqlSession, schema: string): Promise<string[]> {
  const target = (table: string) => `${quoteIdent(schema)}.${table}`;
  const { rows } = await session.query<{ id: string }>(
    `select l.id::text as id from ${target('kpi_links')} l
     where not exists (select 1 from ${target('kpi_progress_cache')} c where c.kpi_link_id = l.id)
     union
     select c.kpi_link_id::text from ${target('kpi_progress_cache')} c
     where not exists (select 1 from ${target('kpi_links')} l where l.id = c.kpi_link_id)`,
  );
  return rows.map((row) => row.id);
}

function emptyCounts(): CacheTableCounts {
  return { computed: 0, inserted: 0, updated: 0, deleted: 0 };
}

function countsOf(row: { computed: number; inserted: number; updated: number } | undefined): Omit<CacheTableCounts, 'deleted'> {
  return { computed: Number(row?.computed ?? 0), inserted: Number(row?.inserted ?? 0), updated: Number(row?.updated ?? 0) };
}

/** pg parses a text[] into an array; PGlite's parser map (text form kept) may leave `{…}` text. */
function textArray(value: string[] | string): string {
  return Array.isArray(value) ? `{${value.join(',')}}` : value;
}

const REQUIRED_COLUMNS: Record<'kpi_progress_cache' | 'goal_progress_cache', readonly string[]> = {
  kpi_progress_cache: [...LINK_CACHE_COLUMNS, 'last_calculated_at'],
  goal_progress_cache: [...GOAL_CACHE_COLUMNS, 'last_calculated_at'],
};

/**
 * The cache tables as the application may have created them: every column a refresh writes must
 * be there (their types are the application's). Throws TARGET_SCHEMA naming each one missing.
 */
export async function checkProgressCacheTables(session: SqlSession, schema: string): Promise<void> {
  const { rows } = await session.query<{ table_name: string; column_name: string }>(
    `select table_name, column_name from information_schema.columns
      where table_schema = $1 and table_name in ('kpi_progress_cache', 'goal_progress_cache')`,
    [schema],
  );
  const problems: string[] = [];
  for (const [table, columns] of Object.entries(REQUIRED_COLUMNS)) {
    const present = new Set(rows.filter((row) => row.table_name === table).map((row) => row.column_name));
    if (present.size === 0) {
      problems.push(`table ${schema}.${table} is missing (migration 008_progress_cache creates it: kpi-migrate schema apply)`);
      continue;
    }
    for (const column of columns) if (!present.has(column)) problems.push(`column ${table}.${column} is missing`);
  }
  if (problems.length > 0) throw new MigrateError('TARGET_SCHEMA', `the progress cache cannot be written: ${problems.join('; ')}`, { details: { problems } });
}

/**
 * Writes the rows `computed` (a query) yields into a cache table whose first `keyCount` columns
 * are its key, rewriting only the rows that differ; how many it computed, inserted and updated.
 */
async function upsertComputed(
  session: SqlSession,
  table: string,
  columns: readonly string[],
  keyCount: number,
  computed: string,
  params: unknown[],
): Promise<{ computed: number; inserted: number; updated: number }[]> {
  const list = columns.join(', ');
  const key = columns.slice(0, keyCount).join(', ');
  const { rows } = await session.query<{ computed: number; inserted: number; updated: number }>(
    `with computed as (${computed}
     ), written as (
       insert into ${table} as c (${list}, last_calculated_at)
       select ${list}, now() from computed order by ${key}
       on conflict (${key}) do update set ${[...columns.slice(keyCount), 'last_calculated_at'].map((c) => `${c} = excluded.${c}`).join(', ')}
       where ${distinctFrom(columns, 'c', 'excluded')}
       returning (xmax = 0) as inserted
     )
     select (select count(*) from computed)::int as computed,
            (count(*) filter (where inserted))::int as inserted,
            (count(*) filter (where not inserted))::int as updated
       from written`,
    params,
  );
  return rows;
}
