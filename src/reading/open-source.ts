import type { ResolvedConfig } from '../config/resolve.js';
import { MigrateError } from '../errors.js';
import { openSource, type LegacySource } from '../extract/index.js';
import type { DynamoDbStreamOptions } from '../extract/dynamodb-stream.js';
import { openSqlClient } from '../db/open.js';
import { defaultTableNames, type LegacyEntity } from '../model/entities.js';

export interface SourceExtras {
  /** This process takes only its share of the DynamoDB scan segments. */
  worker?: { index: number; count: number };
}

/** The configured legacy store as a LegacySource; closing it closes whatever it opened. */
export async function openConfiguredSource(config: ResolvedConfig, extras: SourceExtras = {}): Promise<LegacySource> {
  const source = config.source;
  if (source === undefined) {
    throw new MigrateError('CONFIG_INVALID', 'no source configured: pass --source export|dynamodb|kv (or set one in the config file)');
  }
  switch (source.kind) {
    case 'export':
      return openSource({ kind: 'export', dir: source.dir, tableNames: defaultTableNames(source.tablePrefix, source.tables) });
    case 'dynamodb':
      return openSource({
        kind: 'dynamodb',
        region: source.region,
        endpoint: source.endpoint,
        tableNames: defaultTableNames(source.tablePrefix, source.tables),
        segments: source.segments ?? (extras.worker ? extras.worker.count : undefined),
        worker: extras.worker,
        pageLimit: source.pageLimit,
        maxReadUnits: source.maxReadUnits,
        ...localCredentials(source.endpoint),
      });
    case 'kv': {
      if (source.url === undefined) {
        throw new MigrateError('CONFIG_INVALID', '--source kv needs --kv-url or KV_DATABASE_URL');
      }
      const sql = await openSqlClient(source.url);
      const inner = await openSource({ kind: 'kv', sql, table: source.table, prefixes: source.prefixes as Partial<Record<LegacyEntity, string>>, pageSize: source.pageSize });
      return {
        kind: inner.kind,
        readTable: (entity, from) => inner.readTable(entity, from),
        countItems: (entity) => inner.countItems(entity),
        getItems: (entity, ids) => inner.getItems(entity, ids),
        async close() {
          await inner.close();
          await sql.close();
        },
      };
    }
  }
}

// DynamoDB Local accepts any key; AWS credentials come from the SDK's own chain.
function localCredentials(endpoint: string | undefined): { credentials?: { accessKeyId: string; secretAccessKey: string } } {
  return endpoint && !process.env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {};
}

/** The configured DynamoDB tables' streams (undefined when the source is not DynamoDB). */
export function configuredStreamOptions(config: ResolvedConfig): DynamoDbStreamOptions | undefined {
  const source = config.source;
  if (source?.kind !== 'dynamodb') return undefined;
  return { region: source.region, endpoint: source.endpoint, tableNames: defaultTableNames(source.tablePrefix, source.tables), ...localCredentials(source.endpoint) };
}
