import type { SqlSession } from '../../src/db/sql-client.js';

/**
 * The progress cache computed again in TypeScript, row by row over the target's rows, written
 * apart from the SQL (src/load/progress-cache.ts) so that each checks the other. Decimals are
 * exact (bigint and a scale), timestamps compared as fixed-width UTC text.
 */

export interface LinkProgress {
  kpi_link_id: string;
  tenant_id: string;
  kpi_id: string;
  goal_id: string | null;
  current_value: string | null;
  current_value_at: string | null;
  target_value: string | null;
  target_date: string | null;
  progress_percentage: string | null;
  status: string;
  calculation_method: string;
}

export interface GoalProgress {
  tenant_id: string;
  goal_id: string;
  child_count: number;
  completed_child_count: number;
  total_weight: string;
  weighted_progress: string | null;
}

interface Decimal {
  units: bigint;
  scale: number;
}

function decimal(text: string): Decimal {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = (negative ? text.slice(1) : text).split('.');
  const units = BigInt(`${whole}${fraction}`);
  return { units: negative ? -units : units, scale: fraction.length };
}

const pow10 = (n: number): bigint => 10n ** BigInt(n);

function add(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: a.units * pow10(scale - a.scale) + b.units * pow10(scale - b.scale), scale };
}

function multiply(a: Decimal, b: Decimal): Decimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** a / b × factor, rounded half away from zero to 4 decimals; null when b is 0. */
function quotient4(a: Decimal, b: Decimal, factor: bigint): Decimal | null {
  if (b.units === 0n) return null;
  const negative = a.units < 0n !== b.units < 0n && a.units !== 0n;
  const numerator = (a.units < 0n ? -a.units : a.units) * pow10(b.scale) * factor * 10_000n;
  const denominator = (b.units < 0n ? -b.units : b.units) * pow10(a.scale);
  const rounded = (2n * numerator + denominator) / (2n * denominator);
  return { units: negative ? -rounded : rounded, scale: 4 };
}

function text(value: Decimal): string {
  const negative = value.units < 0n;
  const digits = (negative ? -value.units : value.units).toString().padStart(value.scale + 1, '0');
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale);
  return `${negative ? '-' : ''}${whole}${value.scale > 0 ? `.${fraction}` : ''}`;
}

/** A decimal as a plain number text without trailing zeros, for comparing values of any scale. */
export function canonicalDecimal(value: string | null): string | null {
  if (value === null) return null;
  if (!value.includes('.')) return value === '-0' ? '0' : value;
  const trimmed = value.replace(/0+$/, '').replace(/\.$/, '');
  return trimmed === '-0' ? '0' : trimmed;
}

