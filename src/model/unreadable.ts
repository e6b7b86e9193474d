import type { LegacyItem } from './legacy-value.js';

/**
 * A record a source holds but cannot read as a legacy item (a kv value that is not a JSON object,
 * an export line that is not `{"Item": {…}}`). It is handed on like any item, so that it becomes a
 * reject with the record kept, instead of ending the run (contract §3: a reject never stops it).
 * The item is the record as stored, wrapped in an object (a reject's item is a JSON object); the
 * problem rides on it under a symbol, as an export line's text does: no attribute, invisible to
 * JSON, and every mapping rejects the item before looking at any attribute.
 */
export interface UnreadableProblem {
  /** What the problem is with: a kv row's `value`, an export line's `Item`. */
  attribute: string;
  message: string;
}

const UNREADABLE = Symbol('kpi-migrate.unreadable');

export function unreadableRecord(wrapped: LegacyItem, problem: UnreadableProblem): LegacyItem {
  Object.defineProperty(wrapped, UNREADABLE, { value: problem });
  return wrapped;
}

export function unreadableProblemOf(item: LegacyItem): UnreadableProblem | undefined {
  return (item as { [UNREADABLE]?: UnreadableProblem })[UNREADABLE];
}
