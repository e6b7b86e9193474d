import type { ResolvedConfig } from '../config/resolve.js';
import { MigrateError, type ErrorCode } from '../errors.js';
import type { NextRead, ResumeState } from '../model/source.js';
import type { CheckpointAdvance } from '../load/batch-writer.js';
import type { LoadReject } from '../load/prepare-record.js';
import { encodedBatch, encodeRecords, type EncodedRecordFields, type EncodedRecords } from '../load/encoded-records.js';
import type { MigratedEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { Reject } from '../model/reject.js';
import { itemFromWire, itemToWire } from './item-wire.js';
import { rejectEntry, withRejectEntry } from '../load/rejects.js';
import { itemOfExportLine } from '../extract/export-source.js';
import type { LookupOutcome, MappedBatch, ReaderProgress } from './record-reader.js';

/** What the transform worker is started with: the source to open and how to read it. */
export interface TransformWorkerData {
  config: ResolvedConfig;
  worker?: { index: number; count: number };
  tenant?: string;
  batchRows: number;
}

/** A reject with its item as DynamoDB JSON text, and (batches' rejects) its entry as stored (rejectEntry). */
export type WireReject = Omit<LoadReject, 'item'> & { item: string; entry?: string };

/**
 * A MappedBatch as it crosses the thread boundary: its records as the writer reads them
 * (EncodedRecordFields: COPY text as UTF-8 in a buffer that is transferred, not copied; ids in two
 * strings; offsets in typed arrays), rather than thousands of small objects, which structured clone
 * copies one by one. Items stay with the worker until the batch is written (`seq` names the
 * batch), and the writer asks for the few it needs; those of records PostgreSQL will refuse (text
 * holding U+0000) come along.
 */
export interface WireBatch extends EncodedRecordFields {
  seq: number;
  runId: string;
  read: number;
  skipped: number;
  personFallbacks: number;
  checkpoints: CheckpointAdvance[];
  /** Items sent along, by record: see ItemText. */
  eagerItems: Record<number, ItemText>;
  encodingRejects: WireReject[];
  mappingRejects: WireReject[];
}

export interface WireError {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
  /** The cause's stack (or message), kept as the cause of the error rebuilt on the other side. */
  cause?: string;
}

export type ToWorker =
  | { type: 'lookups'; id: number; next?: NextRead }
  | { type: 'index'; id: number }
  | { type: 'forget'; id: number; sourceIds: readonly string[] }
  | { type: 'batches'; id: number; entity: MigratedEntity; from: ResumeState; indexLinks: boolean; runId: string; next?: NextRead; credits: number }
  | { type: 'credit'; id: number }
  | { type: 'items'; id: number; seq: number; indexes: number[] }
  | { type: 'release'; id: number; seq: number }
  | { type: 'close'; id: number };

export type FromWorker =
  | { type: 'progress'; value: Parameters<ReaderProgress>[0] }
  | { type: 'batch'; id: number; value: WireBatch }
  | { type: 'done'; id: number; value?: (Omit<LookupOutcome, 'rejects'> & { rejects: WireReject[] })[] | ItemText[] }
  | { type: 'error'; id: number; error: WireError };

export function rejectToWire(reject: Reject | LoadReject): WireReject {
  return { ...reject, item: itemToWire(reject.item) };
}

export function rejectFromWire(reject: WireReject): LoadReject {
  const { item: text, entry, ...fields } = reject;
  if (entry === undefined) return { ...fields, item: itemFromWire(text) };
  // Stored as its entry says; the item is rebuilt only if something else asks for it.
  let item: LegacyItem | undefined;
  const stored = { ...fields } as LoadReject;
  Object.defineProperty(stored, 'item', { get: () => (item ??= itemFromWire(text)), enumerable: true, configurable: true });
  return withRejectEntry(stored, entry);
}

/** A batch's reject as it crosses: its entry made here, where its item is. */
function storedRejectToWire(reject: Reject | LoadReject): WireReject {
  return { ...rejectToWire(reject), entry: rejectEntry(reject) };
}

/** An item as text: its export line, or DynamoDB JSON (itemToWire) for items of other sources. */
export interface ItemText {
  text: string;
  isLine: boolean;
}

/** Record i's item as text: its export line as it was read, when it came from one. */
export async function itemTextAt(batch: MappedBatch, index: number): Promise<ItemText> {
  const line = batch.recordItems?.line(index);
  if (line !== undefined) return { text: line, isLine: true };
  const { prepared } = batch;
  const item = prepared.encoded === undefined ? await prepared.records[index]!.item() : await prepared.encoded.item(index);
  return { text: itemToWire(item), isLine: false };
}

export function itemOfText({ text, isLine }: ItemText): LegacyItem {
  return isLine ? itemOfExportLine(text) : itemFromWire(text);
}

/** The batch as it crosses, and the buffers to transfer with it (they are no longer usable here). */
export async function batchToWire(batch: MappedBatch, seq: number): Promise<{ wire: WireBatch; transfer: ArrayBuffer[] }> {
  const { prepared } = batch;
  // `records` only when the batch is not encoded yet: on an encoded batch it decodes every record again.
  const encoded: EncodedRecordFields = prepared.encoded ?? encodeRecords(prepared.records);
  const { encodingRejects } = prepared;
  const eagerItems: Record<number, ItemText> = {};
  for (const index of Object.keys(encoded.suspectTexts)) eagerItems[Number(index)] = await itemTextAt(batch, Number(index));
  const { sourceIds, sourceIdEnds, rowIds, rowIdEnds, recordRowEnds, copyBytes, copyEnds, suspectTexts } = encoded;
  const wire: WireBatch = {
    sourceIds,
    sourceIdEnds,
    rowIds,
    rowIdEnds,
    recordRowEnds,
    copyBytes,
    copyEnds,
    suspectTexts,
    seq,
    runId: batch.prepared.runId,
    read: batch.read,
    skipped: batch.skipped,
    personFallbacks: batch.personFallbacks,
    checkpoints: batch.checkpoints,
    eagerItems,
    encodingRejects: encodingRejects.map(storedRejectToWire),
    mappingRejects: batch.mappingRejects.map(storedRejectToWire),
  };
  const transfer = [copyBytes, sourceIdEnds, rowIdEnds, recordRowEnds, copyEnds].map((array) => array.buffer as ArrayBuffer);
  return { wire, transfer: [...new Set(transfer)] };
}

/**
 * The batch back: the writer reads its encoded records; `records` are made only when asked for
 * (their texts decoded again). `item(i)` fetches record i's item from the worker.
 */
export function batchFromWire(wire: WireBatch, item: (index: number) => Promise<LegacyItem>): MappedBatch {
  const { eagerItems } = wire;
  const encoded: EncodedRecords = {
    sourceIds: wire.sourceIds,
    sourceIdEnds: wire.sourceIdEnds,
    rowIds: wire.rowIds,
    rowIdEnds: wire.rowIdEnds,
    recordRowEnds: wire.recordRowEnds,
    copyBytes: wire.copyBytes,
    copyEnds: wire.copyEnds,
    suspectTexts: wire.suspectTexts,
    item: (index) => {
      const eager = eagerItems[index];
      return eager === undefined ? item(index) : Promise.resolve().then(() => itemOfText(eager));
    },
  };
  const prepared = encodedBatch(wire.runId, encoded, wire.encodingRejects.map(rejectFromWire));
  return {
    read: wire.read,
    skipped: wire.skipped,
    personFallbacks: wire.personFallbacks,
    checkpoints: wire.checkpoints,
    prepared,
    mappingRejects: wire.mappingRejects.map(rejectFromWire),
  };
}

export function errorToWire(error: MigrateError): WireError {
  // details may hold anything; only what survives structured clone is kept.
  let details: Record<string, unknown> = {};
  try {
    details = structuredClone(error.details);
  } catch {
    details = { note: 'details not transferable from the transform worker' };
  }
  const cause = error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : error.cause === undefined ? undefined : String(error.cause);
  return { code: error.code, message: error.message, details, ...(cause === undefined ? {} : { cause }) };
}

export function errorFromWire(error: WireError): MigrateError {
  return new MigrateError(error.code, error.message, {
    details: error.details,
    ...(error.cause === undefined ? {} : { cause: new Error(`in the transform worker: ${error.cause}`) }),
  });
}