const UTC = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`;

interface DataRow {
  id: string;
  link: string;
  category: string;
  value: string;
  postDate: string;
  recordedAt: string | null;
}

/** (post_date, recorded_at — none before any —, id) */
function compareRows(a: DataRow, b: DataRow): number {
  if (a.postDate !== b.postDate) return a.postDate < b.postDate ? -1 : 1;
  if (a.recordedAt !== b.recordedAt) {
    if (a.recordedAt === null) return -1;
    if (b.recordedAt === null) return 1;
    return a.recordedAt < b.recordedAt ? -1 : 1;
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export async function expectedProgress(sql: SqlSession, schema = 'public'): Promise<{ links: LinkProgress[]; goals: GoalProgress[] }> {
  const { rows: links } = await sql.query<{ id: string; tenant_id: string; kpi_id: string; goal_id: string | null; weight: string | null }>(
    `select id::text as id, tenant_id::text as tenant_id, kpi_id::text as kpi_id, goal_id::text as goal_id, weight::text as weight from ${schema}.kpi_links`,
  );
  const { rows: data } = await sql.query<{ id: string; link: string; category: string; value: string; post_date: string; recorded_at: string | null }>(
    `select id::text as id, kpi_link_id::text as link, data_category as category, post_value::text as value,
            ${UTC('post_date')} as post_date, ${UTC('recorded_at')} as recorded_at
       from ${schema}.kpi_data`,
  );
  const byLink = new Map<string, DataRow[]>();
  for (const row of data) {
    const list = byLink.get(row.link) ?? [];
    list.push({ id: row.id, link: row.link, category: row.category, value: row.value, postDate: row.post_date, recordedAt: row.recorded_at });
    byLink.set(row.link, list);
  }
  const linkRows: LinkProgress[] = [];
  const goals = new Map<string, { tenant: string; goal: string; children: number; completed: number; weight: Decimal; weighted: Decimal | null }>();
  for (const link of links) {
    const rows = (byLink.get(link.id) ?? []).sort(compareRows);
    const actuals = rows.filter((row) => row.category === 'actual');
    const targets = rows.filter((row) => row.category === 'target');
    const actual = actuals.at(-1);
    const target = (actual === undefined ? undefined : targets.find((row) => row.postDate >= actual.postDate)) ?? targets.at(-1);
    const progress = actual === undefined || target === undefined ? null : quotient4(decimal(actual.value), decimal(target.value), 100n);
    const status = actual === undefined ? 'not_started' : progress !== null && progress.units >= 100n * 10_000n ? 'completed' : 'in_progress';
    linkRows.push({
      kpi_link_id: link.id,
      tenant_id: link.tenant_id,
      kpi_id: link.kpi_id,
      goal_id: link.goal_id,
      current_value: actual?.value ?? null,
      current_value_at: actual?.postDate ?? null,
      target_value: target?.value ?? null,
      target_date: target?.postDate ?? null,
      progress_percentage: progress === null ? null : text(progress),
      status,
      calculation_method: 'latest_actual',
    });
    if (link.goal_id === null) continue;
    const key = `${link.tenant_id} ${link.goal_id}`;
    const goal = goals.get(key) ?? { tenant: link.tenant_id, goal: link.goal_id, children: 0, completed: 0, weight: decimal('0'), weighted: null };
    const weight = decimal(link.weight ?? '1');
    goal.children += 1;
    if (status === 'completed') goal.completed += 1;
    goal.weight = add(goal.weight, weight);
    if (progress !== null) goal.weighted = add(goal.weighted ?? decimal('0'), multiply(weight, progress));
    goals.set(key, goal);
  }
  const goalRows = [...goals.values()].map((goal) => {
    const weighted = goal.weighted === null ? null : quotient4(goal.weighted, goal.weight, 1n);
    return {
      tenant_id: goal.tenant,
      goal_id: goal.goal,
      child_count: goal.children,
      completed_child_count: goal.completed,
      total_weight: text(goal.weight),
      weighted_progress: weighted === null ? null : text(weighted),
    };
  });
  return { links: linkRows.sort((a, b) => (a.kpi_link_id < b.kpi_link_id ? -1 : 1)), goals: goalRows.sort((a, b) => (`${a.tenant_id} ${a.goal_id}` < `${b.tenant_id} ${b.goal_id}` ? -1 : 1)) };
}

/** The cache tables as the same shapes, numerics canonical, timestamps as fixed-width UTC text. */
export async function cachedProgress(sql: SqlSession, schema = 'public'): Promise<{ links: LinkProgress[]; goals: GoalProgress[] }> {
  const { rows: links } = await sql.query<LinkProgress>(
    `select kpi_link_id::text as kpi_link_id, tenant_id::text as tenant_id, kpi_id::text as kpi_id, goal_id::text as goal_id,
            current_value::text as current_value, ${UTC('current_value_at')} as current_value_at,
            target_value::text as target_value, ${UTC('target_date')} as target_date,
            progress_percentage::text as progress_percentage, status, calculation_method
       from ${schema}.kpi_progress_cache order by kpi_link_id`,
  );
  const { rows: goals } = await sql.query<GoalProgress>(
    `select tenant_id::text as tenant_id, goal_id::text as goal_id, child_count, completed_child_count,
            total_weight::text as total_weight, weighted_progress::text as weighted_progress
       from ${schema}.goal_progress_cache order by tenant_id, goal_id`,
  );
  return { links, goals };
}

/** Both sides with every decimal canonical, so that 2.50 and 2.5 compare equal (the values, not their scale). */
export function canonical(progress: { links: LinkProgress[]; goals: GoalProgress[] }): { links: LinkProgress[]; goals: GoalProgress[] } {
  return {
    links: progress.links.map((row) => ({
      ...row,
      current_value: canonicalDecimal(row.current_value),
      target_value: canonicalDecimal(row.target_value),
      progress_percentage: canonicalDecimal(row.progress_percentage),
    })),
    goals: progress.goals.map((row) => ({ ...row, total_weight: canonicalDecimal(row.total_weight)!, weighted_progress: canonicalDecimal(row.weighted_progress) })),
  };
}
