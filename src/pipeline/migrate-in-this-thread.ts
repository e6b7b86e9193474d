import type { ResolvedConfig } from '../config/resolve.js';
import { configHash, redactUrl } from '../config/secrets.js';
import { openSqlClient } from '../db/open.js';
import { applyMigrations } from '../load/migrate.js';
import { findRun, parseRunReference, runCounts, startRun, type RunRecord, type RunReference, type RunStart } from '../load/ledger.js';
import type { SqlClient } from '../db/sql-client.js';
import { configuredStreamOptions, openConfiguredSource } from '../reading/open-source.js';
import { recordChangeStreams, recordedChangeStreams } from '../load/source-image.js';
import type { LegacySource } from '../extract/index.js';
import { segmentPartition } from '../extract/segments.js';
import { MigrateError } from '../errors.js';
import { DEFAULT_DELETE_LIMIT_TEXT, parseDeleteLimit } from '../load/sweep.js';
import { runMigration, type RunResult } from './run.js';
import { describeRun, joinSharedRun } from './shared-run.js';
import { recordFullExportPoints } from './export-points.js';
import { createWorkerRecordReader, transformWorkerAvailable } from './worker-reader.js';
import { codeVersion, unbalancedEntities, type MigrateOptions, type MigrateResult } from './migrate.js';
import type { ProgressSink } from './progress.js';

// migrate()'s work itself, done in the migration worker, or in the calling thread where no worker
// can run. migrate.ts, all that the thread starting the worker loads, imports this only then.

/**
 * Records a run without reading anything, for workers to join with `resume: <id>`: an
 * Indexed Job starts all its workers at once, so none of them can be the one that creates it.
 */
export async function prepareRun(config: ResolvedConfig, options: { tenant?: string; converge?: boolean } = {}): Promise<string> {
  const sql = await openSqlClient(config.target.databaseUrl);
  try {
    await applyMigrations(sql, config.target.schema);
    return await startRun(sql, runStartOf(config, options.tenant, undefined, options.converge));
  } finally {
    await sql.close();
  }
}

function runStartOf(config: ResolvedConfig, tenant: string | undefined, worker: MigrateOptions['worker'], converge: boolean | undefined): RunStart {
  return {
    environment: config.environment,
    sourceKind: config.source?.kind ?? 'export',
    targetSchema: config.target.schema,
    options: ledgerOptionsOf(config, tenant, worker, converge),
    codeVersion,
    configHash: configHash(config),
    dryRun: false,
  };
}

// A shared run records how many workers share it (not which one created it): a joining worker
// with another N would split the segments differently.
// `converge` is recorded only on converge runs: a resumed run converges as it was started.
function ledgerOptionsOf(config: ResolvedConfig, tenant: string | undefined, worker: MigrateOptions['worker'], converge: boolean | undefined): Record<string, unknown> {
  const source = config.source?.kind === 'kv' && config.source.url ? { ...config.source, url: redactUrl(config.source.url) } : config.source;
  return { workers: worker ? worker.count : null, source, tenant: tenant ?? null, batchRows: config.batchRows, ...(converge ? { converge: true } : {}) };
}

/** What a worker of a shared run is set to do: how many segments all workers split, and which run. */
interface WorkerPlan {
  worker: { index: number; count: number };
  segments: number;
  run: RunReference;
}

