import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { RenderedRows } from './ceiling.js';
import { withClient, type BenchDatabases } from './postgres.js';

const COPY_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** One line of COPY text → its fields (`\N` is NULL), as a per-record script would have sent them. */
export function copyFields(line: string): (string | null)[] {
  return line.split('\t').map((field) =>
    field === '\\N' ? null : field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, escape: string) => {
      if (escape.startsWith('x')) return String.fromCharCode(parseInt(escape.slice(1), 16));
      if (/^[0-7]/.test(escape)) return String.fromCharCode(parseInt(escape, 8));
      return COPY_ESCAPES[escape] ?? escape;
    }),
  );
}

async function* lines(file: string): AsyncGenerator<string> {
  const reader = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  try {
    yield* reader;
  } finally {
    reader.close();
  }
}

/**
 * About `subsetRows` of the rendered rows that hold together: the first links, and data rows
 * of those links only (the foreign key holds), links first.
 */
async function subsetOf(rendered: RenderedRows, subsetRows: number): Promise<{ links: (string | null)[][]; data: (string | null)[][] }> {
  const links: (string | null)[][] = [];
  const linkIds = new Set<string>();
  const wantedLinks = Math.max(1, Math.round(subsetRows / 10));
  for await (const line of lines(rendered.files.kpi_links)) {
    if (links.length >= wantedLinks) break;
    const fields = copyFields(line);
    links.push(fields);
    linkIds.add(String(fields[rendered.columns.kpi_links.indexOf('id')]));
  }
  const data: (string | null)[][] = [];
  const linkColumn = rendered.columns.kpi_data.indexOf('kpi_link_id');
  for await (const line of lines(rendered.files.kpi_data)) {
    if (links.length + data.length >= subsetRows) break;
    const fields = copyFields(line);
    if (linkIds.has(String(fields[linkColumn]))) data.push(fields);
  }
  return { links, data };
}

/**
 * The old per-record scripts: one INSERT per row, each its own transaction (autocommit), into
 * the same tables and indexes. Measured on a subset: at a couple of thousand rows a second the
 * whole set would take minutes, and the rate does not change with size.
 */
export async function measureNaiveBaseline(rendered: RenderedRows, databases: BenchDatabases, subsetRows: number): Promise<{ seconds: number; rows: number }> {
  const subset = await subsetOf(rendered, subsetRows);
  const databaseUrl = await databases.createMigrated('naive');
  try {
    return await withClient(databaseUrl, async (client) => {
      const insert = (table: 'kpi_links' | 'kpi_data') => {
        const columns = rendered.columns[table];
        return `insert into public.${table} (${columns.join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')})`;
      };
      const started = performance.now();
      for (const [table, rows] of [['kpi_links', subset.links], ['kpi_data', subset.data]] as const) {
        const statement = insert(table);
        for (const row of rows) await client.query(statement, row);
      }
      return { seconds: (performance.now() - started) / 1000, rows: subset.links.length + subset.data.length };
    });
  } finally {
    await databases.drop(databaseUrl);
  }
}
