import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
