import type { ResolvedConfig } from '../config/resolve.js';
import { configHash, redactUrl } from '../config/secrets.js';
import { openSqlClient } from '../db/open.js';
import { MigrateError } from '../errors.js';
import { createStreamChangeSource, followableStreams } from '../extract/dynamodb-stream.js';
import { findRun, resolveRunId } from '../load/ledger.js';
import { applyMigrations } from '../load/migrate.js';
import { changeStreamsRecordedAt, recordedChangeStreams } from '../load/source-image.js';
import type { ChangeSource } from '../model/change.js';
import { configuredStreamOptions, openConfiguredSource } from '../reading/open-source.js';
import { codeVersion } from './migrate.js';
import { syncFromExports } from './export-sync.js';
import { syncChanges, type SyncProgressSink, type SyncResult } from './sync.js';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';

export interface SyncOptions {
  /** The full run to continue: its id, or its label. */
  run: string;
  /** Keep polling once caught up (`--follow`), or end there (`--until-caught-up`). */
  follow: boolean;
  batchChanges?: number;
  /** Between polls of a drained stream, when following. */
  pollMs?: number;
  signal?: AbortSignal;
  progress?: SyncProgressSink;
  /** A streams client of the caller's (fault injection in tests). */
  streamsClient?: DynamoDBStreamsClient;
}

export interface SyncOutcome extends SyncResult {
  environment: string;
  target: string;
}

/**
 * `kpi-migrate sync`: opens the target and the configured source's changes (a DynamoDB Stream, or
 * the incremental exports in `--export-dir`), and applies them to the run.
 */
export async function syncConfigured(config: ResolvedConfig, options: SyncOptions): Promise<SyncOutcome> {
  if (config.source?.kind === 'export') {
    if (options.follow) throw new MigrateError('USAGE', 'incremental exports are files written once: sync --source export applies those there are and ends (no --follow)');
    const result = await syncFromExports(config, options);
    return { ...result, environment: config.environment, target: redactUrl(config.target.databaseUrl) };
  }
  const streamOptions = configuredStreamOptions(config);
  if (streamOptions === undefined) {
    throw new MigrateError('USAGE', `sync reads DynamoDB Streams: it needs --source dynamodb (got ${config.source?.kind ?? 'no source'})`);
  }
  const sql = await openSqlClient(config.target.databaseUrl);
  let changeSource: ChangeSource | undefined;
  try {
    await applyMigrations(sql, config.target.schema);
    const baseRunId = await resolveRunId(sql, options.run);
    const base = await findRun(sql, baseRunId);
    if (base !== undefined && base.sourceKind !== 'dynamodb') {
      throw new MigrateError('SYNC_REFUSED', `run ${baseRunId} read from ${base.sourceKind}, not DynamoDB: its changes are not in a DynamoDB Stream`);
    }
    const recorded = await recordedChangeStreams(sql, baseRunId);
    if (recorded.length === 0) {
      throw new MigrateError(
        'SYNC_REFUSED',
        `run ${baseRunId} recorded no stream positions (it ran before this version recorded them): start a new full run with the tables' streams enabled, then sync that run`,
      );
    }
    followableStreams(recorded, streamOptions.tableNames);
    const source = createStreamChangeSource({
      ...streamOptions,
      recorded,
      recordedAt: (await changeStreamsRecordedAt(sql, baseRunId)) ?? new Date(),
      follow: options.follow,
      pollMs: options.pollMs,
      streamsClient: options.streamsClient,
    });
    changeSource = source;
    const result = await syncChanges({
      sql,
      targetSchema: config.target.schema,
      baseRunId,
      changes: (from, signal) => source.changes(from, signal),
      imageSource: () => openConfiguredSource(config),
      batchChanges: options.batchChanges,
      environment: config.environment,
      ledgerOptions: { source: config.source, follow: options.follow, batchChanges: options.batchChanges ?? null },
      codeVersion,
      configHash: configHash(config),
      signal: options.signal,
      progress: options.progress,
    });
    return { ...result, environment: config.environment, target: redactUrl(config.target.databaseUrl) };
  } finally {
    await changeSource?.close();
    await sql.close();
  }
}
