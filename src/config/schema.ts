import { z } from 'zod';
import { LEGACY_ENTITIES } from '../transform/entities.js';

const tableOverrides = z.partialRecord(z.enum(LEGACY_ENTITIES), z.string().min(1));

const dynamoDbSource = z.strictObject({
  kind: z.literal('dynamodb'),
  region: z.string().min(1).default('us-east-1'),
  /** DynamoDB Local or another endpoint; absent = AWS. */
  endpoint: z.url().optional(),
  tablePrefix: z.string().default('purposepath-'),
  tables: tableOverrides.default({}),
  segments: z.int().min(1).max(1_000_000).optional(),
  pageLimit: z.int().min(1).max(10_000).default(1000),
  maxReadUnits: z.number().positive().optional(),
});

const exportSource = z.strictObject({
  kind: z.literal('export'),
  dir: z.string().min(1),
  tablePrefix: z.string().default('purposepath-'),
  tables: tableOverrides.default({}),
});

const kvSource = z.strictObject({
  kind: z.literal('kv'),
  /** Secrets never live in the file: the URL is `${NAME}` (an environment variable) or has no password. */
  url: z.string().min(1).optional(),
  table: z.string().min(1).default('kv_store'),
  prefixes: tableOverrides.default({}),
  pageSize: z.int().min(1).max(100_000).default(2000),
});

export const sourceSchema = z.discriminatedUnion('kind', [dynamoDbSource, exportSource, kvSource]);

export const environmentSchema = z.strictObject({
  /** Writing commands need confirmation on a terminal, and --yes otherwise. */
  protected: z.boolean().default(false),
  source: sourceSchema.optional(),
  target: z
    .strictObject({
      /**
       * Without a URL here, DATABASE_URL from the environment is used. `${NAME}` takes it from
       * that environment variable; a URL with a password is refused in a file (resolve.ts).
       */
      databaseUrl: z.string().min(1).optional(),
      schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'a plain SQL identifier').default('public'),
    })
    .default({ schema: 'public' }),
  // Measured at 200,000 facts: 5,000 rows a transaction load as fast as 20,000 and cut the
  // process's peak RSS by about 30% (every in-flight batch is held by two threads).
  batchRows: z.int().min(1).max(1_000_000).default(5_000),
  sampleSize: z.int().min(0).max(1_000_000).default(200),
  /** How much a converge run may delete from one target table: `N` rows or `P%` (default 10%, load/sweep.ts). */
  maxDelete: z.string().regex(/^\s*(\d+|\d+(\.\d+)?%)\s*$/, 'a number of rows (5000) or a percentage (25%)').optional(),
});

export const configFileSchema = z.strictObject({
  $schema: z.string().optional(),
  /** The environment used when neither --env nor KPI_MIGRATE_ENV names one. */
  defaultEnvironment: z.string().optional(),
  environments: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), environmentSchema),
});

export type SourceConfig = z.infer<typeof sourceSchema>;
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type ConfigFile = z.infer<typeof configFileSchema>;
