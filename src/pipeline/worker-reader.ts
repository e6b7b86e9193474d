import { Worker } from 'node:worker_threads';
import type { ResolvedConfig } from '../config/resolve.js';
import { MigrateError } from '../errors.js';
import { isPostgresServerUrl } from '../db/open.js';
import { builtWorkerExists, READER_INITIAL_OLD_SPACE_MB, startWorkerWithOldSpace, workerFailure, workerHeapLimits } from './worker-threads.js';
import type { LookupOutcome, MappedBatch, ReaderProgress, RecordReader } from './record-reader.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { NextRead } from '../model/source.js';
import {
  batchFromWire,
  itemOfText,
  type ItemText,
  errorFromWire,
  rejectFromWire,
  type FromWorker,
  type ToWorker,
  type TransformWorkerData,
  type WireBatch,
} from './worker-wire.js';

const WORKER_FILE = new URL('./transform-worker.js', import.meta.url);

/** Batches the worker may have mapped ahead of the writer (each about `batchRows` rows in memory). */
const READ_AHEAD = 1;

/**
 * Whether this configuration can be read in a worker thread: the worker is compiled JavaScript
 * (run from TypeScript sources, as the tests are, there is none), and it opens the source itself,
 * which must not be an embedded PGlite that this process may hold open too.
 */
export function transformWorkerAvailable(config: ResolvedConfig): boolean {
  if (!builtWorkerExists(WORKER_FILE)) return false;
  const source = config.source;
  if (source === undefined) return false;
  return source.kind !== 'kv' || (source.url !== undefined && isPostgresServerUrl(source.url));
}

