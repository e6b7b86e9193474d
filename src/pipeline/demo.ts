import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { resolveConfig, type ConfigOverrides, type ResolvedConfig } from '../config/resolve.js';
import { MigrateError } from '../errors.js';
import type { DynamoDbLocal } from '../extract/dynamodb-local.js';
import { openSqlClient } from '../db/open.js';
import type { SqlSession } from '../db/sql-client.js';
import { describeFinalize, finalizeTarget } from '../load/finalize.js';
import { packageRoot } from '../package-root.js';
import type { ExpectedOutcome } from '../seed/index.js';
import { DATA_ENTITIES, LEGACY_ENTITIES, defaultTableNames, type LegacyEntity } from '../model/entities.js';
import { migrate, type MigrateResult } from './migrate.js';
import type { ProgressSink } from './progress.js';

/** The committed fixtures: `scan/` (dumps to load into DynamoDB Local) and `export/`, each with its expected outcome. */
export const DEMO_FIXTURES = path.join(packageRoot, 'fixtures', 'small');

export interface DemoValidationInput {
  /** The demo's source (DynamoDB Local, still running, or the export files) and its PGlite target. */
  config: ResolvedConfig;
  runId: string;
  /** Where the reports go (it exists). */
  reportDir: string;
}

export interface DemoValidationOutcome {
  passed: boolean;
  /** One line per check, for the terminal. */
  lines: string[];
  /** The reports written, for "open this": e.g. `{ label: 'HTML', path }`. */
  reports: { label: string; path: string }[];
}

/** The validation step of the demo: checks the migrated target against the source and writes reports. */
export interface DemoValidation {
  validate(input: DemoValidationInput): Promise<DemoValidationOutcome>;
}

export interface DemoOptions {
  /** Holds the PGlite database (`pglite/`, recreated each time) and the reports (`reports/`). */
  workDir: string;
  /** `auto`: DynamoDB Local, or the export files when it cannot start (no Java). */
  source?: 'auto' | 'dynamodb' | 'export';
  progress?: ProgressSink;
  /** Tells the operator what is happening, a line at a time. */
  say?: (line: string) => void;
  /** The validation (cli/demo-validation.ts: the validate module); without it only the expected outcome is checked. */
  validation?: DemoValidation;
  /** Defaults to the committed fixtures (`fixtures/small`). */
  fixturesDir?: string;
  /** Called once DynamoDB Local is up and loaded, with its table sizes (for the progress bars). */
  onSourceReady?: (config: ResolvedConfig, itemsPerEntity: Partial<Record<LegacyEntity, number>>) => void;
}

export interface ExpectationCheck {
  passed: boolean;
  /** One line per check, each saying what was expected and what was found. */
  lines: string[];
}

export interface DemoResult {
  source: 'dynamodb' | 'export';
  /** Why the export files were used instead of DynamoDB Local, when they were. */
  fallback?: string;
  workDir: string;
  /** The PGlite database the demo migrated into (`pglite://<dir>`), and its directory. */
  databaseUrl: string;
  databaseDir: string;
  reportDir: string;
  migration: MigrateResult;
  /** The run's counts and the target's rows against the fixtures' expected.json. */
  expectation: ExpectationCheck;
  validation: DemoValidationOutcome | undefined;
  passed: boolean;
}

