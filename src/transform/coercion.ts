import { isLegacyMap, LegacyNumber, LegacySet, type LegacyValue } from '../model/legacy-value.js';
import type { RejectReason } from '../model/reject.js';

/** The reasons a single attribute can be refused for; the others concern whole records. */
export type AttributeReason = Extract<RejectReason, 'missing_field' | 'invalid_value' | 'invalid_id' | 'unknown_enum'>;

/** One attribute's value after coercion, or why it cannot be migrated. Coercions never throw. */
export type Coercion<T> = { ok: true; value: T } | { ok: false; reason: AttributeReason; message: string };

/** `undefined` is an attribute the item does not have. */
export type AttributeInput = LegacyValue | undefined;

export function accepted<T>(value: T): Coercion<T> {
  return { ok: true, value };
}

export function refused<T = never>(reason: AttributeReason, message: string): Coercion<T> {
  return { ok: false, reason, message };
}

/** Contract §1: an optional attribute may be absent, NULL or an empty string, and all three mean absent. */
export function isAbsent(value: AttributeInput): value is undefined | null | '' {
  return value === undefined || value === null || value === '';
}

export function missing<T = never>(): Coercion<T> {
  return refused('missing_field', 'required attribute is absent, NULL or empty');
}

/** A wrong kind of value, e.g. a map where a string is expected. */
export function wrongType<T = never>(expected: string, value: AttributeInput): Coercion<T> {
  return refused('invalid_value', `expected ${expected}, got ${describeValue(value)}`);
}

const PREVIEW_LENGTH = 60;

/** A short, safe description of a value for reject messages (the raw item is kept beside them). */
export function describeValue(value: AttributeInput): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'NULL';
  if (typeof value === 'string') {
    const preview = value.length > PREVIEW_LENGTH ? `${value.slice(0, PREVIEW_LENGTH)}…` : value;
    return `string ${JSON.stringify(preview)}`;
  }
  if (typeof value === 'boolean') return `boolean ${value}`;
  if (value instanceof LegacyNumber) {
    const text = value.text.length > PREVIEW_LENGTH ? `${value.text.slice(0, PREVIEW_LENGTH)}…` : value.text;
    return `number ${text}`;
  }
  if (value instanceof Uint8Array) return `binary of ${value.length} bytes`;
  if (value instanceof LegacySet) return `${value.kind} set of ${value.values.length}`;
  if (Array.isArray(value)) return `list of ${value.length}`;
  if (isLegacyMap(value)) return `map of ${Object.keys(value).length} attributes`;
  return 'unknown value';
}
