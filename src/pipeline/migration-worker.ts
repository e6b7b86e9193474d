// Entry of the migration worker thread (see migration-thread.ts): migrate() here, progress and
// the outcome posted back to the thread that started it.
import { parentPort, workerData } from 'node:worker_threads';
import { coerceError } from '../errors.js';
import { migrateInThisThread } from './migrate-in-this-thread.js';
import type { FromMigrationWorker, MigrationWorkerData } from './migration-thread.js';
import { errorToWire } from './worker-wire.js';

const port = parentPort;
if (port === null) throw new Error('migration-worker.js runs as a worker thread');
const { config, options } = workerData as MigrationWorkerData;
const send = (message: FromMigrationWorker): void => port.postMessage(message);

try {
  const value = await migrateInThisThread(
    config,
    {
      ...options,
      progress: {
        update: (progress) => send({ type: 'progress', value: { ...progress } }),
        message: (text) => send({ type: 'message', text }),
      },
    },
    { transformInWorker: true },
  );
  send({ type: 'result', value });
} catch (error) {
  send({ type: 'error', error: errorToWire(coerceError(error)) });
}
