import { createDynamoDbSource, type DynamoDbSourceOptions } from './dynamodb-source.js';
import { createExportSource, type ExportSourceOptions } from './export-source.js';
import { createKvSource, type KvSourceOptions } from './kv-source.js';
import type { LegacySource } from './source.js';

/** Which legacy store to read, and how: one variant per source kind. */
export type OpenSourceConfig =
  | ({ kind: 'dynamodb' } & DynamoDbSourceOptions)
  | ({ kind: 'export' } & ExportSourceOptions)
  | ({ kind: 'kv' } & KvSourceOptions);

export function openSource(config: OpenSourceConfig): LegacySource {
  switch (config.kind) {
    case 'dynamodb':
      return createDynamoDbSource(config);
    case 'export':
      return createExportSource(config);
    case 'kv':
      return createKvSource(config);
  }
}

export type { LegacySource, Position, ResumeState, SourceKind, SourcePage } from './source.js';
export {
  createDynamoDbSource,
  DEFAULT_PAGE_LIMIT,
  keyToPosition,
  positionToKey,
  segmentPartition,
  type DynamoDbSource,
  type DynamoDbSourceOptions,
  type DynamoDbSourceStats,
} from './dynamodb-source.js';
export { createExportSource, DEFAULT_EXPORT_PAGE_SIZE, type ExportSourceOptions } from './export-source.js';
export { candidatePaths, findTableExport, type ExportDataFile, type TableExport } from './export-layout.js';
export { createKvSource, DEFAULT_KV_PAGE_SIZE, DEFAULT_KV_TABLE, KV_PARTITION, parseKvValue, type KvSourceOptions } from './kv-source.js';
export { mergeConcurrently, type Producer } from './merge-pages.js';
export { classifyAwsError, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
export { awsLoggerFor, quietAwsLogger, type AwsLoggerSink } from './aws-logger.js';
