import pg from 'pg';
import { openPgClient } from '../../src/db/pg-client.js';
import { applyMigrations } from '../../src/load/migrate.js';
import { quoteIdent } from '../../src/db/identifiers.js';

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function adminQuery(serverUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Creates a database, applies every migration, and returns its name to clone per test file. */
export async function prepareTemplateDatabase(serverUrl: string): Promise<string> {
  const name = `kpi_migrate_template_${process.pid}`;
  await adminQuery(serverUrl, `drop database if exists ${quoteIdent(name)}`);
  await adminQuery(serverUrl, `create database ${quoteIdent(name)}`);
  const sql = openPgClient(databaseUrl(serverUrl, name), 1);
  try {
    await applyMigrations(sql);
  } finally {
    await sql.close();
  }
  return name;
}

export async function dropTemplateDatabase(serverUrl: string, name: string): Promise<void> {
  await adminQuery(serverUrl, `drop database if exists ${quoteIdent(name)} with (force)`);
}
