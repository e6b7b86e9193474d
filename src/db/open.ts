import { MigrateError } from '../errors.js';
import type { SqlClient } from './sql-client.js';

/** A PostgreSQL server (`postgres://…`, `postgresql://…`), which other threads and processes can reach too; not PGlite. */
export function isPostgresServerUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/**
 * `postgres://…` / `postgresql://…` → real PostgreSQL;
 * `pglite://<dir>` → embedded PGlite on disk; `pglite://memory` → embedded, in memory.
 * Each driver is loaded when first used: a thread that reads export files needs neither.
 */
export async function openSqlClient(url: string): Promise<SqlClient> {
  if (isPostgresServerUrl(url)) return (await import('./pg-client.js')).openPgClient(url);
  if (url.startsWith('pglite://')) {
    const where = url.slice('pglite://'.length);
    return (await import('./pglite-client.js')).openPgliteClient(where === 'memory' || where === '' ? undefined : where);
  }
  throw new MigrateError('CONFIG_INVALID', 'database URL must start with postgres://, postgresql:// or pglite://');
}
