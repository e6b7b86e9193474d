import { Worker } from 'node:worker_threads';
import type { ResolvedConfig } from '../config/resolve.js';
import { MigrateError } from '../errors.js';
import type { MigrateOptions, MigrateResult } from './migrate.js';
import type { EntityProgress } from './progress.js';
import { isPostgresServerUrl } from '../db/open.js';
import { builtWorkerExists, startWorkerWithOldSpace, workerFailure, workerHeapLimits, WRITER_INITIAL_OLD_SPACE_MB } from './worker-threads.js';
import { errorFromWire, type WireError } from './worker-wire.js';

const WORKER_FILE = new URL('./migration-worker.js', import.meta.url);

/** What the migration worker is started with: migrate()'s arguments, less the progress sink. */
export interface MigrationWorkerData {
  config: ResolvedConfig;
  options: Omit<MigrateOptions, 'progress' | 'workerThreads'>;
}

export type FromMigrationWorker =
  | { type: 'progress'; value: EntityProgress }
  | { type: 'message'; text: string }
  | { type: 'result'; value: MigrateResult }
  | { type: 'error'; error: WireError };

/**
 * Whether migrate() can run in a worker thread: the worker is compiled JavaScript (run from
 * TypeScript sources, as the tests are, there is none), and the target is a PostgreSQL server
 * (an embedded PGlite stays in the process that opened it).
 */
export function migrationWorkerAvailable(config: ResolvedConfig): boolean {
  return builtWorkerExists(WORKER_FILE) && isPostgresServerUrl(config.target.databaseUrl);
}

/**
 * migrate() in a worker thread (which reads and maps in a worker of its own): this thread only
 * relays progress, so its heap, which no flag can bound once the process runs, stays small.
 */
export function migrateInWorker(config: ResolvedConfig, options: MigrateOptions): Promise<MigrateResult> {
  const { progress, workerThreads: _threads, ...rest } = options;
  const workerData: MigrationWorkerData = { config, options: rest };
  const worker = startWorkerWithOldSpace(WRITER_INITIAL_OLD_SPACE_MB, () => new Worker(WORKER_FILE, { workerData, resourceLimits: workerHeapLimits('writer', config.batchRows) }));
  return new Promise<MigrateResult>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      outcome();
      // The worker posts its outcome after closing what it opened: nothing of it is still needed.
      void worker.terminate();
    };
    worker.on('message', (message: FromMigrationWorker) => {
      switch (message.type) {
        case 'progress':
          progress?.update(message.value);
          return;
        case 'message':
          progress?.message?.(message.text);
          return;
        case 'result':
          settle(() => resolve(message.value));
          return;
        case 'error':
          settle(() => reject(errorFromWire(message.error)));
          return;
      }
    });
    worker.on('error', (error) =>
      settle(() => reject(new MigrateError('INTERNAL', `the migration worker failed: ${workerFailure(error, config.batchRows)}`, { cause: error }))),
    );
    worker.on('exit', (code) => settle(() => reject(new MigrateError('INTERNAL', `the migration worker exited (code ${code}) without a result`))));
  });
}
