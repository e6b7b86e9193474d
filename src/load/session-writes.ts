import type { MigratedEntity } from '../model/entities.js';
import { recordCount, type EncodedRecordFields } from './encoded-records.js';

/**
 * What one session of a run has sent into each target table, kept so that a batch of a first run
 * need not ask the database who holds each of its rows before it COPYs them straight in: that
 * probe was about a sixth of the database's time in a first run (5,000 index lookups a batch).
 *
 * Per table, a Bloom filter of the row ids and of the (entity, source id) of every record the
 * session sent there, in a fixed size whatever the data's. It predicts which records of a batch
 * may find their rows held; it never proves anything (batch-writer's writtenAsPredicted):
 * - a record the filter has not seen is presumed to hold nothing and to be held by nothing, and
 *   the COPY straight into the target proves it: the primary key refuses a row id anyone holds,
 *   the application, another process, or this session. Any refusal undoes the attempt, and the
 *   batch goes the probed way, whole, as if nothing had been predicted;
 * - a record it may have seen (read twice, a row id another record took, or a false positive) is
 *   probed as before;
 * - whether a record has rows under other ids is still asked of the database for every record.
 *
 * Only a table that held no row of the tool when the session first wrote to it is predicted; after
 * a COPY refused for a row id someone holds, it no longer is (something else writes there).
 */
export class SessionWrites {
  readonly #tables = new Map<string, TableWrites>();

  /** The table's state in this session, made on first use. */
  table(name: string): TableWrites {
    let writes = this.#tables.get(name);
    if (writes === undefined) this.#tables.set(name, (writes = new TableWrites()));
    return writes;
  }
}

/** log2 of the filter's bits: 2^24 bits, 2 MiB a table. */
const FILTER_BITS_LOG2 = 24;
const FILTER_MASK = (1 << FILTER_BITS_LOG2) - 1;

/**
 * One table's prediction: 'unknown' until the session's first batch there asks the database,
 * then 'predicted' (the session knows every row of the tool in it) or 'probed' (it does not).
 *
 * At 2^24 bits and two bits a key, the filter says "maybe" for about 0.4% of unseen keys after the
 * 200,000-fact bench (550,000 keys in kpi_data), and about 23% after ten times that: more records
 * probed, never a wrong write.
 */
export class TableWrites {
  state: 'unknown' | 'predicted' | 'probed' = 'unknown';
  /**
   * Batches written as predicted and the records probed in them; batches that went the probed
   * way after all (a record's own rows there, rows under other ids, a refused COPY).
   */
  readonly figures = { predictedBatches: 0, probedRecords: 0, fellBack: 0 };
  #filter: Uint32Array | undefined;

  /** Whether the filter may have seen record `index`'s source id (as `entity`) or any of its row ids. */
  mayHaveSeen(records: EncodedRecordFields, index: number, entity: MigratedEntity): boolean {
    const filter = this.#filter;
    if (filter === undefined) return false;
    if (hasKey(filter, hashKey(entity, records.sourceIds, pieceStart(records.sourceIdEnds, index), records.sourceIdEnds[index]!))) return true;
    const lastRow = records.recordRowEnds[index]!;
    for (let row = index === 0 ? 0 : records.recordRowEnds[index - 1]!; row < lastRow; row++) {
      if (hasKey(filter, hashKey(ROW_ID, records.rowIds, pieceStart(records.rowIdEnds, row), records.rowIdEnds[row]!))) return true;
    }
    return false;
  }

  /** Every record of the batch, seen: its source id (as `entity`) and its row ids. */
  add(records: EncodedRecordFields, entity: MigratedEntity): void {
    const filter = (this.#filter ??= new Uint32Array(1 << (FILTER_BITS_LOG2 - 5)));
    for (let index = 0; index < recordCount(records); index++) {
      addKey(filter, hashKey(entity, records.sourceIds, pieceStart(records.sourceIdEnds, index), records.sourceIdEnds[index]!));
    }
    for (let row = 0; row < records.rowIdEnds.length; row++) {
      addKey(filter, hashKey(ROW_ID, records.rowIds, pieceStart(records.rowIdEnds, row), records.rowIdEnds[row]!));
    }
  }
}

/** The namespace of row ids, apart from every entity's source ids. */
const ROW_ID = '\u0000row id';

/** Piece k of a separated string starts one separator after piece k - 1 ends. */
function pieceStart(ends: Uint32Array, index: number): number {
  return index === 0 ? 0 : ends[index - 1]! + 1;
}

// The two bits of a key: two 32-bit FNV-1a hashes of (namespace, separator, text[start, end)) from
// two offset bases, written here rather than into an array made per key.
const keyBits = new Uint32Array(2);

function hashKey(namespace: string, text: string, start: number, end: number): Uint32Array {
  let first = 0x811c9dc5;
  let second = 0x050c5d1f;
  for (let at = 0; at < namespace.length; at++) {
    const code = namespace.charCodeAt(at);
    first = Math.imul(first ^ code, 0x01000193);
    second = Math.imul(second ^ code, 0x01000193);
  }
  first = Math.imul(first ^ 0xffff, 0x01000193);
  second = Math.imul(second ^ 0xffff, 0x01000193);
  for (let at = start; at < end; at++) {
    const code = text.charCodeAt(at);
    first = Math.imul(first ^ code, 0x01000193);
    second = Math.imul(second ^ code, 0x01000193);
  }
  keyBits[0] = mixed(first) & FILTER_MASK;
  keyBits[1] = mixed(second) & FILTER_MASK;
  return keyBits;
}

/** FNV's low bits mix poorly: a final avalanche (murmur3's) before they index the filter. */
function mixed(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

function addKey(filter: Uint32Array, key: Uint32Array): void {
  for (let at = 0; at < 2; at++) filter[key[at]! >>> 5] = filter[key[at]! >>> 5]! | (1 << (key[at]! & 31));
}

function hasKey(filter: Uint32Array, key: Uint32Array): boolean {
  for (let at = 0; at < 2; at++) if ((filter[key[at]! >>> 5]! & (1 << (key[at]! & 31))) === 0) return false;
  return true;
}
