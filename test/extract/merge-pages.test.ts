import { describe, expect, it } from 'vitest';
import { mergeConcurrently, type Producer } from '../../src/extract/merge-pages.js';

interface Probe {
  produced: number[];
  closed: boolean[];
  aborted: boolean[];
  running: number;
  maxRunning: number;
}

/** Producers that count what they made and whether they were closed, each yielding `[id, n]`. */
function producers(count: number, length: number, options: { failAt?: [number, number] } = {}): { list: Producer<[number, number]>[]; probe: Probe } {
  const probe: Probe = { produced: Array(count).fill(0), closed: Array(count).fill(false), aborted: Array(count).fill(false), running: 0, maxRunning: 0 };
  const list = Array.from({ length: count }, (_, id): Producer<[number, number]> => async function* (signal) {
    probe.running += 1;
    probe.maxRunning = Math.max(probe.maxRunning, probe.running);
    try {
      for (let n = 0; n < length; n++) {
        await new Promise((resolve) => setImmediate(resolve));
        if (options.failAt?.[0] === id && options.failAt[1] === n) throw new Error(`producer ${id} failed`);
        probe.produced[id]! += 1;
        yield [id, n];
      }
    } finally {
      probe.running -= 1;
      probe.closed[id] = true;
      probe.aborted[id] = signal.aborted;
    }
  });
  return { list, probe };
}

describe('mergeConcurrently', () => {
  it('delivers every value of every producer exactly once, each producer in its own order', async () => {
    const { list } = producers(5, 40);
    const seen: [number, number][] = [];
    for await (const value of mergeConcurrently(list, 5)) seen.push(value);
    expect(seen).toHaveLength(200);
    for (let id = 0; id < 5; id++) expect(seen.filter(([p]) => p === id).map(([, n]) => n)).toEqual(Array.from({ length: 40 }, (_, n) => n));
  });

  it('reads ahead at most one value per producer beyond what the consumer took', async () => {
    const { list, probe } = producers(4, 30);
    const consumed = [0, 0, 0, 0];
    for await (const [id] of mergeConcurrently(list, 4)) {
      consumed[id]! += 1;
      // A slow consumer: producers get every chance to run ahead.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      for (let p = 0; p < 4; p++) expect(probe.produced[p]! - consumed[p]!).toBeLessThanOrEqual(1);
    }
    expect(consumed).toEqual([30, 30, 30, 30]);
  });

  it('takes turns, so a producer that is always ready cannot starve the others', async () => {
    const { list } = producers(3, 1000);
    const firstIds: number[] = [];
    for await (const [id] of mergeConcurrently(list, 3)) {
      firstIds.push(id);
      if (firstIds.length === 30) break;
    }
    for (let id = 0; id < 3; id++) expect(firstIds.filter((p) => p === id).length).toBeGreaterThanOrEqual(9);
  });

  it('runs at most `concurrency` producers at once and starts the next when one finishes', async () => {
    const { list, probe } = producers(6, 10);
    let count = 0;
    for await (const _ of mergeConcurrently(list, 2)) count += 1;
    expect(count).toBe(60);
    expect(probe.maxRunning).toBe(2);
  });

  it('a consumer that stops early aborts and closes every running producer', async () => {
    const { list, probe } = producers(4, 1000);
    let taken = 0;
    for await (const _ of mergeConcurrently(list, 3)) if (++taken === 10) break;
    expect(probe.closed).toEqual([true, true, true, false]);
    expect(probe.aborted.slice(0, 3)).toEqual([true, true, true]);
    expect(probe.running).toBe(0);
  });

  it('a failing producer fails the merge and the others are closed', async () => {
    const { list, probe } = producers(3, 50, { failAt: [1, 7] });
    const seen: [number, number][] = [];
    await expect(
      (async () => {
        for await (const value of mergeConcurrently(list, 3)) seen.push(value);
      })(),
    ).rejects.toThrow('producer 1 failed');
    expect(seen.filter(([id]) => id === 1)).toHaveLength(7);
    expect(probe.closed).toEqual([true, true, true]);
    expect(probe.running).toBe(0);
  });
});
