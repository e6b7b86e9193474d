import type { LegacyItem } from '../model/legacy-value.js';
import { isCanonicalUuid, isCanonicalUuidList } from '../model/uuid-text.js';
import type { PreparedBatch, PreparedRecord } from './prepare-record.js';

/**
 * A batch's records as the writer reads them: their COPY text as UTF-8 bytes in one buffer (the
 * form a socket takes, and one that crosses a thread boundary by transfer), their ids in two long
 * strings, and offsets, rather than an object, a text and an array per record.
 *
 * - Record i's source id is `sourceIds` from the end of record i - 1's (plus the ',' between
 *   them) to `sourceIdEnds[i]`; row ids likewise in `rowIds`, row by row, by `rowIdEnds`.
 * - Record i's rows are rows `recordRowEnds[i - 1]` (0 for the first) to `recordRowEnds[i]`.
 * - Record i's COPY bytes end at `copyEnds[i]`, and begin where record i - 1's end; a record whose
 *   text holds U+0000 (which PostgreSQL refuses, and which is the only character whose UTF-8
 *   holds a zero byte) takes no bytes: its text is in `suspectTexts`, and it is loaded apart.
 */
export interface EncodedRecordFields {
  sourceIds: string;
  sourceIdEnds: Uint32Array;
  rowIds: string;
  rowIdEnds: Uint32Array;
  recordRowEnds: Uint32Array;
  copyBytes: Uint8Array;
  copyEnds: Uint32Array;
  suspectTexts: Readonly<Record<number, string>>;
}

export interface EncodedRecords extends EncodedRecordFields {
  /** Record i's raw item, asked for only when it is rejected or contested (it may live in another thread). */
  item(index: number): Promise<LegacyItem>;
}

/** The separator written between two ids of `sourceIds` and of `rowIds`. */
const SEPARATOR = ',';

/** Records → their encoded form. */
export function encodeRecords(records: readonly PreparedRecord[]): EncodedRecordFields {
  let textLength = 0;
  for (const record of records) textLength += record.copyText.length;
  const builder = new EncodedRecordsBuilder(textLength + (textLength >>> 3) + 64);
  for (const { sourceId, rowIds, copyText } of records) builder.add(sourceId, rowIds, copyText);
  return builder.finish();
}

/**
 * Records encoded as they are made, so that nothing of a record outlives its mapping but bytes:
 * its COPY text goes into the batch's UTF-8 buffer at once, its ids into UTF-16 buffers (exact
 * for any string) decoded into the two id strings when the batch is done. A reader thread filling
 * a batch this way leaves the garbage collector no text per record to carry until the batch ends.
 */
export class EncodedRecordsBuilder {
  #copy: Buffer;
  #copyAt = 0;
  #sourceIds: Buffer;
  #sourceIdsAt = 0;
  #rowIds: Buffer;
  #rowIdsAt = 0;
  #sourceIdEnds: Uint32Array = new Uint32Array(256);
  #rowIdEnds: Uint32Array = new Uint32Array(256);
  #recordRowEnds: Uint32Array = new Uint32Array(256);
  #copyEnds: Uint32Array = new Uint32Array(256);
  #records = 0;
  #rows = 0;

  /** `expectedBytes`: about how much COPY text the batch will hold (the previous batch's, say). */
  constructor(expectedBytes = 1 << 16) {
    this.#copy = Buffer.allocUnsafeSlow(Math.max(1024, expectedBytes));
    this.#sourceIds = Buffer.allocUnsafeSlow(4096);
    this.#rowIds = Buffer.allocUnsafeSlow(4096);
  }

  get count(): number {
    return this.#records;
  }

  /** A record: its source id, its rows' ids, and its COPY text (one line per row). */
  add(sourceId: string, rowIds: readonly string[], copyText: string): void {
    this.beginRecord(sourceId);
    for (let row = 0; row < rowIds.length; row++) this.#addRowId(rowIds[row]!);
    this.copyText(copyText);
    this.endRecord();
  }

