import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { SqlClient } from '../../src/db/sql-client.js';
import { openPgClient } from '../../src/db/pg-client.js';
import { openPgliteClient } from '../../src/db/pglite-client.js';
import { applyMigrations } from '../../src/load/migrate.js';
import { quoteIdent } from '../../src/db/identifiers.js';
import { adminQuery, databaseUrl } from './database-template.js';

export interface TestDatabase {
  /** A URL the CLI accepts (postgres://… or pglite://<dir>). */
  url: string;
  sql: SqlClient;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: cloned from the run's template on
 * TEST_DATABASE_URL's server, or an embedded PGlite when no server is configured.
 */
export async function createTestDatabase(options: { pgliteDir?: string } = {}): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  const template = inject('pgTemplateDatabase');
  if (serverUrl && template) {
    const name = `kpi_migrate_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(serverUrl, `create database ${quoteIdent(name)} template ${quoteIdent(template)}`);
    const url = databaseUrl(serverUrl, name);
    const sql = openPgClient(url);
    return {
      url,
      sql,
      async drop() {
        await sql.close();
        await adminQuery(serverUrl, `drop database if exists ${quoteIdent(name)} with (force)`);
      },
    };
  }
  const sql = await openPgliteClient(options.pgliteDir);
  await applyMigrations(sql);
  return {
    url: options.pgliteDir ? `pglite://${options.pgliteDir}` : 'pglite://memory',
    sql,
    drop: () => sql.close(),
  };
}

/** True when tests run against real PostgreSQL (TEST_DATABASE_URL), as CI does. */
export function usesRealPostgres(): boolean {
  return Boolean(process.env.TEST_DATABASE_URL && inject('pgTemplateDatabase'));
}