interface Pending {
  onBatch?: (batch: WireBatch) => void;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * A RecordReader whose extract and transform run in a worker thread: JSON parsing, zod checks,
 * fan-out and COPY encoding take one core while this thread drives PostgreSQL and PostgreSQL its
 * own. The worker opens the configured source itself (the LegacySource objects cannot cross).
 */
export function createWorkerRecordReader(setup: TransformWorkerData): RecordReader {
  const worker = startWorkerWithOldSpace(READER_INITIAL_OLD_SPACE_MB, () => new Worker(WORKER_FILE, { workerData: setup, resourceLimits: workerHeapLimits('reader', setup.batchRows) }));
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let failure: MigrateError | undefined;
  // Progress of lookups begun by startLookups waits here for the sink readLookups brings.
  let progress: ReaderProgress | undefined;
  const early: Parameters<ReaderProgress>[0][] = [];
  const takeProgress = (sink: ReaderProgress): void => {
    progress = sink;
    for (const value of early.splice(0)) sink(value);
  };
  let closed: Promise<void> | undefined;
  let exited = false;

  const failAll = (error: MigrateError): void => {
    failure ??= error;
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
  };
  worker.on('message', (message: FromWorker) => {
    if (message.type === 'progress') return progress === undefined ? void early.push(message.value) : progress(message.value);
    const waiting = pending.get(message.id);
    if (waiting === undefined) return;
    if (message.type === 'batch') return waiting.onBatch?.(message.value);
    pending.delete(message.id);
    if (message.type === 'error') waiting.reject(errorFromWire(message.error));
    else waiting.resolve(message.value);
  });
  worker.on('error', (error) => failAll(new MigrateError('INTERNAL', `the transform worker failed: ${workerFailure(error, setup.batchRows)}`, { cause: error })));
  worker.on('exit', (code) => {
    exited = true;
    if (closed === undefined) failAll(new MigrateError('INTERNAL', `the transform worker exited (code ${code}) before the run was done`));
  });

  const post = (message: ToWorker): void => worker.postMessage(message);
  const request = <T>(message: ToWorker, onBatch?: (batch: WireBatch) => void): Promise<T> => {
    if (failure !== undefined) return Promise.reject(failure);
    return new Promise<T>((resolve, reject) => {
      pending.set(message.id, { onBatch, resolve: resolve as (value: unknown) => void, reject });
      post(message);
    });
  };

  // Items asked for in one turn go as one message: the worker answers between two pages.
  type Waiter = { resolve(item: LegacyItem): void; reject(error: unknown): void };
  const wanted = new Map<number, { indexes: number[]; waiters: Waiter[] }>();
  function itemOf(seq: number, index: number): Promise<LegacyItem> {
    let group = wanted.get(seq);
    if (group === undefined) {
      const asked = { indexes: [] as number[], waiters: [] as Waiter[] };
      wanted.set(seq, asked);
      setImmediate(() => {
        wanted.delete(seq);
        request<ItemText[]>({ type: 'items', id: nextId++, seq, indexes: asked.indexes }).then(
          // Each waiter is settled on its own: one item that cannot be decoded must not leave the others waiting.
          (texts) =>
            asked.waiters.forEach((waiter, at) => {
              try {
                waiter.resolve(itemOfText(texts[at]!));
              } catch (error) {
                waiter.reject(error);
              }
            }),
          (error: unknown) => asked.waiters.forEach((waiter) => waiter.reject(error)),
        );
      });
      group = asked;
    }
    const { indexes, waiters } = group;
    return new Promise<LegacyItem>((resolve, reject) => {
      indexes.push(index);
      waiters.push({ resolve, reject });
    });
  }

  type WireOutcomes = (Omit<LookupOutcome, 'rejects'> & { rejects: Parameters<typeof rejectFromWire>[0][] })[];
  let lookups: Promise<WireOutcomes> | undefined;
  let lookupsTaken = false;
  const requestLookups = (next: NextRead | undefined): Promise<WireOutcomes> =>
    request<WireOutcomes>({ type: 'lookups', id: nextId++, ...(next === undefined ? {} : { next }) });

  async function* batches(...[entity, from, { indexLinks, runId, whenRead, next }]: Parameters<RecordReader['batches']>): AsyncGenerator<MappedBatch> {
    const id = nextId++;
    const ready: WireBatch[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let error: unknown;
    request<void>({ type: 'batches', id, entity, from, indexLinks, runId, next, credits: READ_AHEAD }, (batch) => {
      ready.push(batch);
      wake?.();
    }).then(
      () => {
        finished = true;
        // The worker is done with this entity: its batches may still wait here for the writer.
        whenRead?.();
        wake?.();
      },
      (reason: unknown) => {
        error = reason;
        finished = true;
        wake?.();
      },
    );
    for (;;) {
      const next = ready.shift();
      if (next !== undefined) {
        post({ type: 'credit', id });
        const { seq } = next;
        const batch = batchFromWire(next, (index) => itemOf(seq, index));
        batch.written = () => post({ type: 'release', id: nextId++, seq });
        yield batch;
        continue;
      }
      if (finished) {
        if (error !== undefined) throw error;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }

  return {
    async readLookups(onProgress, next) {
      lookupsTaken = true;
      takeProgress(onProgress);
      const outcomes = await (lookups ?? requestLookups(next));
      return outcomes.map((outcome) => ({ ...outcome, rejects: outcome.rejects.map(rejectFromWire) }));
    },
    startLookups() {
      if (lookups !== undefined) return;
      lookups = requestLookups(undefined);
      // Awaited by readLookups; a failure before then is thrown there.
      lookups.catch(() => {});
    },
    async indexLinks(onProgress) {
      takeProgress(onProgress);
      await request<void>({ type: 'index', id: nextId++ });
    },
    batches,
    async forgetLinks(sourceIds) {
      await request<void>({ type: 'forget', id: nextId++, sourceIds });
    },
    close() {
      closed ??= (async () => {
        if (exited) return;
        const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        post({ type: 'close', id: nextId++ });
        // The worker closes its source and exits; one stuck in a read is not waited for long, nor
        // one reading lookups that the run, ended before it asked for them, will never take.
        const timer = setTimeout(() => void worker.terminate(), lookups !== undefined && !lookupsTaken ? 0 : 5000);
        await exit;
        clearTimeout(timer);
      })();
      return closed;
    },
  };
}
