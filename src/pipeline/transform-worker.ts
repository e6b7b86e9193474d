// Entry of the transform worker thread (see worker-reader.ts): it opens the configured source,
// reads and maps records with an in-thread RecordReader, and sends batches ready to load.
import { parentPort, workerData } from 'node:worker_threads';
import { coerceError } from '../errors.js';
import type { LegacySource } from '../model/source.js';
import { openConfiguredSource } from '../reading/open-source.js';
import { createRecordReader, type MappedBatch, type RecordReader } from './record-reader.js';
import { batchToWire, errorToWire, itemTextAt, rejectToWire, type FromWorker, type ToWorker, type TransformWorkerData } from './worker-wire.js';

const port = parentPort;
if (port === null) throw new Error('transform-worker.js runs as a worker thread');
const setup = workerData as TransformWorkerData;
const send = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

/** Batches each stream may still send before the writer takes one (see worker-reader.ts). */
const credits = new Map<number, number>();
const creditArrived = new Map<number, () => void>();
let seq = 0;
/**
 * Batches sent and not yet written, for the items the writer may ask for. An export record keeps
 * its line, not its parsed item (see RecordItems).
 */
const unwritten = new Map<number, MappedBatch>();

let stopped = false;

async function open(): Promise<{ reader: RecordReader; sources: LegacySource[] }> {
  const source = await openConfiguredSource(setup.config, setup.worker ? { worker: setup.worker } : {});
  const wholeTables = setup.worker ? await openConfiguredSource(setup.config) : source;
  const reader = createRecordReader({ source, wholeTables, tenant: setup.tenant, batchRows: setup.batchRows });
  return { reader, sources: wholeTables === source ? [source] : [source, wholeTables] };
}

const opened = open();
opened.catch(() => {});

async function serve(message: ToWorker): Promise<void> {
  const { reader } = await opened;
  const progress = (value: Parameters<Parameters<RecordReader['readLookups']>[0]>[0]): void => send({ type: 'progress', value });
  switch (message.type) {
    case 'lookups': {
      const outcomes = await reader.readLookups(progress, message.next);
      send({ type: 'done', id: message.id, value: outcomes.map((o) => ({ ...o, rejects: o.rejects.map(rejectToWire) })) });
      return;
    }
    case 'index':
      await reader.indexLinks(progress);
      send({ type: 'done', id: message.id });
      return;
    case 'forget':
      await reader.forgetLinks(message.sourceIds);
      send({ type: 'done', id: message.id });
      return;
    case 'batches':
      // Credits bound the batches ahead of the writer: memory stays a few batches whatever the table.
      credits.set(message.id, message.credits);
      for await (const batch of reader.batches(message.entity, message.from, {
        indexLinks: message.indexLinks,
        runId: message.runId,
        ...(message.next === undefined ? {} : { next: message.next }),
      })) {
        while (credits.get(message.id) === 0 && !stopped) await new Promise<void>((resolve) => creditArrived.set(message.id, resolve));
        if (stopped) return;
        credits.set(message.id, credits.get(message.id)! - 1);
        seq += 1;
        unwritten.set(seq, batch);
        const { wire, transfer } = await batchToWire(batch, seq);
        send({ type: 'batch', id: message.id, value: wire }, transfer);
      }
      credits.delete(message.id);
      send({ type: 'done', id: message.id });
      return;
    case 'items': {
      const batch = unwritten.get(message.seq);
      if (batch === undefined) throw new Error(`batch ${message.seq} is written already: its items are gone`);
      send({ type: 'done', id: message.id, value: await Promise.all(message.indexes.map((index) => itemTextAt(batch, index))) });
      return;
    }
    case 'release':
      unwritten.delete(message.seq);
      return;
    case 'credit':
    case 'close':
      return;
  }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'credit') {
    credits.set(message.id, (credits.get(message.id) ?? 0) + 1);
    creditArrived.get(message.id)?.();
    creditArrived.delete(message.id);
    return;
  }
  if (message.type === 'close') {
    stopped = true;
    for (const wake of creditArrived.values()) wake();
    void opened
      .then(async ({ sources }) => {
        for (const source of sources) await source.close();
      })
      .catch(() => {})
      .finally(() => port.close());
    return;
  }
  serve(message).catch((error: unknown) => send({ type: 'error', id: message.id, error: errorToWire(coerceError(error)) }));
});
