import type { LegacyItem } from '../model/legacy-value.js';
import { CANONICAL_UUID, type PreparedRecord } from './prepare-record.js';

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

/**
 * Records → their encoded form. UTF-8 is written record by record into one buffer of its own
 * (transferable); U+0000 is looked for once over the bytes, not in every text.
 */
export function encodeRecords(records: readonly PreparedRecord[]): EncodedRecordFields {
  const count = records.length;
  const sourceIds: string[] = new Array<string>(count);
  const sourceIdEnds = new Uint32Array(count);
  const recordRowEnds = new Uint32Array(count);
  const copyEnds = new Uint32Array(count);
  let rowTotal = 0;
  let textLength = 0;
  for (let index = 0; index < count; index++) {
    const record = records[index]!;
    rowTotal += record.rowIds.length;
    textLength += record.copyText.length;
  }
  const rowIds: string[] = new Array<string>(rowTotal);
  const rowIdEnds = new Uint32Array(rowTotal);
  // Room for one byte a character and some more; grown (copied) only by a batch of wider text.
  let bytes = Buffer.allocUnsafeSlow(textLength + (textLength >>> 3) + 64);
  let at = 0;
  let sourceAt = 0;
  let row = 0;
  let rowAt = 0;
  for (let index = 0; index < count; index++) {
    const { sourceId, rowIds: ids, copyText } = records[index]!;
    sourceIds[index] = sourceId;
    sourceAt += sourceId.length;
    sourceIdEnds[index] = sourceAt;
    sourceAt += 1;
    for (let n = 0; n < ids.length; n++) {
      const rowId = ids[n]!;
      rowIds[row] = rowId;
      rowAt += rowId.length;
      rowIdEnds[row++] = rowAt;
      rowAt += 1;
    }
    recordRowEnds[index] = row;
    const room = bytes.length - at;
    if (room < copyText.length * 3) {
      const needed = Buffer.byteLength(copyText);
      if (needed > room) {
        const grown = Buffer.allocUnsafeSlow(Math.max(bytes.length * 2, at + needed + 64));
        bytes.copy(grown, 0, 0, at);
        bytes = grown;
      }
    }
    at += bytes.write(copyText, at);
    copyEnds[index] = at;
  }
  let copyBytes: Uint8Array = bytes.subarray(0, at);
  const suspectTexts: Record<number, string> = {};
  if (copyBytes.indexOf(0) >= 0) copyBytes = setSuspectsApart(records, copyBytes, copyEnds, suspectTexts);
  return {
    sourceIds: sourceIds.join(SEPARATOR),
    sourceIdEnds,
    rowIds: rowIds.join(SEPARATOR),
    rowIdEnds,
    recordRowEnds,
    copyBytes,
    copyEnds,
    suspectTexts,
  };
}

/** The bytes without those of records holding U+0000, whose texts go to `suspectTexts`; `copyEnds` rewritten in place. */
function setSuspectsApart(records: readonly PreparedRecord[], bytes: Uint8Array, copyEnds: Uint32Array, suspectTexts: Record<number, string>): Uint8Array {
  let kept = 0;
  let start = 0;
  for (let index = 0; index < records.length; index++) {
    const end = copyEnds[index]!;
    const zero = bytes.indexOf(0, start);
    if (zero >= 0 && zero < end) {
      suspectTexts[index] = records[index]!.copyText;
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

const CANONICAL_UUID_LIST = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:,[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})*$/;

/** Whether `rowIds` is a list of canonical uuids, one per row: then it is a uuid[] literal once braced. */
function allRowIdsCanonical(records: EncodedRecordFields): boolean {
  const { rowIds, rowIdEnds } = records;
  const rows = rowIdEnds.length;
  if (rows === 0 || rowIds.length !== rows * 37 - 1) return false;
  for (let row = 0; row < rows; row++) if (rowIdEnds[row] !== row * 37 + 36) return false;
  return CANONICAL_UUID_LIST.test(rowIds);
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
  const rowIds: string[] = [];
  const sourceIds: string[] = [];
  let row = 0;
  for (let index = 0; index < count; index++) {
    const end = records.recordRowEnds[index]!;
    const sourceId = sourceIdOf(records, index);
    if (sourceId.includes('\u0000')) {
      row = end;
      continue;
    }
    for (; row < end; row++) {
      const rowId = rowIdAt(records, row);
      if (!CANONICAL_UUID.test(rowId)) continue;
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
  for (const index of indexes) for (const rowId of rowIdsOf(records, index)) if (CANONICAL_UUID.test(rowId)) ids.push(rowId);
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
    let hash = 0x811c9dc5;
    for (let at = start; at < end; at++) hash = Math.imul(hash ^ text.charCodeAt(at), 0x01000193);
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

function samePiece(text: string, ends: Uint32Array, other: number, start: number, end: number): boolean {
  const otherStart = other === 0 ? 0 : ends[other - 1]! + 1;
  if (ends[other]! - otherStart !== end - start) return false;
  for (let at = 0; at < end - start; at++) if (text.charCodeAt(otherStart + at) !== text.charCodeAt(start + at)) return false;
  return true;
}
