import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolve.js';
import type { RunCounts } from '../load/index.js';
import { packageRoot } from '../package-root.js';
import { MIGRATED_ENTITIES } from '../model/entities.js';
import type { RunResult } from './run.js';
import { migrateInWorker, migrationWorkerAvailable } from './migration-thread.js';
import type { ProgressSink } from './progress.js';

export interface MigrateOptions {
  /** Continue this run, or the last unfinished one; with `worker`, the id of the run to join (as `run`). */
  resume?: string | 'last';
  /** This process is worker `index` of `count` on one shared run (DynamoDB scan segments only). */
  worker?: { index: number; count: number };
  /**
   * The run, by id (an existing run), or by a label: the first process to arrive creates the run
   * under it, and the same command after a kill (or a restarted worker) continues it; once it is
   * completed, the same command finds nothing left to do. With `worker`, the run the workers share.
   */
  run?: string;
  tenant?: string;
  dryRun?: boolean;
  /**
   * A converge run: at its end it removes the tool-written rows the source no longer justifies
   * (contract §5), refusing when a table would lose more than the configured maxDelete.
   */
  converge?: boolean;
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
  /** The run (named by --run) was completed before this process came: it did nothing. */
  alreadyCompleted?: boolean;
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

/** Opens the configured source and target, runs (or resumes) one migration, and closes both. */
export async function migrate(config: ResolvedConfig, options: MigrateOptions = {}): Promise<MigrateResult> {
  const threads = options.workerThreads ?? true;
  if (threads && migrationWorkerAvailable(config)) return migrateInWorker(config, options);
  // Loaded here only: a thread that hands the run to the migration worker loads none of the stages.
  const { migrateInThisThread } = await import('./migrate-in-this-thread.js');
  return migrateInThisThread(config, options, { transformInWorker: threads });
}
