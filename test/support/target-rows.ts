import type { SqlSession } from '../../src/db/sql-client.js';
import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS } from '../../src/model/rows.js';

/** Every contract column of both target tables as text, ordered by id: what "the same rows" means. */
export async function targetRows(sql: SqlSession, schema = 'public'): Promise<{ links: string[][]; data: string[][] }> {
  const select = async (table: string, columns: readonly string[]) => {
    const list = columns.map((c) => `${c}::text`).join(', ');
    const { rows } = await sql.query<Record<string, string | null>>(`select ${list} from ${schema}.${table} order by id`);
    return rows.map((row) => columns.map((c) => row[c] ?? '∅'));
  };
  return { links: await select('kpi_links', KPI_LINK_COLUMNS), data: await select('kpi_data', KPI_DATA_COLUMNS) };
}

export async function rowsPerSourceEntity(sql: SqlSession, schema = 'public'): Promise<Record<string, number>> {
  const { rows } = await sql.query<{ source_entity: string; n: string }>(
    `select source_entity, count(*)::text as n from ${schema}.kpi_data group by 1 order by 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.source_entity, Number(r.n)]));
}

export async function rejectKeys(sql: SqlSession, runId: string): Promise<string[]> {
  const { rows } = await sql.query<{ k: string }>(
    `select source_entity || ' ' || coalesce(source_id, '∅') || ' ' || reason as k from kpi_migrate.rejects where run_id = $1 order by 1`,
    [runId],
  );
  return rows.map((r) => r.k);
}
