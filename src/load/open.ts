import { MigrateError } from '../errors.js';
import type { SqlClient } from './sql-client.js';
import { openPgClient } from './pg-client.js';
import { openPgliteClient } from './pglite-client.js';

/** A PostgreSQL server (`postgres://…`, `postgresql://…`), which other threads and processes can reach too; not PGlite. */
export function isPostgresServerUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/**
 * `postgres://…` / `postgresql://…` → real PostgreSQL;
 * `pglite://<dir>` → embedded PGlite on disk; `pglite://memory` → embedded, in memory.
 */
export async function openSqlClient(url: string): Promise<SqlClient> {
  if (isPostgresServerUrl(url)) return openPgClient(url);
  if (url.startsWith('pglite://')) {
    const where = url.slice('pglite://'.length);
    return openPgliteClient(where === 'memory' || where === '' ? undefined : where);
  }
  throw new MigrateError('CONFIG_INVALID', 'database URL must start with postgres://, postgresql:// or pglite://');
}
