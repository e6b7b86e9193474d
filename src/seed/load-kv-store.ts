import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { MigrateError } from '../errors.js';
import { quoteIdent } from '../db/identifiers.js';
import type { SqlClient } from '../db/sql-client.js';

/**
 * Loads kv_store JSON lines (as writeKvStore writes them) into a PostgreSQL table
 * `key text primary key, value jsonb`, creating it if missing. Lines are COPYed as jsonb into
 * a transaction's temporary table and split there, so numbers never pass through JavaScript:
 * jsonb keeps them digit for digit.
 */

export interface KvStoreTarget {
  /** Default `kv_store`. */
  table?: string;
  /** Default: the connection's search path (usually `public`); created if missing. */
  schema?: string;
}

export interface LoadKvStoreOptions extends KvStoreTarget {
  /** Rows per COPY and transaction; default 5,000. */
  batchRows?: number;
  /** Empty the table first (a re-seed); default false, and a key already there is an error. */
  replace?: boolean;
}

export function kvStoreTableName(target: KvStoreTarget = {}): string {
  const table = quoteIdent(target.table ?? 'kv_store');
  return target.schema ? `${quoteIdent(target.schema)}.${table}` : table;
}

export async function createKvStoreTable(sql: SqlClient, target: KvStoreTarget = {}): Promise<void> {
  if (target.schema) await sql.query(`create schema if not exists ${quoteIdent(target.schema)}`);
  await sql.query(`create table if not exists ${kvStoreTableName(target)} (key text primary key, value jsonb not null)`);
}

/** Resolves to the rows loaded. */
export async function loadKvStore(sql: SqlClient, file: string, options: LoadKvStoreOptions = {}): Promise<number> {
  const table = kvStoreTableName(options);
  const batchRows = options.batchRows ?? 5000;
  await createKvStoreTable(sql, options);
  if (options.replace) await sql.query(`truncate ${table}`);

  let loaded = 0;
  let lineNumber = 0;
  let firstLine = 1;
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    const lines = `${firstLine}–${lineNumber}`;
    batch = [];
    firstLine = lineNumber + 1;
    try {
      loaded += await sql.transaction(async (tx) => {
        await tx.query('create temporary table kv_store_lines (doc jsonb) on commit drop');
        await tx.copyFrom('kv_store_lines', ['doc'], rows.join(''));
        const inserted = await tx.query(`insert into ${table} (key, value) select doc->>'key', doc->'value' from kv_store_lines`);
        return inserted.rowCount;
      });
    } catch (error) {
      throw new MigrateError('TARGET_UNAVAILABLE', `loading ${file} lines ${lines} into ${table} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };

  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    batch.push(`${copyTextField(line)}\n`);
    if (batch.length >= batchRows) await flush();
  }
  await flush();
  return loaded;
}

/** A value in COPY's text format: backslash and the row/column delimiters escaped. */
function copyTextField(text: string): string {
  return text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}
