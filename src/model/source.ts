import type { LegacyEntity } from './entities.js';
import type { LegacyItem } from './legacy-value.js';
import type { FlatItem, TypedItem } from './dynamodb-json.js';

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

/**
 * A page as the source holds its items, typed (DynamoDB JSON), for a reader that maps them without
 * building each item's tree first; `item(i)` builds it for the few that need it.
 */
export interface TypedSourcePage extends Omit<SourcePage, 'items'> {
  /** Items on the page. */
  count: number;
  /**
   * Item `index`'s typed attributes, parsed when asked for (so that each dies young, not a page
   * at a time); undefined where the source cannot read it as such (`item` says what it is).
   */
  typed(index: number): TypedItem | undefined;
  /** Item `index` exactly as `readTable` gives it. */
  item(index: number): LegacyItem;
  /** The export line item `index` was read from, for a source of line files. */
  line?(index: number): string;
  /**
   * Item `index`'s attributes read flat into `into`, without a tree (an export line as it
   * stands); false when it is in a form only `typed` reads.
   */
  flat?(index: number, into: FlatItem): boolean;
}

/**
 * The table a reader reads after this one, and from where. A source may ask for its first pages
 * (at most one per partition) once the table being read has nothing more to ask for, and hand them
 * to the next reading of that table from the same state; a reading from another state drops them.
 */
export interface NextRead {
  entity: LegacyEntity;
  from?: ResumeState;
}

/** A legacy store read-only: the tool never writes to its source. */
export interface LegacySource {
  readonly kind: SourceKind;
  /**
   * Every item of an entity's table exactly once, in pages, skipping what `from` says was done.
   * Pulling drives the reading: nothing is read ahead beyond a page or two per partition (and
   * `next`'s first pages).
   */
  readTable(entity: LegacyEntity, from?: ResumeState, next?: NextRead): AsyncIterable<SourcePage>;
  /**
   * The same pages as `readTable`, typed: a source whose items come as DynamoDB JSON may offer it,
   * and a reader then prefers it. A wrapper that changes `readTable` must change this too, or leave it out.
   */
  readTypedTable?(entity: LegacyEntity, from?: ResumeState, next?: NextRead): AsyncIterable<TypedSourcePage>;
  /** An independent recount of a table's items (for validation). */
  countItems(entity: LegacyEntity): Promise<number>;
  /** Items by their raw legacy `Id` (for sampled validation); missing ids are left out. */
  getItems(entity: LegacyEntity, ids: readonly string[]): Promise<LegacyItem[]>;
  /**
   * countItems and getItems at once, offered by a source whose read by Id reads the whole table
   * anyway (export files): one read instead of two.
   */
  countAndGetItems?(entity: LegacyEntity, ids: readonly string[]): Promise<{ count: number; items: LegacyItem[] }>;
  /**
   * The same, for the Ids `wanted` says yes to rather than a list (the first item of each such
   * Id, in the table's order): a source that reads the whole table to find any Id can find those
   * before knowing which exactly it will be asked for.
   */
  countAndGetItemsWhere?(entity: LegacyEntity, wanted: (id: string) => boolean): Promise<{ count: number; items: LegacyItem[] }>;
  close(): Promise<void>;
}