  /** Starts a record; its rows (addRowId) and text (copyText, copyTail) follow, then endRecord. */
  beginRecord(sourceId: string): void {
    const record = this.#records;
    if (record === this.#copyEnds.length) this.#growRecords();
    this.#sourceIds = room(this.#sourceIds, this.#sourceIdsAt, sourceId.length * 2 + 2);
    if (record > 0) this.#sourceIdsAt += this.#sourceIds.write(SEPARATOR, this.#sourceIdsAt, 'utf16le');
    this.#sourceIdsAt += this.#sourceIds.write(sourceId, this.#sourceIdsAt, 'utf16le');
    this.#sourceIdEnds[record] = this.#sourceIdsAt >>> 1;
  }

  addRowId(rowId: string): void {
    this.#addRowId(rowId);
  }

  #addRowId(rowId: string): void {
    const row = this.#rows;
    if (row === this.#rowIdEnds.length) this.#rowIdEnds = grown(this.#rowIdEnds);
    this.#rowIds = room(this.#rowIds, this.#rowIdsAt, rowId.length * 2 + 2);
    if (row > 0) this.#rowIdsAt += this.#rowIds.write(SEPARATOR, this.#rowIdsAt, 'utf16le');
    this.#rowIdsAt += this.#rowIds.write(rowId, this.#rowIdsAt, 'utf16le');
    this.#rowIdEnds[row] = this.#rowIdsAt >>> 1;
    this.#rows = row + 1;
  }

  /** Appends text to the record's COPY bytes; returns where it began (for copyTail). */
  copyText(text: string): number {
    const start = this.#copyAt;
    if (this.#copy.length - start < text.length * 3) this.#copy = room(this.#copy, start, Buffer.byteLength(text));
    this.#copyAt = start + this.#copy.write(text, start);
    return start;
  }

  /** Appends again the bytes written from `start` to `end` (a tail the record's rows share). */
  copyTail(start: number, end: number): void {
    const length = end - start;
    this.#copy = room(this.#copy, this.#copyAt, length);
    this.#copy.copy(this.#copy, this.#copyAt, start, end);
    this.#copyAt += length;
  }

  /** Where the record's COPY bytes end so far. */
  get copyAt(): number {
    return this.#copyAt;
  }

  endRecord(): void {
    const record = this.#records;
    this.#recordRowEnds[record] = this.#rows;
    this.#copyEnds[record] = this.#copyAt;
    this.#records = record + 1;
  }

  /** The batch's encoded records; the builder is not used after. */
  finish(): EncodedRecordFields {
    const count = this.#records;
    const rows = this.#rows;
    const copyEnds = this.#copyEnds.slice(0, count);
    let copyBytes: Uint8Array = this.#copy.subarray(0, this.#copyAt);
    const suspectTexts: Record<number, string> = {};
    if (copyBytes.indexOf(0) >= 0) copyBytes = textsApart(copyBytes, copyEnds, suspectTexts);
    return {
      sourceIds: this.#sourceIds.toString('utf16le', 0, this.#sourceIdsAt),
      sourceIdEnds: this.#sourceIdEnds.slice(0, count),
      rowIds: this.#rowIds.toString('utf16le', 0, this.#rowIdsAt),
      rowIdEnds: this.#rowIdEnds.slice(0, rows),
      recordRowEnds: this.#recordRowEnds.slice(0, count),
      copyBytes,
      copyEnds,
      suspectTexts,
    };
  }

  #growRecords(): void {
    this.#sourceIdEnds = grown(this.#sourceIdEnds);
    this.#recordRowEnds = grown(this.#recordRowEnds);
    this.#copyEnds = grown(this.#copyEnds);
  }
}

/** `buffer`, or a copy twice as large (or more), so that `needed` bytes fit after `at`. */
function room(buffer: Buffer, at: number, needed: number): Buffer {
  if (buffer.length - at >= needed) return buffer;
  const larger = Buffer.allocUnsafeSlow(Math.max(buffer.length * 2, at + needed + 64));
  buffer.copy(larger, 0, 0, at);
  return larger;
}

function grown(array: Uint32Array): Uint32Array {
  const larger = new Uint32Array(array.length * 2);
  larger.set(array);
  return larger;
}

/**
 * The bytes without those of records holding U+0000, whose texts (decoded from their bytes: the
 * text was well-formed, so UTF-8 gives it back exactly) go to `suspectTexts`; `copyEnds` rewritten in place.
 */
function textsApart(bytes: Uint8Array, copyEnds: Uint32Array, suspectTexts: Record<number, string>): Uint8Array {
  let kept = 0;
  let start = 0;
  // The next zero byte, found once for all the records before it (not searched again per record).
  let zero = bytes.indexOf(0);
  for (let index = 0; index < copyEnds.length; index++) {
    const end = copyEnds[index]!;
    if (zero >= 0 && zero < start) zero = bytes.indexOf(0, start);
    if (zero >= 0 && zero < end) {
      suspectTexts[index] = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
    } else {
      if (kept !== start) bytes.copyWithin(kept, start, end);
      kept += end - start;
    }
    copyEnds[index] = kept;
    start = end;
  }
  return bytes.subarray(0, kept);
}

export function recordCount(records: EncodedRecordFields): number {
  return records.copyEnds.length;
}

export function sourceIdOf(records: EncodedRecordFields, index: number): string {
  const start = index === 0 ? 0 : records.sourceIdEnds[index - 1]! + 1;
  return records.sourceIds.slice(start, records.sourceIdEnds[index]);
}

export function rowCountOf(records: EncodedRecordFields, index: number): number {
  return records.recordRowEnds[index]! - (index === 0 ? 0 : records.recordRowEnds[index - 1]!);
}

export function rowIdsOf(records: EncodedRecordFields, index: number): string[] {
  const ids: string[] = [];
  const first = index === 0 ? 0 : records.recordRowEnds[index - 1]!;
  for (let row = first; row < records.recordRowEnds[index]!; row++) ids.push(rowIdAt(records, row));
  return ids;
}

function rowIdAt(records: EncodedRecordFields, row: number): string {
  return records.rowIds.slice(row === 0 ? 0 : records.rowIdEnds[row - 1]! + 1, records.rowIdEnds[row]);
}

export function isSuspect(records: EncodedRecordFields, index: number): boolean {
  return records.suspectTexts[index] !== undefined;
}

/** Record i's COPY text (decoded again from its bytes). */
export function copyTextOf(records: EncodedRecordFields, index: number): string {
  const suspect = records.suspectTexts[index];
  if (suspect !== undefined) return suspect;
  const { copyBytes, copyEnds } = records;
  const start = index === 0 ? 0 : copyEnds[index - 1]!;
  return Buffer.from(copyBytes.buffer, copyBytes.byteOffset + start, copyEnds[index]! - start).toString('utf8');
}

/** The records one by one, as prepareRecord gives them (texts decoded again): for a reader of whole records, not the writer. */
export function preparedRecordsOf(records: EncodedRecords): PreparedRecord[] {
  return Array.from({ length: recordCount(records) }, (_, index) => ({
    sourceId: sourceIdOf(records, index),
    rowIds: rowIdsOf(records, index),
    copyText: copyTextOf(records, index),
    item: () => records.item(index),
  }));
}

/** A batch of records already encoded: `records` are made only when asked for. */
export function encodedBatch(runId: string, encoded: EncodedRecords, encodingRejects: PreparedBatch['encodingRejects']): PreparedBatch {
  let records: PreparedRecord[] | undefined;
  return {
    runId,
    get records(): PreparedRecord[] {
      return (records ??= preparedRecordsOf(encoded));
    },
    encodingRejects,
    encoded,
  };
}

/** Rows of these records. */
export function rowsOf(records: EncodedRecordFields, indexes: readonly number[]): number {
  let rows = 0;
  for (const index of indexes) rows += rowCountOf(records, index);
  return rows;
}

/**
 * The COPY data of these records (in the given order, which is the batch's): the text of a lone
 * suspect, or views of the byte buffer, one per run of records adjacent in it. Nothing is copied.
 */
export function copyDataOf(records: EncodedRecordFields, indexes: readonly number[]): string | Uint8Array[] {
  const { copyBytes, copyEnds, suspectTexts } = records;
  if (indexes.length === 1 && suspectTexts[indexes[0]!] !== undefined) return suspectTexts[indexes[0]!]!;
  const chunks: Uint8Array[] = [];
  let runStart = -1;
  let runEnd = -1;
  for (const index of indexes) {
    if (suspectTexts[index] !== undefined) throw new Error(`record ${index} holds U+0000: it is copied alone`);
    const start = index === 0 ? 0 : copyEnds[index - 1]!;
    const end = copyEnds[index]!;
    if (start === end) continue;
    if (start === runEnd) {
      runEnd = end;
      continue;
    }
    if (runEnd > runStart) chunks.push(copyBytes.subarray(runStart, runEnd));
    [runStart, runEnd] = [start, end];
  }
  if (runEnd > runStart) chunks.push(copyBytes.subarray(runStart, runEnd));
  return chunks;
}

/** Whether every index is there, in order: the batch's strings then serve as they are. */
function isWhole(records: EncodedRecordFields, indexes: readonly number[] | undefined): boolean {
  if (indexes === undefined) return true;
  if (indexes.length !== recordCount(records)) return false;
  for (let at = 0; at < indexes.length; at++) if (indexes[at] !== at) return false;
  return true;
}

/** Whether `rowIds` is a list of canonical uuids, one per row: then it is a uuid[] literal once braced. */
function allRowIdsCanonical(records: EncodedRecordFields): boolean {
  // Asked by each statement of a batch (claims, holders, history): the batch's answer is kept.
  let known = canonicalRowIds.get(records);
  if (known === undefined) canonicalRowIds.set(records, (known = rowIdsCanonical(records)));
  return known;
}

const canonicalRowIds = new WeakMap<EncodedRecordFields, boolean>();

function rowIdsCanonical(records: EncodedRecordFields): boolean {
  const { rowIds, rowIdEnds } = records;
  const rows = rowIdEnds.length;
  if (rows === 0 || rowIds.length !== rows * 37 - 1) return false;
  for (let row = 0; row < rows; row++) if (rowIdEnds[row] !== row * 37 + 36) return false;
  return isCanonicalUuidList(rowIds);
}

const NEEDS_ESCAPE = /["\\]/;

/**
 * Whether every source id can be quoted as it is (no quote nor backslash) and no comma inside one
 * is mistaken for the separator: then the batch's string, its separators turned into `","`, is the
 * text[] literal of its source ids.
 */
function sourceIdsQuotable(records: EncodedRecordFields): boolean {
  const { sourceIds, sourceIdEnds } = records;
  const count = sourceIdEnds.length;
  if (count === 0 || NEEDS_ESCAPE.test(sourceIds)) return false;
  let start = 0;
  for (let index = 0; index < count; index++) {
    const end = sourceIdEnds[index]!;
    const comma = sourceIds.indexOf(SEPARATOR, start);
    if (comma >= 0 && comma < end) return false;
    start = end + 1;
  }
  return true;
}

/** A text[] literal: every element quoted, so commas, braces, quotes and "NULL" stay text. */
export function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * The id_conflict probe's parameters: every canonical row id (a uuid[] literal) beside its
 * record's source id (text[]), leaving out records whose source id holds U+0000 (text cannot
 * hold it: such a record is refused later, and holds nothing now). Undefined when no row is left.
 * The batch's own strings serve as the literals whenever its ids are plain, as they nearly always are.
 */
export function claimsOf(records: EncodedRecordFields): { rowIds: string; sourceIds: string } | undefined {
  const count = recordCount(records);
  const rows = records.rowIdEnds.length;
  const anyNul = records.sourceIds.includes('\u0000');
  if (!anyNul && allRowIdsCanonical(records) && sourceIdsQuotable(records)) {
    if (oneRowEach(records)) return { rowIds: `{${records.rowIds}}`, sourceIds: `{"${records.sourceIds.replaceAll(SEPARATOR, '","')}"}` };
    const perRow: string[] = new Array<string>(rows);
    let row = 0;
    for (let index = 0; index < count; index++) {
      const sourceId = sourceIdOf(records, index);
      for (const end = records.recordRowEnds[index]!; row < end; row++) perRow[row] = sourceId;
    }
    return { rowIds: `{${records.rowIds}}`, sourceIds: `{"${perRow.join('","')}"}` };
  }
  return claimsOfRecords(records, [...Array(count).keys()]);
}

/** claimsOf for these records only. */
export function claimsOfRecords(records: EncodedRecordFields, indexes: readonly number[]): { rowIds: string; sourceIds: string } | undefined {
  const rowIds: string[] = [];
  const sourceIds: string[] = [];
  for (const index of indexes) {
    const sourceId = sourceIdOf(records, index);
    if (sourceId.includes('\u0000')) continue;
    for (let row = index === 0 ? 0 : records.recordRowEnds[index - 1]!; row < records.recordRowEnds[index]!; row++) {
      const rowId = rowIdAt(records, row);
      if (!isCanonicalUuid(rowId)) continue;
      rowIds.push(rowId);
      sourceIds.push(sourceId);
    }
  }
  return rowIds.length === 0 ? undefined : { rowIds: `{${rowIds.join(SEPARATOR)}}`, sourceIds: arrayLiteral(sourceIds) };
}

function oneRowEach({ recordRowEnds }: EncodedRecordFields): boolean {
  for (let index = 0; index < recordRowEnds.length; index++) if (recordRowEnds[index] !== index + 1) return false;
  return true;
}

/** The canonical row ids of these records (a uuid[] literal), or undefined when they have none. */
export function rowIdsLiteralOf(records: EncodedRecordFields, indexes: readonly number[]): string | undefined {
  if (isWhole(records, indexes) && allRowIdsCanonical(records)) return `{${records.rowIds}}`;
  const ids: string[] = [];
  for (const index of indexes) for (const rowId of rowIdsOf(records, index)) if (isCanonicalUuid(rowId)) ids.push(rowId);
  return ids.length === 0 ? undefined : `{${ids.join(SEPARATOR)}}`;
}

/** The source ids of these records that text can hold (a text[] literal), or undefined when none can. */
export function sourceIdsLiteralOf(records: EncodedRecordFields, indexes: readonly number[]): string | undefined {
  if (isWhole(records, indexes) && !records.sourceIds.includes('\u0000') && sourceIdsQuotable(records)) return `{"${records.sourceIds.replaceAll(SEPARATOR, '","')}"}`;
  const ids = indexes.map((index) => sourceIdOf(records, index)).filter((id) => !id.includes('\u0000'));
  return ids.length === 0 ? undefined : arrayLiteral(ids);
}

/**
 * Records that share a source id with another record of the batch (read twice), or a row id with
 * another record, or that claim a row in `held`: those whose fate depends on others. Found with a
 * hash table over the batch's strings, with no string made per row.
 */
export function contestedRecords(records: EncodedRecordFields, held: ReadonlySet<string> | ReadonlyMap<string, unknown>): Set<number> {
  const contested = new Set<number>();
  const twins = duplicatePieces(records.sourceIds, records.sourceIdEnds);
  for (let at = 0; at < twins.length; at += 2) contested.add(twins[at]!).add(twins[at + 1]!);
  const shared = duplicatePieces(records.rowIds, records.rowIdEnds);
  for (let at = 0; at < shared.length; at += 2) {
    const [first, later] = [recordOfRow(records, shared[at]!), recordOfRow(records, shared[at + 1]!)];
    if (first !== later) contested.add(first).add(later);
  }
  if (held.size > 0) {
    let index = 0;
    for (let row = 0; row < records.rowIdEnds.length; row++) {
      while (records.recordRowEnds[index]! <= row) index++;
      if (held.has(rowIdAt(records, row))) contested.add(index);
    }
  }
  return contested;
}

function recordOfRow(records: EncodedRecordFields, row: number): number {
  // The first record whose rows end after `row`.
  const ends = records.recordRowEnds;
  let [low, high] = [0, ends.length - 1];
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ends[middle]! > row) high = middle;
    else low = middle + 1;
  }
  return low;
}