/** Workers split DynamoDB scan segments, so every worker must agree on how many there are. */
function checkWorkerConfig(config: ResolvedConfig, options: MigrateOptions): WorkerPlan | undefined {
  const { worker } = options;
  if (worker === undefined) {
    if (options.run === undefined) return undefined;
    // A dry run commits no checkpoints: there is nothing for the same command to continue.
    if (options.dryRun) throw new MigrateError('USAGE', '--run names a run that the same command continues; a dry run cannot be continued: leave --run out');
    if (options.resume !== undefined) throw new MigrateError('USAGE', '--run already continues the run it names: leave --resume out');
    parseRunReference(options.run);
    return undefined;
  }
  if (!Number.isInteger(worker.index) || !Number.isInteger(worker.count) || worker.index < 1 || worker.index > worker.count) {
    throw new MigrateError('USAGE', `--worker must be K/N with 1 ≤ K ≤ N, got ${worker.index}/${worker.count}`);
  }
  if (config.source?.kind !== 'dynamodb') throw new MigrateError('USAGE', '--worker splits DynamoDB scan segments: it needs --source dynamodb');
  if (config.source.segments === undefined) {
    throw new MigrateError('USAGE', '--worker needs an explicit --segments, the same for every worker (workers sizing the table apart could split it differently)');
  }
  if (options.dryRun) throw new MigrateError('USAGE', '--worker cannot be combined with --dry-run: a dry run records no checkpoints, so workers could not wait for each other');
  if (options.run !== undefined && options.resume !== undefined) throw new MigrateError('USAGE', 'with --worker, name the shared run with --run alone (not --resume)');
  const run = options.run ?? options.resume;
  if (run === undefined || run === 'last') throw new MigrateError('USAGE', '--worker needs --run RUN: the label (or id) of the run that all workers share');
  return { worker, segments: config.source.segments, run: parseRunReference(run) };
}

/** migrate() without a thread of its own (the migration worker runs this). */
export async function migrateInThisThread(
  config: ResolvedConfig,
  options: MigrateOptions,
  { transformInWorker }: { transformInWorker: boolean },
): Promise<MigrateResult> {
  const worker = options.worker;
  const plan = checkWorkerConfig(config, options);
  const tenant = options.tenant?.toLowerCase().replace(/[{}]/g, '');
  // Checked before anything is opened: a typo must not cost a whole run before the sweep refuses it.
  const maxDelete = parseDeleteLimit(config.maxDelete ?? DEFAULT_DELETE_LIMIT_TEXT);
  // Started first: the thread loads its modules and opens the source while this one connects.
  const reader = transformInWorker && transformWorkerAvailable(config) ? createWorkerRecordReader({ config, worker, tenant, batchRows: config.batchRows }) : undefined;
  // A new run of a DynamoDB source records its streams' positions before it reads anything
  // (recordStreams): the AWS SDK that does it loads meanwhile, while this thread connects and
  // migrates the schema; recordStreams' own import then finds it, or throws its failure. Not for
  // a run that continues another, which has recorded them already.
  if (options.resume === undefined && options.run === undefined && configuredStreamOptions(config) !== undefined) void import('../extract/dynamodb-stream.js').catch(() => {});
  let sql: SqlClient | undefined;
  try {
    sql = await openSqlClient(config.target.databaseUrl);
    // The run named by --run (shared by workers, or one process's): created by the first to arrive, continued by the others.
    const reference = plan?.run ?? (options.run === undefined ? undefined : parseRunReference(options.run));
    const sharedRun = reference === undefined ? undefined : await joinSharedRun(sql, { reference, worker: plan?.worker, start: runStartOf(config, options.tenant, plan?.worker, options.converge) });
    if (sharedRun?.status === 'completed') return await alreadyCompleted(config, sql, sharedRun, options);
    // Every run reads the lookups first: begun now, they are read while this thread migrates the
    // schema and opens the run. Not where the run records its streams' positions first (recordStreams):
    // a change between a read and that record would be missed by the sync that follows the run.
    if (configuredStreamOptions(config) === undefined) reader?.startLookups?.();
    const source = await openConfiguredSource(config, worker ? { worker } : {});
    let lookupSource: LegacySource | undefined;
    try {
      lookupSource = worker ? await openConfiguredSource(config) : undefined;
      const result = await runMigration({
        source,
        lookupSource,
        reader,
        sharedRun: plan ? { worker: plan.worker, allPartitions: () => Array.from({ length: plan.segments }, (_, i) => segmentPartition(i, plan.segments)) } : undefined,
        sql,
        targetSchema: config.target.schema,
        environment: config.environment,
        batchRows: config.batchRows,
        tenant,
        dryRun: options.dryRun ?? false,
        converge: options.converge,
        maxDelete,
        beforeFirstRead: (runSql, runId) => recordStreams(config, runSql, runId, options.progress),
        resume: sharedRun?.id ?? options.resume,
        ledgerOptions: ledgerOptionsOf(config, options.tenant, worker, options.converge),
        codeVersion,
        configHash: configHash(config),
        progress: options.progress,
      });
      // Where `sync --source export` continues from: known once the run is complete, the only kind a sync follows.
      if (result.status === 'completed' && !options.dryRun) await recordFullExportPoints(sql, result.runId, config);
      return resultOf(config, result, options);
    } catch (error) {
      // When this worker's share was already written, the others may complete the run between its joining and resuming it
      // (for one process, a command on the same run may complete it in between).
      const completed = sharedRun && error instanceof MigrateError && error.code === 'RUN_STATE' ? await completedRun(sql, sharedRun.id) : undefined;
      if (completed !== undefined) return await alreadyCompleted(config, sql, completed, options);
      throw error;
    } finally {
      await source.close();
      await lookupSource?.close();
    }
  } finally {
    // runMigration closes it too; here for a run that ends before it.
    await reader?.close();
    await sql?.close();
  }
}

