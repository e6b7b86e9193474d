import { quoteIdent } from '../db/identifiers.js';
import { GOAL_CACHE_COLUMNS, LINK_CACHE_COLUMNS, goalProgressQuery, linkProgressQuery } from '../load/progress-cache.js';
import type { SqlSession } from '../db/sql-client.js';
import { check, DifferenceList, type CheckResult } from './report.js';

interface CacheDifference {
  kind: 'missing' | 'extra' | 'changed';
  key: string;
  columns: string | null;
}

/**
 * Recomputes both progress cache tables from kpi_links and kpi_data (a query: nothing is
 * written) and compares them with what the tables hold, naming the first differing links and
 * goals. A cache never computed (empty while there are links) is a warning, not a failure:
 * `run --no-finalize`, or a target that was never finalized.
 */
export async function progressCacheCheck(sql: SqlSession, schema: string, limit: number): Promise<CheckResult> {
  const target = (table: string) => `${quoteIdent(schema)}.${table}`;
  const { rows: present } = await sql.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = $1 and table_name in ('kpi_progress_cache', 'goal_progress_cache')`,
    [schema],
  );
  if (present.length < 2) {
    return check('progress-cache', 'failed', `the progress cache tables are missing from schema ${schema} (migration 008_progress_cache creates them)`, { tables: present.map((r) => r.table_name) });
  }
  const { rows: sizes } = await sql.query<{ links: string; cached: string }>(
    `select (select count(*) from ${target('kpi_links')})::text as links, (select count(*) from ${target('kpi_progress_cache')})::text as cached`,
  );
  const links = Number(sizes[0]?.links ?? 0);
  const cached = Number(sizes[0]?.cached ?? 0);
  if (links > 0 && cached === 0) {
    return check('progress-cache', 'warning', `the progress cache was never computed for the ${links} links (kpi-migrate finalize computes it)`, { links, cachedLinks: 0 });
  }

  const { link: linkDifferences, goal: goalDifferences } = await compareBoth(sql, schema, limit);
  const list = new DifferenceList(limit);
  for (const [what, found] of [['link', linkDifferences], ['goal', goalDifferences]] as const) {
    for (const difference of found.listed) {
      const message =
        difference.kind === 'missing'
          ? `${what} ${difference.key} has no cache row`
          : difference.kind === 'extra'
            ? `${what} ${difference.key} has a cache row but no longer exists`
            : `${what} ${difference.key}: cached ${difference.columns} differ from a fresh computation`;
      list.add({ kind: difference.kind === 'missing' ? 'missing_row' : difference.kind === 'extra' ? 'extra_row' : 'changed_value', id: difference.key, message, ...(difference.columns ? { column: difference.columns } : {}) });
    }
  }
  list.found = linkDifferences.found + goalDifferences.found;
  const evidence = { links, cachedLinks: cached, differingLinks: linkDifferences.found, differingGoals: goalDifferences.found };
  return list.found === 0
    ? check('progress-cache', 'passed', `kpi_progress_cache and goal_progress_cache equal a fresh computation (${links} links)`, evidence)
    : check('progress-cache', 'failed', `${linkDifferences.found} link(s) and ${goalDifferences.found} goal(s) differ from a fresh computation (kpi-migrate finalize recomputes them)`, evidence, list);
}

/**
 * Both cache tables against a fresh computation in one statement: the link rows are computed once
 * and the goal rows summed from them (as finalize does), where a statement per table computed the
 * link rows twice.
 */
async function compareBoth(sql: SqlSession, schema: string, limit: number): Promise<Record<'link' | 'goal', { found: number; listed: CacheDifference[] }>> {
  const target = (table: string) => `${quoteIdent(schema)}.${table}`;
  const { rows } = await sql.query<{ what: 'link' | 'goal'; found: string; kind: CacheDifference['kind']; key: string; columns: string | null }>(
    `with computed_links as (${linkProgressQuery(schema, 'true', 'true')}
     ), computed_goals as (${goalProgressQuery('computed_links', 'true')}
     ), link_differences as (${differing('computed_links', target('kpi_progress_cache'), ['kpi_link_id'], LINK_CACHE_COLUMNS.slice(1))}
     ), goal_differences as (${differing('computed_goals', target('goal_progress_cache'), ['tenant_id', 'goal_id'], GOAL_CACHE_COLUMNS.slice(2))}
     )
     (select 'link' as what, count(*) over ()::text as found, kind, key, columns from link_differences order by key limit $1)
     union all
     (select 'goal', count(*) over ()::text, kind, key, columns from goal_differences order by key limit $1)`,
    [limit],
  );
  const of = (what: 'link' | 'goal') => {
    const listed = rows.filter((row) => row.what === what);
    return { found: Number(listed[0]?.found ?? 0), listed: listed.map((row) => ({ kind: row.kind, key: row.key, columns: row.columns })) };
  };
  return { link: of('link'), goal: of('goal') };
}

/** The rows of `computed` and `table` that differ, by key: missing from the table, extra in it, or changed (which columns). */
function differing(computed: string, table: string, keys: readonly string[], values: readonly string[]): string {
  const joined = keys.map((k) => `c.${k} = t.${k}`).join(' and ');
  const key = keys.map((k) => `coalesce(c.${k}, t.${k})::text`).join(` || ' ' || `);
  const changedColumns = `array_to_string(array[${values.map((v) => `case when c.${v} is distinct from t.${v} then '${v}' end`).join(', ')}], ', ')`;
  return `
       select ${key} as key,
              case when t.${keys[0]} is null then 'missing' when c.${keys[0]} is null then 'extra' else 'changed' end as kind,
              case when t.${keys[0]} is not null and c.${keys[0]} is not null then ${changedColumns} end as columns
         from ${computed} c full join ${table} t on ${joined}
        where t.${keys[0]} is null or c.${keys[0]} is null
           or (${values.map((v) => `c.${v}`).join(', ')}) is distinct from (${values.map((v) => `t.${v}`).join(', ')})`;
}
