import type { ResolvedConfig } from '../config/resolve.js';
import { applyMigrations } from '../load/migrate.js';
import { finalizeTarget, type FinalizeOptions, type FinalizeOutcome } from '../load/finalize.js';
import { openSqlClient } from '../db/open.js';

/**
 * `kpi-migrate finalize`: applies pending schema migrations (the progress cache tables come with
 * 008), then adds and validates the foreign key, builds the index and recomputes the progress
 * cache (src/load/finalize.ts).
 */
export async function finalizeConfigured(config: ResolvedConfig, options: FinalizeOptions = {}): Promise<FinalizeOutcome> {
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    await applyMigrations(sql, config.target.schema);
    return await finalizeTarget(sql, config.target.schema, options);
  } finally {
    await sql.close();
  }
}
