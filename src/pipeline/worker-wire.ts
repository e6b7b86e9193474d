import type { ResolvedConfig } from '../config/resolve.js';
import { MigrateError, type ErrorCode } from '../errors.js';
import type { ResumeState } from '../model/source.js';
import type { CheckpointAdvance } from '../load/batch-writer.js';
import type { LoadReject, PreparedRecord } from '../load/prepare-record.js';
import type { MigratedEntity } from '../model/entities.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { Reject } from '../model/reject.js';
import { itemFromWire, itemToWire } from './item-wire.js';
import { itemOfExportLine } from '../extract/export-source.js';
import type { LineRecord, LookupOutcome, MappedBatch, ReaderProgress } from './record-reader.js';

/** What the transform worker is started with: the source to open and how to read it. */
export interface TransformWorkerData {
  config: ResolvedConfig;
  worker?: { index: number; count: number };
  tenant?: string;
  batchRows: number;
}

/** A reject with its item as DynamoDB JSON text. */
export type WireReject = Omit<LoadReject, 'item'> & { item: string };

/**
 * A MappedBatch as it crosses the thread boundary: a few long strings and typed arrays rather
 * than thousands of small objects, which structured clone copies one by one. Items stay with the
 * worker until the batch is written (`seq` names the batch), and the writer asks for the few it
 * needs; those of records PostgreSQL will refuse (text holding U+0000) come along.
 */
export interface WireBatch {
  seq: number;
  runId: string;
  read: number;
  skipped: number;
  personFallbacks: number;
  checkpoints: CheckpointAdvance[];
  /** Record i's piece of each text ends at `ends[i]` of it; rows are counted per record. */
  sourceIds: string;
  sourceIdEnds: Uint32Array;
  rowIds: string;
  /** End of each row id, row by row across records. */
  rowIdEnds: Uint32Array;
  rowCounts: Uint32Array;
  /** Of the records whose text holds no U+0000, which load as one COPY when nothing else is refused. */
  copyText: string;
  /** Per record: where its text ends in `copyText` (where the previous one's ended, for one in `suspectTexts`). */
  copyEnds: Uint32Array;
  suspectTexts: Record<number, string>;
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
  | { type: 'lookups'; id: number }
  | { type: 'index'; id: number }
  | { type: 'forget'; id: number; sourceIds: readonly string[] }
  | { type: 'batches'; id: number; entity: MigratedEntity; from: ResumeState; indexLinks: boolean; runId: string; credits: number }
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
  return { ...reject, item: itemFromWire(reject.item) };
}

/** Pieces joined into one string, with the end of each. */
class Joined {
  readonly #pieces: string[] = [];
  readonly ends: Uint32Array;
  #length = 0;
  constructor(count: number) {
    this.ends = new Uint32Array(count);
  }
  push(piece: string): void {
    this.#pieces.push(piece);
    this.#length += piece.length;
    this.ends[this.#pieces.length - 1] = this.#length;
  }
  text(): string {
    return this.#pieces.join('');
  }
}

/** An item as text: its export line, or DynamoDB JSON (itemToWire) for items of other sources. */
export interface ItemText {
  text: string;
  isLine: boolean;
}

export async function itemTextOf(record: PreparedRecord): Promise<ItemText> {
  const line = (record as Partial<LineRecord>).exportLine;
  return line === undefined ? { text: itemToWire(await record.item()), isLine: false } : { text: line, isLine: true };
}

export function itemOfText({ text, isLine }: ItemText): LegacyItem {
  return isLine ? itemOfExportLine(text) : itemFromWire(text);
}

export async function batchToWire(batch: MappedBatch, seq: number): Promise<WireBatch> {
  const { records, encodingRejects } = batch.prepared;
  let rowTotal = 0;
  for (const record of records) rowTotal += record.rowIds.length;
  const sourceIds = new Joined(records.length);
  const rowIds = new Joined(rowTotal);
  const copyTexts: string[] = [];
  const copyEnds = new Uint32Array(records.length);
  let copyEnd = 0;
  const suspectTexts: Record<number, string> = {};
  const eagerItems: Record<number, ItemText> = {};
  const rowCounts = new Uint32Array(records.length);
  for (const [index, record] of records.entries()) {
    sourceIds.push(record.sourceId);
    for (const rowId of record.rowIds) rowIds.push(rowId);
    rowCounts[index] = record.rowIds.length;
    if (record.copyText.includes('\u0000')) {
      suspectTexts[index] = record.copyText;
      eagerItems[index] = await itemTextOf(record);
    } else {
      copyTexts.push(record.copyText);
      copyEnd += record.copyText.length;
    }
    copyEnds[index] = copyEnd;
  }
  return {
    seq,
    runId: batch.prepared.runId,
    read: batch.read,
    skipped: batch.skipped,
    personFallbacks: batch.personFallbacks,
    checkpoints: batch.checkpoints,
    sourceIds: sourceIds.text(),
    sourceIdEnds: sourceIds.ends,
    rowIds: rowIds.text(),
    rowIdEnds: rowIds.ends,
    rowCounts,
    copyText: copyTexts.join(''),
    copyEnds,
    suspectTexts,
    eagerItems,
    encodingRejects: encodingRejects.map(rejectToWire),
    mappingRejects: batch.mappingRejects.map(rejectToWire),
  };
}

/** The batch back as records; `item(i)` fetches record i's item from the worker. */
export function batchFromWire(wire: WireBatch, item: (index: number) => Promise<LegacyItem>): MappedBatch {
  const records: PreparedRecord[] = [];
  const joinedRecords: PreparedRecord[] = [];
  let sourceAt = 0;
  let row = 0;
  let rowAt = 0;
  let copyAt = 0;
  for (let index = 0; index < wire.sourceIdEnds.length; index++) {
    const rowIds: string[] = [];
    for (let n = wire.rowCounts[index]!; n > 0; n--) {
      const rowEnd = wire.rowIdEnds[row++]!;
      rowIds.push(wire.rowIds.slice(rowAt, rowEnd));
      rowAt = rowEnd;
    }
    const [sourceEnd, copyEnd] = [wire.sourceIdEnds[index]!, wire.copyEnds[index]!];
    const eager = wire.eagerItems[index];
    const suspectText = wire.suspectTexts[index];
    const record: PreparedRecord = {
      sourceId: wire.sourceIds.slice(sourceAt, sourceEnd),
      rowIds,
      copyText: suspectText ?? wire.copyText.slice(copyAt, copyEnd),
      item: eager === undefined ? () => item(index) : async () => itemOfText(eager),
    };
    records.push(record);
    if (suspectText === undefined) joinedRecords.push(record);
    [sourceAt, copyAt] = [sourceEnd, copyEnd];
  }
  return {
    read: wire.read,
    skipped: wire.skipped,
    personFallbacks: wire.personFallbacks,
    checkpoints: wire.checkpoints,
    prepared: {
      runId: wire.runId,
      records,
      encodingRejects: wire.encodingRejects.map(rejectFromWire),
      joinedText: { records: joinedRecords, text: wire.copyText },
    },
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
