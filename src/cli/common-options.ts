import type { Argv } from 'yargs';
import { resolveConfig, type ConfigOverrides, type ResolvedConfig } from '../config/resolve.js';
import { MigrateError } from '../errors.js';
import { LEGACY_ENTITIES, type LegacyEntity } from '../transform/entities.js';

export function withConfigOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('config', { type: 'string', describe: 'config file (default: ./kpi-migrate.config.json when present)' })
    .option('env', { type: 'string', describe: 'named environment from the config file (default: local)' })
    .option('database-url', { type: 'string', describe: 'target PostgreSQL URL, or pglite://DIR (default: $DATABASE_URL, else embedded PGlite)' })
    .option('schema', { type: 'string', describe: 'target schema (default: public)' })
    .group(['config', 'env', 'database-url', 'schema'], 'Environment and target:');
}

export function withSourceOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('source', { choices: ['dynamodb', 'export', 'kv'] as const, describe: 'where the legacy records come from' })
    .option('export-dir', { type: 'string', describe: '--source export: directory of DynamoDB export files' })
    .option('region', { type: 'string', describe: '--source dynamodb: AWS region' })
    .option('dynamodb-endpoint', { type: 'string', describe: '--source dynamodb: endpoint URL (DynamoDB Local)' })
    .option('table-prefix', { type: 'string', describe: 'legacy table name prefix (default: purposepath-)' })
    .option('table', { type: 'string', array: true, describe: 'per-table name override, ENTITY=NAME (e.g. KpiActual=old-actuals)' })
    .option('segments', { type: 'number', describe: '--source dynamodb: parallel scan segments (default: from table size)' })
    .option('page-limit', { type: 'number', describe: '--source dynamodb: items per Scan page (default: 1000)' })
    .option('max-read-units', { type: 'number', describe: '--source dynamodb: read capacity units per second to stay under' })
    .option('kv-url', { type: 'string', describe: '--source kv: PostgreSQL URL of the kv_store (default: $KV_DATABASE_URL)' })
    .option('kv-table', { type: 'string', describe: '--source kv: table name (default: kv_store)' })
    .group(
      ['source', 'export-dir', 'region', 'dynamodb-endpoint', 'table-prefix', 'table', 'segments', 'page-limit', 'max-read-units', 'kv-url', 'kv-table'],
      'Source (read only: the tool never writes to it):',
    );
}

export interface ConfigArgs {
  config?: string;
  env?: string;
  databaseUrl?: string;
  schema?: string;
  source?: 'dynamodb' | 'export' | 'kv';
  exportDir?: string;
  region?: string;
  dynamodbEndpoint?: string;
  tablePrefix?: string;
  table?: string[];
  segments?: number;
  pageLimit?: number;
  maxReadUnits?: number;
  kvUrl?: string;
  kvTable?: string;
  batchRows?: number;
  sample?: number;
  maxDelete?: string;
}

function parseTableOverrides(pairs: string[] | undefined): Record<string, string> | undefined {
  if (pairs === undefined || pairs.length === 0) return undefined;
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const pair of pairs) {
    const [entity, name] = pair.split('=', 2);
    if (!entity || !name || !LEGACY_ENTITIES.includes(entity as LegacyEntity)) {
      problems.push(`--table ${pair}: expected ENTITY=NAME with ENTITY one of ${LEGACY_ENTITIES.join(', ')}`);
    } else out[entity] = name;
  }
  if (problems.length > 0) throw new MigrateError('USAGE', problems.join('\n'));
  return out;
}

export function configFromArgs(args: ConfigArgs): ResolvedConfig {
  const overrides: ConfigOverrides = {
    source: args.source,
    exportDir: args.exportDir,
    region: args.region,
    dynamodbEndpoint: args.dynamodbEndpoint,
    tablePrefix: args.tablePrefix,
    tables: parseTableOverrides(args.table),
    segments: args.segments,
    pageLimit: args.pageLimit,
    maxReadUnits: args.maxReadUnits,
    kvUrl: args.kvUrl,
    kvTable: args.kvTable,
    databaseUrl: args.databaseUrl,
    schema: args.schema,
    batchRows: args.batchRows,
    sampleSize: args.sample,
    maxDelete: args.maxDelete,
  };
  return resolveConfig({ configFile: args.config, environment: args.env, overrides });
}
