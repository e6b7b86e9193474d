/** Starts one producer; it must stop promptly once `signal` aborts. */
export type Producer<T> = (signal: AbortSignal) => AsyncGenerator<T, void, undefined>;

interface Running<T> {
  generator: AsyncGenerator<T, void, undefined>;
  next: Promise<{ id: number; result: IteratorResult<T, void> }>;
}

/**
 * Runs up to `concurrency` producers at once and yields their values as they come.
 * Each running producer holds at most one value ready plus the one being produced, so
 * memory stays flat however fast the producers are; a producer that just delivered goes
 * to the back of the queue, so a fast one cannot starve the rest. When the consumer stops
 * early or a producer fails, the others are aborted and closed before this returns.
 */
export async function* mergeConcurrently<T>(producers: readonly Producer<T>[], concurrency: number): AsyncGenerator<T, void, undefined> {
  const abort = new AbortController();
  const waiting = [...producers];
  const running = new Map<number, Running<T>>();
  let nextId = 0;
  const pull = (id: number, generator: AsyncGenerator<T, void, undefined>) =>
    generator.next().then((result) => ({ id, result }));
  const startMore = () => {
    while (running.size < Math.max(1, concurrency) && waiting.length > 0) {
      const generator = waiting.shift()!(abort.signal);
      const id = nextId++;
      running.set(id, { generator, next: pull(id, generator) });
    }
  };
  try {
    startMore();
    while (running.size > 0) {
      const { id, result } = await Promise.race([...running.values()].map((r) => r.next));
      const entry = running.get(id)!;
      running.delete(id);
      if (result.done) {
        startMore();
        continue;
      }
      entry.next = pull(id, entry.generator);
      running.set(id, entry);
      yield result.value;
    }
  } finally {
    abort.abort();
    const closing = [...running.values()].map(async (r) => {
      await r.next.catch(() => undefined);
      await r.generator.return(undefined).catch(() => undefined);
    });
    await Promise.all(closing);
  }
}
