import { toPlainDecimal } from '../model/decimal.js';
import { LegacyNumber, LegacySet, setAttribute, toJsonText, type LegacyItem, type LegacyValue } from '../model/legacy-value.js';
import type { Position } from '../model/source.js';

/**
 * jsonb (and text columns) refuse U+0000, and jsonb refuses unpaired surrogates; both can occur
 * in legacy data. Such characters are written as the six-character text `\uXXXX` instead.
 */
const JSONB_REFUSED = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

export function storableText(text: string): string {
  return text.replace(JSONB_REFUSED, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function hasUnstorableText(text: string): boolean {
  JSONB_REFUSED.lastIndex = 0;
  const found = JSONB_REFUSED.test(text);
  JSONB_REFUSED.lastIndex = 0;
  return found;
}

/** A legacy item as jsonb text, and what had to be written differently to store it at all. */
export interface StorableItem {
  json: string;
  /** Empty when the item is stored exactly. */
  adjustments: string[];
}

export function storableItemJson(item: LegacyItem): StorableItem {
  const adjustments = new Set<string>();
  const clean = (value: LegacyValue): LegacyValue => {
    if (typeof value === 'string') {
      if (!hasUnstorableText(value)) return value;
      adjustments.add('characters jsonb cannot hold (U+0000, unpaired surrogates) are written as the text \\uXXXX');
      return storableText(value);
    }
    if (value instanceof LegacyNumber) {
      // jsonb numbers are numerics: beyond numeric's range (131,072 integer digits) jsonb refuses them.
      if (JSON_NUMBER.test(value.text) && toPlainDecimal(value.text) !== undefined) return value;
      adjustments.add('numbers that are not JSON numbers, or beyond what jsonb holds, are written as strings');
      return clean(value.text);
    }
    if (value instanceof LegacySet) {
      return new LegacySet(value.kind, value.values.map((v) => (v instanceof Uint8Array ? v : clean(v))) as LegacySet['values']);
    }
    if (value === null || typeof value === 'boolean' || value instanceof Uint8Array) return value;
    if (Array.isArray(value)) return value.map(clean);
    return cleanMap(value);
  };
  const cleanMap = (map: { [attribute: string]: LegacyValue }): { [attribute: string]: LegacyValue } => {
    const out: { [attribute: string]: LegacyValue } = {};
    // setAttribute: `out[name] =` would drop an attribute named __proto__ from the raw item kept.
    for (const [name, value] of Object.entries(map)) setAttribute(out, clean(name) as string, clean(value));
    return out;
  };
  const json = toJsonText(cleanMap(item));
  return { json, adjustments: [...adjustments] };
}

/** Any JSON-able value (options, errors) as jsonb text; unstorable characters as in storableText. */
export function storableJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string') return storableText(v);
    if (typeof v === 'bigint') return v.toString();
    return v;
  });
  return text === undefined ? 'null' : text;
}

// A position must come back exactly (it is where reading resumes), so one whose JSON jsonb would
// refuse is stored as its JSON text inside a wrapper object rather than altered.
const WRAPPED_POSITION = 'kpi_migrate:position_json';
const REFUSED_ESCAPE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;

/** Throws when the position is not JSON (a BigInt, a cycle): a bug in the source, not data. */
export function positionToJsonb(position: Position | null): string {
  if (position === null) return 'null';
  const text = JSON.stringify(position);
  if (typeof text !== 'string') throw new TypeError('checkpoint position is not a JSON value');
  return REFUSED_ESCAPE.test(text) ? JSON.stringify({ [WRAPPED_POSITION]: text }) : text;
}

export function positionFromJsonb(text: string | null): Position | null {
  if (text === null) return null;
  const parsed = JSON.parse(text) as Position | null;
  if (parsed === null) return null;
  const wrapped = parsed[WRAPPED_POSITION];
  if (typeof wrapped === 'string' && Object.keys(parsed).length === 1) return JSON.parse(wrapped) as Position;
  return parsed;
}
