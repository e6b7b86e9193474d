import type { LegacyEntity } from './entities.js';
import type { LegacyItem } from './legacy-value.js';
import type { Position, ResumeState } from './source.js';

/**
 * How the writes to one record are ordered (contract §5, "Order"): a DynamoDB Stream's
 * `SequenceNumber` or an incremental export's `WriteTimestampMicros`. Both are decimal integers
 * too long for a double, so they travel as digit strings and compare as numbers (`compareWriteOrder`).
 */
export type WriteOrderKind = 'stream-sequence' | 'export-write-micros';

/** One write to one legacy record, as a change stream or an incremental export reports it. */
export interface SourceChange {
  entity: LegacyEntity;
  /** The record's raw legacy `Id`, as its key attribute holds it. */
  sourceId: string;
  /** The record after the write; null when the write deleted it. */
  newImage: LegacyItem | null;
  /** Decimal digits, compared as an integer; only changes of the same kind are compared. */
  writeOrder: string;
  writeOrderKind: WriteOrderKind;
}

/**
 * Changes of one partition of a change source (a stream shard, an incremental export window's
 * data file), in the partition's own order. Commit the effect of `changes` together with
 * `position`, and a restart continues after them.
 */
export interface ChangePage {
  entity: LegacyEntity;
  partition: string;
  changes: SourceChange[];
  position: Position | null;
  /** No page of this partition follows (a closed shard read to its end, a file read whole). */
  done: boolean;
  /**
   * How far this partition is behind the present after this page, when the source knows it:
   * seconds since the newest change read (0 when drained), and changes not read yet (null: unknown).
   */
  behind?: { seconds: number; records: number | null };
}

/** Where every partition of every table's change source stands (what the syncs of a run committed). */
export type ChangePositions = Partial<Record<LegacyEntity, ResumeState>>;

/**
 * The changes made to the six legacy tables since a full run read them: a DynamoDB Stream, a
 * series of incremental exports. Read-only, like a LegacySource.
 */
export interface ChangeSource {
  readonly kind: 'stream' | 'export';
  /**
   * Every change after `from`, in pages per partition (a partition's pages in its own order; a
   * record's changes always in one partition, or in partitions read in order). Ends when the
   * source is drained to the present, unless it was opened to follow it; stops waiting for more
   * when `signal` aborts.
   */
  changes(from: ChangePositions, signal?: AbortSignal): AsyncIterable<ChangePage>;
  close(): Promise<void>;
}

/** Compares two write orders of the same kind as integers (they may exceed 2^53). */
export function compareWriteOrder(left: string, right: string): number {
  const a = BigInt(left);
  const b = BigInt(right);
  return a < b ? -1 : a > b ? 1 : 0;
}