/**
 * The whole job on embedded engines, with no server, credentials or network: the committed
 * fixtures loaded into the bundled DynamoDB Local (or read as export files when Java is
 * missing), migrated into a fresh PGlite database on disk, then checked.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const say = options.say ?? (() => {});
  const workDir = path.resolve(options.workDir);
  const fixturesDir = options.fixturesDir ?? DEMO_FIXTURES;
  const databaseDir = path.join(workDir, 'pglite');
  const reportDir = path.join(workDir, 'reports');
  // Fresh each time: a demo shows what this code does to the fixtures, not what an older run left.
  await rm(databaseDir, { recursive: true, force: true });
  await rm(reportDir, { recursive: true, force: true });
  await mkdir(reportDir, { recursive: true });
  const databaseUrl = `pglite://${databaseDir}`;

  let dynamo: DynamoDbLocal | undefined;
  let fallback: string | undefined;
  if (options.source !== 'export') {
    say('starting the bundled DynamoDB Local …');
    try {
      // The SDK is loaded for a demo that uses it, not by every process that builds the CLI.
      const { startDynamoDbLocal } = await import('../extract/dynamodb-local.js');
      dynamo = await startDynamoDbLocal({ heapMb: 512 });
    } catch (error) {
      if (options.source === 'dynamodb' || !(error instanceof MigrateError) || error.code !== 'DYNAMODB_LOCAL_UNAVAILABLE') throw error;
      fallback = error.message;
      say(`DynamoDB Local is not available: ${error.message}`);
      say(`→ reading the same fixtures as DynamoDB export files instead (--source export --export-dir ${path.join(fixturesDir, 'export')})`);
    }
  }
  try {
    const tableNames = defaultTableNames();
    let config: ResolvedConfig;
    let fixtureForm: 'scan' | 'export';
    if (dynamo !== undefined) {
      fixtureForm = 'scan';
      const { loadScanDumpDirectory, openLocalDynamoDbClient } = await import('../seed/load-dynamodb.js');
      const client = openLocalDynamoDbClient(dynamo.endpoint);
      let written: Record<string, number>;
      try {
        say(`loading the fixtures into DynamoDB Local at ${dynamo.endpoint} …`);
        written = await loadScanDumpDirectory(client, path.join(fixturesDir, 'scan'), tableNames);
      } finally {
        client.destroy();
      }
      config = demoConfig(databaseUrl, { source: 'dynamodb', dynamodbEndpoint: dynamo.endpoint, region: 'local', segments: 2, pageLimit: 100 });
      options.onSourceReady?.(config, Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, written[tableNames[entity]] ?? 0])));
    } else {
      fixtureForm = 'export';
      config = demoConfig(databaseUrl, { source: 'export', exportDir: path.join(fixturesDir, 'export') });
      options.onSourceReady?.(config, {});
    }

    say(`migrating into ${databaseUrl} …`);
    const migration = await migrate(config, { progress: options.progress });
    const expected = JSON.parse(readFileSync(path.join(fixturesDir, fixtureForm, 'expected.json'), 'utf8')) as ExpectedOutcome;
    const sql = await openSqlClient(databaseUrl);
    let expectation: ExpectationCheck;
    try {
      expectation = await checkExpectedOutcome(migration, sql, expected);
      // As `run` does before its validation, which checks the progress cache.
      say('finalizing: the foreign key, the index, the progress cache …');
      for (const line of describeFinalize(await finalizeTarget(sql, config.target.schema))) say(line);
    } finally {
      await sql.close();
    }
    let validation: DemoValidationOutcome | undefined;
    if (options.validation !== undefined) {
      say('validating the target against the source …');
      validation = await options.validation.validate({ config, runId: migration.runId, reportDir });
    }
    return {
      source: dynamo === undefined ? 'export' : 'dynamodb',
      ...(fallback === undefined ? {} : { fallback }),
      workDir,
      databaseUrl,
      databaseDir,
      reportDir,
      migration,
      expectation,
      validation,
      passed: migration.accountingBalanced && expectation.passed && (validation?.passed ?? true),
    };
  } finally {
    await dynamo?.stop();
  }
}

/** No config file, no environment variables: the demo must do the same on every machine. */
function demoConfig(databaseUrl: string, overrides: ConfigOverrides): ResolvedConfig {
  return resolveConfig({ configFile: false, environment: 'local', env: {}, overrides: { ...overrides, databaseUrl, batchRows: 100 } });
}

/**
 * A finished run against what the fixtures' generator meant each record to be: per table read,
 * migrated, skipped and rejects by reason; person fallbacks; kpi_links rows; kpi_data rows per
 * source entity (the fan-out).
 */
export async function checkExpectedOutcome(result: MigrateResult, sql: SqlSession, expected: ExpectedOutcome, schema = 'public'): Promise<ExpectationCheck> {
  const lines: string[] = [];
  let passed = true;
  const check = (what: string, want: unknown, got: unknown) => {
    const ok = JSON.stringify(want) === JSON.stringify(got);
    passed &&= ok;
    lines.push(`${ok ? '✓' : '✗'} ${what}: ${ok ? JSON.stringify(got) : `expected ${JSON.stringify(want)}, found ${JSON.stringify(got)}`}`);
  };
  const sorted = (record: Record<string, number>) => Object.fromEntries(Object.entries(record).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)));
  check('accounting read = migrated + rejected + skipped', [], result.unbalanced);
  for (const entity of LEGACY_ENTITIES) {
    const want = expected.tables[entity];
    const got = result.counts.entities[entity];
    check(
      `${entity} read/migrated/skipped/rejected`,
      { read: want.read, migrated: want.migrated, skipped: want.skipped, rejected: sorted(want.rejected as Record<string, number>) },
      got === undefined ? null : { read: got.read, migrated: got.migrated, skipped: got.skipped, rejected: sorted(got.rejectsByReason as Record<string, number>) },
    );
  }
  check('links whose person fell back to the user id', expected.personFallbacks, result.counts.entities.GoalKpiLink?.personFallbacks ?? null);
  const links = await sql.query<{ n: string }>(`select count(*)::text as n from ${schema}.kpi_links`);
  check('kpi_links rows', expected.kpiLinks, Number(links.rows[0]?.n ?? 0));
  const data = await sql.query<{ source_entity: string; n: string }>(`select source_entity, count(*)::text as n from ${schema}.kpi_data group by 1`);
  const perEntity = Object.fromEntries(data.rows.map((r) => [r.source_entity, Number(r.n)]));
  for (const entity of DATA_ENTITIES) check(`kpi_data rows from ${entity}`, expected.kpiDataRows[entity], perEntity[entity] ?? 0);
  return { passed, lines };
}
