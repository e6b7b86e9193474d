import type { LegacyEntity } from './entities.js';
import type { LegacyItem } from './legacy-value.js';

export type SourceKind = 'dynamodb' | 'export' | 'kv';

/** Where a partition stopped, as JSON (a LastEvaluatedKey, a file line, a last key). */
export type Position = { [key: string]: unknown };

/** A table's independent read streams and how far each got; an absent partition starts fresh. */
export type ResumeState = { [partition: string]: { position: Position | null; done: boolean } };

/** One page of a legacy table. Pages of different partitions may interleave. */
export interface SourcePage {
  entity: LegacyEntity;
  /** A scan segment (`segment-3-of-8`), an export file (its relative path), or `keyspace`. */
  partition: string;
  items: LegacyItem[];
  /** Where to restart this partition after this page (commit it with the rows of this page). */
  position: Position | null;
  /** No page of this partition follows. A partition always ends with a page that says so. */
  done: boolean;
}

/** A legacy store read-only: the tool never writes to its source. */
export interface LegacySource {
  readonly kind: SourceKind;
  /**
   * Every item of an entity's table exactly once, in pages, skipping what `from` says was done.
   * Pulling drives the reading: nothing is read ahead beyond a page or two per partition.
   */
  readTable(entity: LegacyEntity, from?: ResumeState): AsyncIterable<SourcePage>;
  /** An independent recount of a table's items (for validation). */
  countItems(entity: LegacyEntity): Promise<number>;
  /** Items by their raw legacy `Id` (for sampled validation); missing ids are left out. */
  getItems(entity: LegacyEntity, ids: readonly string[]): Promise<LegacyItem[]>;
  close(): Promise<void>;
}
