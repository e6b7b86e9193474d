import type { DynamoDbSourceOptions } from './dynamodb-source.js';
import { createExportSource, type ExportSourceOptions } from './export-source.js';
import { createKvSource, type KvSourceOptions } from './kv-source.js';
import type { LegacySource } from '../model/source.js';

/** Which legacy store to read, and how: one variant per source kind. */
export type OpenSourceConfig =
  | ({ kind: 'dynamodb' } & DynamoDbSourceOptions)
  | ({ kind: 'export' } & ExportSourceOptions)
  | ({ kind: 'kv' } & KvSourceOptions);

/**
 * The AWS SDK is loaded only for a DynamoDB source: it costs every thread that loads it about
 * 20 MB and a third of a second, and a run has three threads.
 */
export async function openSource(config: OpenSourceConfig): Promise<LegacySource> {
  switch (config.kind) {
    case 'dynamodb':
      return (await import('./dynamodb-source.js')).createDynamoDbSource(config);
    case 'export':
      return createExportSource(config);
    case 'kv':
      return createKvSource(config);
  }
}

export type { LegacySource, Position, ResumeState, SourceKind, SourcePage } from '../model/source.js';
export type { DynamoDbSource, DynamoDbSourceOptions, DynamoDbSourceStats } from './dynamodb-source.js';
export { segmentPartition } from './segments.js';
export { createExportSource, DEFAULT_EXPORT_PAGE_SIZE, type ExportSourceOptions } from './export-source.js';
export { candidatePaths, findTableExport, type ExportDataFile, type TableExport } from './export-layout.js';
export { createKvSource, DEFAULT_KV_PAGE_SIZE, DEFAULT_KV_TABLE, KV_PARTITION, parseKvValue, type KvSourceOptions } from './kv-source.js';
export { mergeConcurrently, type Producer } from './merge-pages.js';
export { classifyAwsError, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
export { awsLoggerFor, quietAwsLogger, type AwsLoggerSink } from './aws-logger.js';
