import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { applyMigrations } from '../src/load/migrate.js';
import { openPgClient } from '../src/db/pg-client.js';

/** The target tables, parents first (kpi_data references kpi_links). */
export const TARGET_TABLES = ['kpi_links', 'kpi_data'] as const;
export type TargetTable = (typeof TARGET_TABLES)[number];

/**
 * Throw-away databases on one PostgreSQL server: each measurement gets a fresh one, so none
 * inherits another's rows, bloat or cache. All are dropped at the end, whatever happens.
 */
export class BenchDatabases {
  readonly #adminUrl: string;
  readonly #created: string[] = [];
  #counter = 0;

  constructor(adminUrl: string) {
    this.#adminUrl = adminUrl;
  }

  /** A new empty database; its URL. */
  async create(purpose: string): Promise<string> {
    const name = `kpi_bench_${process.pid}_${++this.#counter}_${purpose.replace(/[^a-z0-9]/g, '')}`;
    await this.#admin(`create database ${name}`);
    this.#created.push(name);
    const url = new URL(this.#adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** A new database with the tool's schema applied (the same tables and indexes a run writes into). */
  async createMigrated(purpose: string): Promise<string> {
    const url = await this.create(purpose);
    const sql = openPgClient(url, 1);
    try {
      await applyMigrations(sql, 'public');
    } finally {
      await sql.close();
    }
    return url;
  }

  async drop(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    await this.#admin(`drop database if exists ${name} with (force)`);
    const at = this.#created.indexOf(name);
    if (at !== -1) this.#created.splice(at, 1);
  }

  async dropAll(): Promise<void> {
    for (const name of [...this.#created].reverse()) {
      await this.#admin(`drop database if exists ${name} with (force)`).catch(() => {});
    }
    this.#created.length = 0;
  }

  async serverVersion(): Promise<string> {
    const client = new pg.Client({ connectionString: this.#adminUrl });
    await client.connect();
    try {
      return String((await client.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?');
    } finally {
      await client.end();
    }
  }

  async #admin(statement: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.#adminUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  }
}

/** Runs `work` with one plain connection (autocommit, as a per-record script would have it). */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'kpi-migrate-bench' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The columns of a target table, in table order. */
export async function tableColumns(client: pg.Client, table: TargetTable): Promise<string[]> {
  const { rows } = await client.query<{ column_name: string }>(
    `select column_name from information_schema.columns where table_schema = 'public' and table_name = $1 order by ordinal_position`,
    [table],
  );
  return rows.map((row) => row.column_name);
}

export async function rowCount(client: pg.Client, table: TargetTable): Promise<number> {
  return Number((await client.query<{ n: string }>(`select count(*)::text as n from public.${table}`)).rows[0]?.n ?? 0);
}

/** Every row of a table as COPY text into `file`, all columns in table order. */
export async function dumpTable(url: string, table: TargetTable, file: string): Promise<void> {
  await withClient(url, async (client) => {
    const columns = await tableColumns(client, table);
    await pipeline(client.query(copyTo(`copy public.${table} (${columns.join(', ')}) to stdout`)), createWriteStream(file));
  });
}

/** COPY FROM STDIN of a dump into a table; the rows COPY reports. */
export async function copyIntoTable(client: pg.Client, table: TargetTable, columns: readonly string[], file: string): Promise<number> {
  const stream = client.query(copyFrom(`copy public.${table} (${columns.join(', ')}) from stdin`));
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), stream);
  return Number(stream.rowCount);
}
