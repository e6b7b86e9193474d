import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolve.js';
import { configHash, redactUrl } from '../config/resolve.js';
import { openSqlClient } from '../load/open.js';
import { applyMigrations } from '../load/migrate.js';
import { startRun } from '../load/ledger.js';
import type { RunCounts } from '../load/index.js';
import { packageRoot } from '../package-root.js';
import { MIGRATED_ENTITIES } from '../transform/entities.js';
import { openConfiguredSource } from './open-source.js';
import { segmentPartition } from '../extract/dynamodb-source.js';
import { MigrateError } from '../errors.js';
import { runMigration, type RunResult } from './run.js';
import { createWorkerRecordReader, transformWorkerAvailable } from './worker-reader.js';
import { migrateInWorker, migrationWorkerAvailable } from './migration-thread.js';
import type { ProgressSink } from './progress.js';

export interface MigrateOptions {
  /** Continue (or, with `worker`, join) this run, or the last unfinished one. */
  resume?: string | 'last';
  /** This process is worker `index` of `count` on one shared run (DynamoDB scan segments only). */
  worker?: { index: number; count: number };
  tenant?: string;
  dryRun?: boolean;
  progress?: ProgressSink;
  /**
   * Run in worker threads when the build and the configuration allow it (default): the writer in
   * one with a bounded heap, reading and mapping in another. False keeps everything in this thread.
   */
  workerThreads?: boolean;
}

export interface MigrateResult extends RunResult {
  environment: string;
  target: string;
  /** read = migrated + rejected + skipped for every migrated table (contract §4). */
  accountingBalanced: boolean;
  unbalanced: string[];
  dryRun: boolean;
}

export const codeVersion: string = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

export function unbalancedEntities(counts: RunCounts): string[] {
  const problems: string[] = [];
  for (const entity of MIGRATED_ENTITIES) {
    const c = counts.entities[entity];
    if (c === undefined) continue;
    if (c.read !== c.migrated + c.rejected + c.skipped) {
      problems.push(`${entity}: read ${c.read} ≠ migrated ${c.migrated} + rejected ${c.rejected} + skipped ${c.skipped}`);
    }
  }
  return problems;
}

/**
 * Records a run without reading anything, for workers to join with `resume: <id>`: an
 * Indexed Job starts all its workers at once, so none of them can be the one that creates it.
 */
export async function prepareRun(config: ResolvedConfig, options: { tenant?: string } = {}): Promise<string> {
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    await applyMigrations(sql, config.target.schema);
    return await startRun(sql, {
      environment: config.environment,
      sourceKind: config.source?.kind ?? 'export',
      targetSchema: config.target.schema,
      options: ledgerOptionsOf(config, options.tenant, undefined),
      codeVersion,
      configHash: configHash(config),
      dryRun: false,
    });
  } finally {
    await sql.close();
  }
}

function ledgerOptionsOf(config: ResolvedConfig, tenant: string | undefined, worker: MigrateOptions['worker']): Record<string, unknown> {
  const source = config.source?.kind === 'kv' && config.source.url ? { ...config.source, url: redactUrl(config.source.url) } : config.source;
  return { worker: worker ? `${worker.index}/${worker.count}` : null, source, tenant: tenant ?? null, batchRows: config.batchRows };
}

/** Workers split DynamoDB scan segments, so every worker must agree on how many there are. */
function checkWorkerConfig(config: ResolvedConfig, worker: MigrateOptions['worker']): number | undefined {
  if (worker === undefined) return undefined;
  if (!Number.isInteger(worker.index) || !Number.isInteger(worker.count) || worker.index < 1 || worker.index > worker.count) {
    throw new MigrateError('USAGE', `--worker must be K/N with 1 ≤ K ≤ N, got ${worker.index}/${worker.count}`);
  }
  if (config.source?.kind !== 'dynamodb') throw new MigrateError('USAGE', '--worker splits DynamoDB scan segments: it needs --source dynamodb');
  if (config.source.segments === undefined) {
    throw new MigrateError('USAGE', '--worker needs an explicit --segments, the same for every worker (workers sizing the table apart could split it differently)');
  }
  return config.source.segments;
}

/** Opens the configured source and target, runs (or resumes) one migration, and closes both. */
export async function migrate(config: ResolvedConfig, options: MigrateOptions = {}): Promise<MigrateResult> {
  const threads = options.workerThreads ?? true;
  if (threads && migrationWorkerAvailable(config)) return migrateInWorker(config, options);
  return migrateInThisThread(config, options, { transformInWorker: threads });
}

/** migrate() without a thread of its own (the migration worker runs this). */
export async function migrateInThisThread(
  config: ResolvedConfig,
  options: MigrateOptions,
  { transformInWorker }: { transformInWorker: boolean },
): Promise<MigrateResult> {
  const worker = options.worker;
  const segments = checkWorkerConfig(config, worker);
  const tenant = options.tenant?.toLowerCase().replace(/[{}]/g, '');
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    const source = await openConfiguredSource(config, worker ? { worker } : {});
    const lookupSource = worker ? await openConfiguredSource(config) : undefined;
    const inWorker = transformInWorker && transformWorkerAvailable(config);
    try {
      const result = await runMigration({
        source,
        lookupSource,
        reader: inWorker ? createWorkerRecordReader({ config, worker, tenant, batchRows: config.batchRows }) : undefined,
        sharedRun: worker && segments ? { allPartitions: () => Array.from({ length: segments }, (_, i) => segmentPartition(i, segments)) } : undefined,
        sql,
        targetSchema: config.target.schema,
        environment: config.environment,
        batchRows: config.batchRows,
        tenant,
        dryRun: options.dryRun ?? false,
        resume: options.resume,
        ledgerOptions: ledgerOptionsOf(config, options.tenant, worker),
        codeVersion,
        configHash: configHash(config),
        progress: options.progress,
      });
      const unbalanced = unbalancedEntities(result.counts);
      return {
        ...result,
        environment: config.environment,
        target: redactUrl(config.target.databaseUrl),
        accountingBalanced: unbalanced.length === 0,
        unbalanced,
        dryRun: options.dryRun ?? false,
      };
    } finally {
      await source.close();
      await lookupSource?.close();
    }
  } finally {
    await sql.close();
  }
}
