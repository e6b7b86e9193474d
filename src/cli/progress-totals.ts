import type { ResolvedConfig } from '../config/resolve.js';
import { findTableExport } from '../extract/export-layout.js';
import { quietAwsLogger } from '../extract/aws-logger.js';
import { LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../model/entities.js';
import type { EntityTotals } from './progress-display.js';

/**
 * Table sizes only where they cost nothing: an Export-to-S3 manifest's itemCount (exact), or
 * DescribeTable's ItemCount (DynamoDB refreshes it about every six hours: an estimate). Counting
 * would be a second full read (a Scan, or decompressing every file), so flat export files and
 * kv_store tables get no total, and their lines show no ETA. Never fails: a missing total only
 * means no bar.
 */
export async function estimateTotals(config: ResolvedConfig, waitMs = 3000): Promise<EntityTotals> {
  let timer: NodeJS.Timeout | undefined;
  // A source that does not answer fails the run soon enough: the bars must not hold it up.
  const giveUp = new Promise<EntityTotals>((resolve) => {
    timer = setTimeout(() => resolve({}), waitMs).unref();
  });
  try {
    return await Promise.race([totalsOf(config).catch(() => ({})), giveUp]);
  } finally {
    clearTimeout(timer);
  }
}

async function totalsOf(config: ResolvedConfig): Promise<EntityTotals> {
  const source = config.source;
  if (source === undefined || source.kind === 'kv') return {};
  const tableNames = defaultTableNames(source.tablePrefix, source.tables);
  const totals: EntityTotals = {};
  if (source.kind === 'export') {
    await Promise.all(
      LEGACY_ENTITIES.map(async (entity) => {
        const found = await findTableExport(source.dir, tableNames[entity]).catch(() => undefined);
        if (found?.expectedItems !== undefined) totals[entity] = { items: found.expectedItems, exact: true };
      }),
    );
    return totals;
  }
  // Loaded here only: the process that shows progress of an export run has no use for the SDK.
  const { DescribeTableCommand, DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient({
    region: source.region,
    ...(source.endpoint === undefined ? {} : { endpoint: source.endpoint }),
    // As the source itself: DynamoDB Local takes any key, AWS gets the SDK's own chain.
    ...(source.endpoint && !process.env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    logger: quietAwsLogger,
    maxAttempts: 2,
  });
  try {
    await Promise.all(
      LEGACY_ENTITIES.map(async (entity: LegacyEntity) => {
        const described = await client.send(new DescribeTableCommand({ TableName: tableNames[entity] })).catch(() => undefined);
        const items = described?.Table?.ItemCount;
        // A new table reports 0 until DynamoDB's next refresh: no total rather than a wrong one.
        if (items !== undefined && items > 0) totals[entity] = { items, exact: false };
      }),
    );
  } finally {
    client.destroy();
  }
  return totals;
}