/**
 * Pieces of `text` (piece k ends at `ends[k]`, the next begins one separator later) equal to an
 * earlier piece, as pairs [earliest equal piece, piece] flattened.
 */
export function duplicatePieces(text: string, ends: Uint32Array): number[] {
  const count = ends.length;
  const pairs: number[] = [];
  if (count < 2) return pairs;
  let size = 1024;
  while (size < count * 2) size *= 2;
  const mask = size - 1;
  const slots = new Int32Array(size).fill(-1);
  for (let piece = 0; piece < count; piece++) {
    const start = piece === 0 ? 0 : ends[piece - 1]! + 1;
    const end = ends[piece]!;
    const hash = pieceHash(text, start, end);
    let slot = (hash ^ (hash >>> 15)) & mask;
    for (;;) {
      const other = slots[slot]!;
      if (other < 0) {
        slots[slot] = piece;
        break;
      }
      if (samePiece(text, ends, other, start, end)) {
        pairs.push(other, piece);
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return pairs;
}

/** The 32-bit FNV-1a hash of text[start, end), from `basis` (FNV's offset basis, or the hash of what comes before). */
export function pieceHash(text: string, start: number, end: number, basis = 0x811c9dc5): number {
  let hash = basis;
  for (let at = start; at < end; at++) hash = Math.imul(hash ^ text.charCodeAt(at), 0x01000193);
  return hash;
}

function samePiece(text: string, ends: Uint32Array, other: number, start: number, end: number): boolean {
  const otherStart = other === 0 ? 0 : ends[other - 1]! + 1;
  if (ends[other]! - otherStart !== end - start) return false;
  for (let at = 0; at < end - start; at++) if (text.charCodeAt(otherStart + at) !== text.charCodeAt(start + at)) return false;
  return true;
}
