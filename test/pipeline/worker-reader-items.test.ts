import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { packageRoot } from '../../src/package-root.js';
import type { MappedBatch } from '../../src/pipeline/record-reader.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';

// The worker thread runs compiled JavaScript: this test uses the build (`npm test` makes it first).
const BUILT_READER = path.join(packageRoot, 'dist', 'src', 'pipeline', 'worker-reader.js');
const EXPORT_DIR = path.join(SMALL_FIXTURES, 'export');
/** The item whose decoding fails here, in the main thread (the worker sends its text unchanged). */
const fault = { sourceId: undefined as string | undefined };

// Fault injection in the main thread's copy of the wire module only: the worker thread loads its
// own, unmocked. Decoding the chosen item's text throws, as a corrupted text would.
vi.mock('../../dist/src/pipeline/worker-wire.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/pipeline/worker-wire.js')>();
  return {
    ...real,
    itemOfText(text: Parameters<typeof real.itemOfText>[0]) {
      if (fault.sourceId !== undefined && text.text.includes(fault.sourceId)) throw new Error(`injected: cannot decode the item of ${fault.sourceId}`);
      return real.itemOfText(text);
    },
  };
});

type WorkerReaderModule = typeof import('../../src/pipeline/worker-reader.js');

describe('items asked of the reading thread', () => {
  it('when one of several items asked together cannot be decoded, that one fails and the others arrive (none waits forever)', async () => {
    if (!existsSync(BUILT_READER)) throw new Error(`${BUILT_READER} is missing: run \`npm run build\` first (\`npm test\` does)`);
    const { createWorkerRecordReader } = (await import(BUILT_READER)) as WorkerReaderModule;
    const config = resolveConfig({ env: {}, overrides: { source: 'export', exportDir: EXPORT_DIR, databaseUrl: 'postgres://unused@127.0.0.1:1/unused' } });
    const reader = createWorkerRecordReader({ config, batchRows: 40 });
    try {
      await reader.readLookups(() => {});
      await reader.indexLinks(() => {});
      let batch: MappedBatch | undefined;
      for await (const next of reader.batches('KpiActual', {}, { indexLinks: false, runId: '7' })) {
        if (next.prepared.records.length >= 5) {
          batch = next;
          break;
        }
        next.written?.();
      }
      const records = batch!.prepared.records.slice(0, 5);
      expect(records).toHaveLength(5);
      fault.sourceId = records[1]!.sourceId;
      // Asked in one turn, so the five go to the worker as one request.
      const asked = records.map((record) => record.item());
      const settled = await Promise.race([Promise.allSettled(asked), sleep(15_000).then(() => 'still waiting after 15 s' as const)]);
      expect(settled).not.toBe('still waiting after 15 s');
      const outcomes = settled as PromiseSettledResult<unknown>[];
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
      expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ message: `injected: cannot decode the item of ${records[1]!.sourceId}` });
      for (const at of [0, 2, 3, 4]) {
        expect(String((outcomes[at] as PromiseFulfilledResult<Record<string, unknown>>).value.Id).toLowerCase()).toContain(records[at]!.sourceId.toLowerCase());
      }
    } finally {
      fault.sourceId = undefined;
      await reader.close();
    }
  });
});