/**
 * A DynamoDB run records where each table's stream stands before it reads anything (once: a
 * resumed run keeps what its first session recorded), and says once which tables have none.
 */
async function recordStreams(config: ResolvedConfig, sql: SqlClient, runId: string, progress: ProgressSink | undefined): Promise<void> {
  const options = configuredStreamOptions(config);
  if (options === undefined || (await recordedChangeStreams(sql, runId)).length > 0) return;
  // Recorded now, the streams would start after what an earlier session of this run already read:
  // the changes in between would be missed. Then nothing is recorded, and sync refuses the run.
  const { rows } = await sql.query<{ started: boolean }>('select exists (select 1 from kpi_migrate.checkpoints where run_id = $1::bigint) as started', [runId]);
  if (rows[0]?.started === true) {
    progress?.message?.(`run ${runId} read tables before its stream positions were recorded: \`kpi-migrate sync\` will not be able to follow it`);
    return;
  }
  // Loaded here only: the AWS SDK costs a thread that loads it about 20 MB and a third of a second, and this thread reads no other DynamoDB.
  const { describeTableStreams } = await import('../extract/dynamodb-stream.js');
  const streams = await describeTableStreams(options);
  await recordChangeStreams(sql, runId, streams);
  const without = streams.filter((stream) => stream.streamArn === null).map((stream) => options.tableNames[stream.entity]);
  if (without.length > 0) {
    const which = without.length === streams.length ? 'none of the six tables has a DynamoDB Stream' : `${without.join(', ')} ${without.length === 1 ? 'has' : 'have'} no DynamoDB Stream`;
    progress?.message?.(`${which}: \`kpi-migrate sync\` will not be able to follow this run (enable the streams before a full run)`);
  } else {
    progress?.message?.(`streams recorded for \`kpi-migrate sync\`: ${streams.map((stream) => `${options.tableNames[stream.entity]} (${stream.shards.length} shard(s))`).join(', ')}`);
  }
}

function resultOf(config: ResolvedConfig, result: RunResult, options: MigrateOptions): MigrateResult {
  const unbalanced = unbalancedEntities(result.counts);
  return {
    ...result,
    environment: config.environment,
    target: redactUrl(config.target.databaseUrl),
    accountingBalanced: unbalanced.length === 0,
    unbalanced,
    dryRun: options.dryRun ?? false,
    converge: result.converge,
  };
}

async function completedRun(sql: SqlClient, runId: string): Promise<RunRecord | undefined> {
  const run = await findRun(sql, runId);
  return run?.status === 'completed' ? run : undefined;
}

/**
 * A worker that joins a shared run the others already completed has nothing left to do: a Job
 * that restarts a pod after its share was written must see it succeed, not fail on the ledger.
 */
async function alreadyCompleted(config: ResolvedConfig, sql: SqlClient, run: RunRecord, options: MigrateOptions): Promise<MigrateResult> {
  const who = options.worker === undefined ? '' : ` for worker ${options.worker.index}/${options.worker.count}`;
  options.progress?.message?.(`run ${describeRun(run)} is already completed: nothing left${who} to do`);
  const now = new Date();
  const result = { runId: run.id, status: 'completed' as const, converge: run.options.converge === true, counts: await runCounts(sql, run.id), startedAt: now, finishedAt: now };
  return { ...resultOf(config, result, options), alreadyCompleted: true };
}
