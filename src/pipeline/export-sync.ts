import type { ResolvedConfig } from '../config/resolve.js';
import { configHash } from '../config/secrets.js';
import { openSqlClient } from '../db/open.js';
import { MigrateError } from '../errors.js';
import { createIncrementalExportSource } from '../extract/incremental-export-source.js';
import { findRun, resolveRunId } from '../load/ledger.js';
import { applyMigrations } from '../load/migrate.js';
import { defaultTableNames } from '../model/entities.js';
import { fullExportImage, positionsFromOrigins } from './export-points.js';
import { codeVersion } from './migrate.js';
import { syncChanges, type SyncProgressSink, type SyncResult } from './sync.js';

export interface ExportSyncOptions {
  /** The full run (an id or a label) whose target the incremental exports are applied to. */
  run: string;
  /** Changes per transaction; default the engine's. */
  batchChanges?: number;
  signal?: AbortSignal;
  progress?: SyncProgressSink;
}

/**
 * `sync --source export`: the incremental exports in the configured export directory that follow
 * what the run's target holds (its full export's exportTime, then each window applied), window
 * after window, through the sync engine. A window leaving a gap is refused (SYNC_REFUSED) before
 * anything is written.
 */
export async function syncFromExports(config: ResolvedConfig, options: ExportSyncOptions): Promise<SyncResult> {
  const source = config.source;
  if (source?.kind !== 'export') throw new MigrateError('USAGE', 'sync from incremental exports needs --source export and --export-dir');
  const tableNames = defaultTableNames(source.tablePrefix, source.tables);
  const sql = await openSqlClient(config.target.databaseUrl);
  const changes = createIncrementalExportSource({ dir: source.dir, tableNames });
  try {
    await applyMigrations(sql, config.target.schema);
    const baseRunId = await resolveRunId(sql, options.run);
    const base = await findRun(sql, baseRunId);
    if (base !== undefined && base.sourceKind !== 'export') {
      throw new MigrateError('SYNC_REFUSED', `run ${baseRunId} read from ${base.sourceKind}, not from an export: incremental exports continue a run of the table's full export`);
    }
    return await syncChanges({
      sql,
      targetSchema: config.target.schema,
      baseRunId,
      changes: (from) => {
        // Wrapped: the origins are read when the engine asks, after it has (re)built the image and its positions.
        async function* withOrigins() {
          yield* changes.changes(await positionsFromOrigins(sql, baseRunId, from));
        }
        return withOrigins();
      },
      imageSource: () => fullExportImage(sql, baseRunId, source.dir, tableNames),
      ...(options.batchChanges === undefined ? {} : { batchChanges: options.batchChanges }),
      environment: config.environment,
      ledgerOptions: { source: { kind: 'export', dir: source.dir }, sync: 'export' },
      codeVersion,
      configHash: configHash(config),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.progress === undefined ? {} : { progress: options.progress }),
    });
  } finally {
    await changes.close();
    await sql.close();
  }
}
