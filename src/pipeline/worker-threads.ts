import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

/**
 * Whether a worker thread's entry exists as compiled JavaScript: run from TypeScript sources (as
 * the tests are) there is none, and the pipeline stays in the calling thread.
 */
export function builtWorkerExists(entry: URL): boolean {
  return entry.pathname.endsWith('.js') && existsSync(fileURLToPath(entry));
}

/**
 * A pipeline thread's heap, bounded: left to itself V8 lets a heap grow to several times what is
 * live before collecting, and the process's resident memory with it. Live in either thread are a
 * few batches (their COPY text takes two bytes a character as soon as one character needs them)
 * and what mapping or writing one allocates. Reaching the bound ends the run, so it leaves room
 * for several times that.
 *
 * - The reader also holds the lookups and the link index, which grow with the data (their keys
 *   are typed arrays, outside the bound, but not all of them): 192 MB did end a run at 2 million
 *   facts with 20,000-row batches.
 * - The writer holds nothing that grows with the data, only the batches in flight: up to five
 *   batches' COPY text (about 4.6 MB each at 5,000 rows) were live in the middle of a 2-million-fact
 *   run, and 12 MB in all at the end of one of 600,000. With the reader's bound V8 let its heap
 *   reach 188 MB, mostly text already written; its own bound keeps room for rows about four times
 *   as wide as the fixtures'. (64 MB ended a 2-million-fact run, in which the ids of refused
 *   records still kept whole batches' text alive, since fixed.)
 * - The young generation is bounded as well. V8 grew it to 34 MB in each thread during a
 *   200,000-fact run, while what outlives a scavenge here is a page of items and the batch being
 *   built. At 8 MB the same run took the same time (within the machine's noise) and its peak RSS
 *   fell from about 330 MB to 255–280 MB; at 4 MB it cost a fifth more CPU for 15 MB less.
 */
export function workerHeapLimits(thread: 'reader' | 'writer', batchRows: number): { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number } {
  const oldGeneration = Math.max(thread === 'reader' ? 512 : 128, Math.ceil((batchRows * 24) / 1024));
  return { maxOldGenerationSizeMb: oldGeneration, maxYoungGenerationSizeMb: 8 };
}

/** What a worker's failure says, with the way out when it ran out of heap. */
export function workerFailure(error: Error, batchRows: number): string {
  return (error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
    ? `${error.message} (its heap holds a few batches of --batch-rows ${batchRows}: a smaller --batch-rows needs less)`
    : error.message;
}

/**
 * The old generation the reader's heap starts with, in MB. V8 starts a worker's old generation at
 * a few MB and sets its next limit from what survives each full collection. The reader's survivors
 * are mostly short-lived (a page's lines, a batch's items until it is written: about 210 MB
 * promoted over a 200,000-fact run), and with its live set near 20 MB that meant a full
 * collection every 150 ms or so, marked concurrently on the other threads: 57 in the reader and
 * 4.7 s of the process's 16 s of CPU on V8's helper threads. Measured side by side (3 paired runs
 * each, 200,000 facts): 32 MB changed nothing; 48 MB took the run's CPU from 14.0 to 12.9 s for
 * 20 MB more peak RSS (206 to 229 MB), and in a second set of pairs from 13.9 to 12.7 s for 7 MB
 * more (221 to 228 MB); 64 MB saved a little more for about 40 MB more (247 MB, too near the
 * 250 MB bound). A larger data set outgrows it and the heap grows as before.
 */
export const READER_INITIAL_OLD_SPACE_MB = 48;

/**
 * The same for the writer's heap. Its live set is small (15 MB or so), but each batch's id
 * strings (185 KB each at 5,000 rows) and query texts are large objects, allocated straight in
 * the old generation: from V8's few MB it collected the whole heap 26 times in a 200,000-fact run
 * (--trace-gc), every half second; 18 times at 32 MB (V8 sizes the heap from what survives
 * after its first full collection: the initial size only puts that off). Measured side by side
 * (4 paired runs): the run's user CPU fell from 12.09 to 11.63 s on average, its time from 13.35
 * to 12.85 s, peak RSS the same (234 MB on average both ways).
 */
export const WRITER_INITIAL_OLD_SPACE_MB = 32;

/**
 * A worker whose heap starts with an old generation of `initialOldSpaceMb`. Worker resource
 * limits have no initial size; V8 reads its flag when a heap is made, which for a worker is in
 * its own thread after `new Worker` returns: the flag is set for that moment and put back (0,
 * V8's default) once the worker is running or gone.
 */
export function startWorkerWithOldSpace(initialOldSpaceMb: number, start: () => Worker): Worker {
  setFlagsFromString(`--initial-old-space-size=${initialOldSpaceMb}`);
  let worker: Worker;
  try {
    worker = start();
  } catch (error) {
    setFlagsFromString('--initial-old-space-size=0');
    throw error;
  }
  let cleared = false;
  const clear = (): void => {
    if (cleared) return;
    cleared = true;
    setFlagsFromString('--initial-old-space-size=0');
  };
  worker.once('online', clear);
  worker.once('error', clear);
  worker.once('exit', clear);
  return worker;
}
