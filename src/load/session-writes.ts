import type { MigratedEntity } from '../model/entities.js';
import { pieceHash, recordCount, type EncodedRecordFields } from './encoded-records.js';

/**
 * What one session of a run has sent into each target table, kept so that a batch of a first run
 * need not ask the database who holds each of its rows before it COPYs them straight in: that
 * probe was about a ninth of the database's statement time in a first run (5,000 index lookups a
 * batch).
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
 * - whether a record has rows under other ids is asked of the database only for the records the
 *   filter may have seen, as long as the session alone has written there (TableWrites.begin);
 *   from the first batch after another writer of the tool has, for every record.
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
   * way after all (a record's own rows there, rows under other ids, a refused COPY); records
   * asked whether they have rows under other ids, in the batches that tried to be written as
   * predicted (those of a kpi_data batch that was not refused before).
   */
  readonly figures = { predictedBatches: 0, probedRecords: 0, fellBack: 0, askedForOtherRows: 0 };
  #filter: Uint32Array | undefined;
  /** The write generation (takeWriteGeneration) of the session's last batch here that committed. */
  #committed: bigint | undefined;
  /** The generation the batch in progress took, until it ends. */
  #pending: bigint | undefined;
  /** False from the first batch here that did not commit (its generation went with it). */
  #unbroken = true;
  // A batch's keys are hashed once, for mayHaveSeen and for add.
  readonly #hashed = new WeakMap<EncodedRecordFields, { entity: MigratedEntity; keys: BatchKeys }>();

  /**
   * The batch in progress took write generation `generation`, after its table's first batch of the
   * session asked whether the table holds rows of the tool (so a writer that wrote before it is
   * seen there, and one after it takes the next generation). Whether every row of the tool in the
   * table is one this session wrote, each of whose records the filter has seen: the table held
   * none when the session began, and every generation since, this one included, is the session's
   * own (each writer of the tool takes one before it writes; a batch that did not commit ends the
   * chain, since its generation was given back).
   */
  begin(generation: bigint): boolean {
    // Two batches of one session at once: which one's generation follows which is not known.
    if (this.#pending !== undefined) this.#unbroken = false;
    // Another writer took a generation since the session's last batch here: what it wrote is not in the filter.
    if (this.#committed !== undefined && this.#committed + 1n !== generation) this.#unbroken = false;
    this.#pending = generation;
    return this.state === 'predicted' && this.#unbroken;
  }

  /** The batch in progress ended: committed, or rolled back (a failure, a dry run). */
  end(committed: boolean): void {
    if (committed && this.#pending !== undefined) this.#committed = this.#pending;
    else this.#unbroken = false;
    this.#pending = undefined;
  }

  /** Whether the filter may have seen record `index`'s source id (as `entity`) or any of its row ids. */
  mayHaveSeen(records: EncodedRecordFields, index: number, entity: MigratedEntity): boolean {
    const filter = this.#filter;
    if (filter === undefined) return false;
    const { sourceKeys, rowKeys } = this.#keysOf(records, entity);
    if (hasKey(filter, sourceKeys[index]!)) return true;
    const lastRow = records.recordRowEnds[index]!;
    for (let row = index === 0 ? 0 : records.recordRowEnds[index - 1]!; row < lastRow; row++) if (hasKey(filter, rowKeys[row]!)) return true;
    return false;
  }

  /** Every record of the batch, seen: its source id (as `entity`) and its row ids. */
  add(records: EncodedRecordFields, entity: MigratedEntity): void {
    const filter = (this.#filter ??= new Uint32Array(1 << (FILTER_BITS_LOG2 - 5)));
    const { sourceKeys, rowKeys } = this.#keysOf(records, entity);
    for (let at = 0; at < sourceKeys.length; at++) addKey(filter, sourceKeys[at]!);
    for (let at = 0; at < rowKeys.length; at++) addKey(filter, rowKeys[at]!);
  }

  #keysOf(records: EncodedRecordFields, entity: MigratedEntity): BatchKeys {
    const known = this.#hashed.get(records);
    if (known?.entity === entity) return known.keys;
    const keys = {
      sourceKeys: hashedPieces(entity, records.sourceIds, records.sourceIdEnds, recordCount(records)),
      rowKeys: hashedPieces(ROW_ID, records.rowIds, records.rowIdEnds, records.rowIdEnds.length),
    };
    this.#hashed.set(records, { entity, keys });
    return keys;
  }
}

/** A batch's keys, hashed: each record's source id, and each row's id. */
interface BatchKeys {
  sourceKeys: Uint32Array;
  rowKeys: Uint32Array;
}

/** The namespace of row ids, apart from every entity's source ids. */
const ROW_ID = '\u0000row id';

/**
 * The 32-bit FNV-1a hash of (namespace, U+FFFF, piece) of each of the `count` pieces of `text`
 * (piece k ends at `ends[k]`, the next begins one separator later), avalanched (murmur3's
 * finaliser: FNV's low bits mix poorly, and they index the filter).
 */
function hashedPieces(namespace: string, text: string, ends: Uint32Array, count: number): Uint32Array {
  const prefix = `${namespace}\uffff`;
  const basis = pieceHash(prefix, 0, prefix.length);
  const hashes = new Uint32Array(count);
  let start = 0;
  for (let piece = 0; piece < count; piece++) {
    const end = ends[piece]!;
    hashes[piece] = mixed(pieceHash(text, start, end, basis));
    start = end + 1;
  }
  return hashes;
}

function mixed(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

// A key's two bits: its hash's low 24 bits, and those of the hash mixed again.
function addKey(filter: Uint32Array, hash: number): void {
  const second = mixed(hash + 0x9e3779b9) & FILTER_MASK;
  const first = hash & FILTER_MASK;
  filter[first >>> 5] = filter[first >>> 5]! | (1 << (first & 31));
  filter[second >>> 5] = filter[second >>> 5]! | (1 << (second & 31));
}

function hasKey(filter: Uint32Array, hash: number): boolean {
  const first = hash & FILTER_MASK;
  if ((filter[first >>> 5]! & (1 << (first & 31))) === 0) return false;
  const second = mixed(hash + 0x9e3779b9) & FILTER_MASK;
  return (filter[second >>> 5]! & (1 << (second & 31))) !== 0;
}
