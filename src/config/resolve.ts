import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MigrateError } from '../errors.js';
import { configFileSchema, environmentSchema, type SourceConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'kpi-migrate.config.json';
/** The embedded default target when nothing else is configured. */
export const DEFAULT_EMBEDDED_DATABASE = 'pglite://.kpi-migrate/pglite';

export interface ResolvedConfig {
  environment: string;
  protected: boolean;
  source: SourceConfig | undefined;
  target: { databaseUrl: string; schema: string };
  batchRows: number;
  sampleSize: number;
}

/** What flags may override; `undefined` leaves the file's value. */
export interface ConfigOverrides {
  source?: SourceConfig['kind'];
  exportDir?: string;
  region?: string;
  dynamodbEndpoint?: string;
  tablePrefix?: string;
  tables?: Record<string, string>;
  segments?: number;
  pageLimit?: number;
  maxReadUnits?: number;
  kvUrl?: string;
  kvTable?: string;
  databaseUrl?: string;
  schema?: string;
  batchRows?: number;
  sampleSize?: number;
}

export interface ResolveInput {
  configFile?: string;
  environment?: string;
  overrides?: ConfigOverrides;
  env?: NodeJS.ProcessEnv;
}

function formatIssues(error: z.ZodError, prefix: string): string[] {
  return error.issues.map((issue) => `${[prefix, ...issue.path.map(String)].filter(Boolean).join('.')}: ${issue.message}`);
}

function readConfigFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new MigrateError('CONFIG_INVALID', `cannot read config file ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function pickDefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function overlaySource(fileSource: Record<string, unknown> | undefined, o: ConfigOverrides): Record<string, unknown> | undefined {
  const kind = o.source ?? (fileSource?.kind as string | undefined);
  if (kind === undefined) return undefined;
  // Switching kind with a flag drops the file's settings of the other kind.
  const base = fileSource && fileSource.kind === kind ? { ...fileSource } : { kind };
  const common = pickDefined({ tablePrefix: o.tablePrefix, tables: o.tables });
  if (kind === 'export') return { ...base, ...common, ...pickDefined({ dir: o.exportDir }) };
  if (kind === 'dynamodb') {
    return {
      ...base,
      ...common,
      ...pickDefined({ region: o.region, endpoint: o.dynamodbEndpoint, segments: o.segments, pageLimit: o.pageLimit, maxReadUnits: o.maxReadUnits }),
    };
  }
  return { ...base, ...pickDefined({ url: o.kvUrl, table: o.kvTable, prefixes: o.tables }) };
}

/**
 * Config file → environment → flags, validated once; every problem is reported together.
 * Secrets come only from the environment (DATABASE_URL, KV_DATABASE_URL, AWS's own variables).
 */
export function resolveConfig(input: ResolveInput = {}): ResolvedConfig {
  const env = input.env ?? process.env;
  const overrides = input.overrides ?? {};
  const file = input.configFile ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  const problems: string[] = [];

  let environments: Record<string, unknown> = {};
  let defaultEnvironment: string | undefined;
  if (file !== undefined) {
    const parsed = configFileSchema.safeParse(readConfigFile(file));
    if (!parsed.success) {
      throw new MigrateError('CONFIG_INVALID', `invalid config file ${file}:\n  ${formatIssues(parsed.error, '').join('\n  ')}`, {
        details: { problems: formatIssues(parsed.error, '') },
      });
    }
    environments = parsed.data.environments;
    defaultEnvironment = parsed.data.defaultEnvironment;
  }
  const environment = input.environment ?? env.KPI_MIGRATE_ENV ?? defaultEnvironment ?? 'local';
  const fileEnvironment = (environments[environment] ?? undefined) as Record<string, unknown> | undefined;
  if (file !== undefined && fileEnvironment === undefined && input.environment !== undefined) {
    problems.push(`environment: "${environment}" is not defined in ${file} (defined: ${Object.keys(environments).join(', ') || 'none'})`);
  }
  const fileTarget = (fileEnvironment?.target ?? {}) as Record<string, unknown>;
  const raw = {
    ...fileEnvironment,
    source: overlaySource(fileEnvironment?.source as Record<string, unknown> | undefined, overrides),
    target: { ...fileTarget, ...pickDefined({ databaseUrl: overrides.databaseUrl, schema: overrides.schema }) },
    ...pickDefined({ batchRows: overrides.batchRows, sampleSize: overrides.sampleSize }),
  };
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) problems.push(...formatIssues(parsed.error, `environments.${environment}`));
  if (problems.length > 0 || !parsed.success) {
    throw new MigrateError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  const config = parsed.data;
  let source = config.source;
  if (source?.kind === 'kv' && source.url === undefined && env.KV_DATABASE_URL) source = { ...source, url: env.KV_DATABASE_URL };
  const databaseUrl = config.target.databaseUrl ?? env.DATABASE_URL ?? (config.protected ? undefined : DEFAULT_EMBEDDED_DATABASE);
  if (databaseUrl === undefined) {
    throw new MigrateError('CONFIG_INVALID', `invalid configuration:\n  environments.${environment}.target.databaseUrl: a protected environment needs DATABASE_URL or an explicit target`);
  }
  return {
    environment,
    protected: config.protected,
    source,
    target: { databaseUrl, schema: config.target.schema },
    batchRows: config.batchRows,
    sampleSize: config.sampleSize,
  };
}

/** A stable fingerprint of what a run was configured to do, without secrets. */
export function configHash(config: ResolvedConfig): string {
  const { target, ...rest } = config;
  const fingerprint = JSON.stringify({ ...rest, target: { schema: target.schema, database: redactUrl(target.databaseUrl) } });
  return createHash('sha256').update(fingerprint).digest('hex').slice(0, 16);
}

/** A URL with its password (and any token-looking query value) replaced, safe to print or store. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '*****';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(key)) parsed.searchParams.set(key, '*****');
    }
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:*****@');
  }
}
