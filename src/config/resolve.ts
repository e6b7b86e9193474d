import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { MigrateError } from '../errors.js';
import { configFileSchema, environmentSchema, type ConfigFile, type SourceConfig } from './schema.js';
import { isSecretParameter, redactUrl } from './secrets.js';

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
  /** A converge run's delete limit when configured (flag, KPI_MIGRATE_MAX_DELETE, or the file): `N` or `P%`. */
  maxDelete?: string;
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
  maxDelete?: string;
}

export interface ResolveInput {
  /** A config file; absent: ./kpi-migrate.config.json when there is one; `false`: none at all. */
  configFile?: string | false;
  environment?: string;
  overrides?: ConfigOverrides;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfigFile {
  file: string;
  content: ConfigFile;
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

const ENV_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Why a URL (in a config file, or a flag) would put a secret where others can read it, if it would. */
export function secretInUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || ENV_REFERENCE.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return /\/\/[^/@:\s]+:[^@\s]+@/.test(value) ? 'holds a password' : undefined;
  }
  if (url.password) return 'holds a password';
  const secretParameter = [...url.searchParams.keys()].find(isSecretParameter);
  return secretParameter === undefined ? undefined : `holds a secret parameter (${secretParameter})`;
}

/** Secrets come only from the environment: a file that holds one is refused, wherever it is. */
function secretProblems(raw: unknown): string[] {
  const environments = (raw as { environments?: unknown } | null)?.environments;
  if (typeof environments !== 'object' || environments === null) return [];
  const problems: string[] = [];
  for (const [name, environment] of Object.entries(environments as Record<string, unknown>)) {
    const e = (environment ?? {}) as { target?: { databaseUrl?: unknown }; source?: { url?: unknown } };
    for (const [where, value] of [
      ['target.databaseUrl', e.target?.databaseUrl],
      ['source.url', e.source?.url],
    ] as const) {
      const why = secretInUrl(value);
      if (why !== undefined) {
        problems.push(
          `environments.${name}.${where}: ${why}; secrets come from the environment: write "\${SOME_VARIABLE}" here (or leave it out for DATABASE_URL), or keep the password in PGPASSWORD`,
        );
      }
    }
  }
  return problems;
}

/**
 * The config file parsed and checked (every problem at once), or undefined when there is none.
 * `configFile` absent means ./kpi-migrate.config.json if it exists.
 */
export function loadConfigFile(configFile: string | false | undefined): LoadedConfigFile | undefined {
  if (configFile === false) return undefined;
  const file = configFile ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (file === undefined) return undefined;
  const raw = readConfigFile(file);
  const parsed = configFileSchema.safeParse(raw);
  const problems = [...(parsed.success ? [] : formatIssues(parsed.error, '')), ...secretProblems(raw)];
  if (!parsed.success || problems.length > 0) {
    throw new MigrateError('CONFIG_INVALID', `invalid config file ${file}:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  return { file, content: parsed.data };
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

/** `${NAME}` → the value of that environment variable; anything else as it is. */
function expandReference(value: string | undefined, env: NodeJS.ProcessEnv, where: string, problems: string[]): string | undefined {
  const name = value === undefined ? undefined : ENV_REFERENCE.exec(value)?.[1];
  if (name === undefined) return value;
  const expanded = env[name];
  if (expanded === undefined || expanded === '') {
    problems.push(`${where}: \${${name}} names an environment variable that is not set`);
    return undefined;
  }
  return expanded;
}

/**
 * Config file → environment → flags, validated once; every problem is reported together.
 * Secrets come only from the environment (DATABASE_URL, KV_DATABASE_URL, `${NAME}` references,
 * PGPASSWORD, AWS's own variables and profiles).
 */
export function resolveConfig(input: ResolveInput = {}): ResolvedConfig {
  const env = input.env ?? process.env;
  const overrides = input.overrides ?? {};
  const loaded = loadConfigFile(input.configFile);
  const problems: string[] = [];

  const environments: Record<string, unknown> = loaded?.content.environments ?? {};
  const environment = input.environment ?? env.KPI_MIGRATE_ENV ?? loaded?.content.defaultEnvironment ?? 'local';
  const fileEnvironment = (environments[environment] ?? undefined) as Record<string, unknown> | undefined;
  if (loaded !== undefined && fileEnvironment === undefined && environment !== 'local') {
    problems.push(`environment: "${environment}" is not defined in ${loaded.file} (defined: ${Object.keys(environments).join(', ') || 'none'})`);
  }
  // Without a file nothing says whether the environment is protected: only `local` may go without.
  if (loaded === undefined && environment !== 'local') {
    problems.push(`environment: "${environment}" needs a config file (--config, or ${DEFAULT_CONFIG_FILE} in the current directory)`);
  }
  const fileTarget = (fileEnvironment?.target ?? {}) as Record<string, unknown>;
  const raw = {
    ...fileEnvironment,
    source: overlaySource(fileEnvironment?.source as Record<string, unknown> | undefined, overrides),
    target: { ...fileTarget, ...pickDefined({ databaseUrl: overrides.databaseUrl, schema: overrides.schema }) },
    ...pickDefined({ batchRows: overrides.batchRows, sampleSize: overrides.sampleSize, maxDelete: overrides.maxDelete ?? (env.KPI_MIGRATE_MAX_DELETE || undefined) }),
  };
  const parsed = environmentSchema.safeParse(raw);
  const prefix = `environments.${environment}`;
  if (!parsed.success) problems.push(...formatIssues(parsed.error, prefix));

  let source: SourceConfig | undefined;
  let databaseUrl: string | undefined;
  if (parsed.success) {
    const config = parsed.data;
    source = config.source;
    if (source?.kind === 'kv') {
      const url = expandReference(source.url, env, `${prefix}.source.url`, problems) ?? (source.url === undefined ? env.KV_DATABASE_URL || undefined : undefined);
      source = { ...source, url };
    }
    databaseUrl =
      expandReference(config.target.databaseUrl, env, `${prefix}.target.databaseUrl`, problems) ??
      (config.target.databaseUrl === undefined ? env.DATABASE_URL || (config.protected ? undefined : DEFAULT_EMBEDDED_DATABASE) : undefined);
    if (databaseUrl === undefined && config.target.databaseUrl === undefined) {
      problems.push(`${prefix}.target.databaseUrl: a protected environment needs DATABASE_URL or an explicit target (the embedded default is for local use)`);
    }
  }
  if (problems.length > 0 || !parsed.success || databaseUrl === undefined) {
    throw new MigrateError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  const config = parsed.data;
  return {
    environment,
    protected: config.protected,
    source,
    target: { databaseUrl, schema: config.target.schema },
    batchRows: config.batchRows,
    sampleSize: config.sampleSize,
    ...(config.maxDelete === undefined ? {} : { maxDelete: config.maxDelete.trim() }),
  };
}

/** The resolved configuration with every secret masked: what `kpi-migrate config` prints. */
export function maskedConfig(config: ResolvedConfig): ResolvedConfig {
  const source = config.source?.kind === 'kv' && config.source.url !== undefined ? { ...config.source, url: redactUrl(config.source.url) } : config.source;
  return { ...config, source, target: { ...config.target, databaseUrl: redactUrl(config.target.databaseUrl) } };
}
