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
 * The PostgreSQL server of this test run: TEST_DATABASE_URL's, or the one the global setup
 * started without it; undefined only when neither could be had (then tests use PGlite).
 */
export function testServerUrl(): string | undefined {
  return inject('pgServerUrl') || undefined;
}

/** A new database on the test server, cloned from `template` (which must have no connection open). */
export async function cloneDatabase(serverUrl: string, template: string): Promise<TestDatabase> {
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

/**
 * A fresh, migrated database for one test file: cloned from the run's template on the test
 * server, or an embedded PGlite when there is no server.
 */
export async function createTestDatabase(options: { pgliteDir?: string } = {}): Promise<TestDatabase> {
  const serverUrl = testServerUrl();
  const template = inject('pgTemplateDatabase');
  if (serverUrl && template) return cloneDatabase(serverUrl, template);
  const sql = await openPgliteClient(options.pgliteDir);
  await applyMigrations(sql);
  return {
    url: options.pgliteDir ? `pglite://${options.pgliteDir}` : 'pglite://memory',
    sql,
    drop: () => sql.close(),
  };
}

/** True when tests run against a real PostgreSQL server (always, unless none could be started). */
export function usesRealPostgres(): boolean {
  return Boolean(testServerUrl() && inject('pgTemplateDatabase'));
}
