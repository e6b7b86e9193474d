import path from 'node:path';
import { TARGET_TABLES, copyIntoTable, dumpTable, tableColumns, withClient, type BenchDatabases, type TargetTable } from './postgres.js';

/** The final target rows of a run, rendered by PostgreSQL itself as COPY text, table by table. */
export interface RenderedRows {
  files: Record<TargetTable, string>;
  columns: Record<TargetTable, string[]>;
  rows: number;
}

export async function renderTargetRows(databaseUrl: string, dir: string): Promise<RenderedRows> {
  const files = { kpi_links: path.join(dir, 'kpi_links.copy'), kpi_data: path.join(dir, 'kpi_data.copy') };
  const columns = await withClient(databaseUrl, async (client) => ({
    kpi_links: await tableColumns(client, 'kpi_links'),
    kpi_data: await tableColumns(client, 'kpi_data'),
  }));
  for (const table of TARGET_TABLES) await dumpTable(databaseUrl, table, files[table]);
  const rows = await withClient(databaseUrl, async (client) => {
    const { rows: counts } = await client.query<{ n: string }>('select ((select count(*) from public.kpi_links) + (select count(*) from public.kpi_data))::text as n');
    return Number(counts[0]?.n ?? 0);
  });
  return { files, columns, rows };
}

/**
 * The physical limit: COPY of the rendered rows into a freshly migrated database (the same
 * tables, the same indexes and foreign key), links then data. Nothing to parse, map or check.
 */
export async function measureCeiling(rendered: RenderedRows, databases: BenchDatabases): Promise<{ seconds: number; rows: number }> {
  const databaseUrl = await databases.createMigrated('ceiling');
  try {
    return await withClient(databaseUrl, async (client) => {
      const started = performance.now();
      let rows = 0;
      for (const table of TARGET_TABLES) rows += await copyIntoTable(client, table, rendered.columns[table], rendered.files[table]);
      const seconds = (performance.now() - started) / 1000;
      if (rows !== rendered.rows) throw new Error(`ceiling: COPY took ${rows} rows, ${rendered.rows} were rendered`);
      return { seconds, rows };
    });
  } finally {
    await databases.drop(databaseUrl);
  }
}
