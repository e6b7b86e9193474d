import {
  accepted,
  describeValue,
  isAbsent,
  missing,
  refused,
  wrongType,
  type AttributeInput,
  type Coercion,
} from './coercion.js';
import { canonicalDecimal, integralValue, toPlainDecimal } from '../model/decimal.js';
import { LegacyNumber } from '../model/legacy-value.js';

export {
  accepted,
  describeValue,
  isAbsent,
  missing,
  refused,
  wrongType,
  type AttributeInput,
  type AttributeReason,
  type Coercion,
} from './coercion.js';
export { coerceTimestamp, UtcTimestamp } from './timestamp.js';

// Contract §1 coercions. Each takes an attribute as read (`undefined` when the item lacks it).
// Coercions of typed values ignore surrounding whitespace; an empty string is absent.

const GUID_SYNTAX = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$|^\{([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}$/i;


/** The canonical form of a GUID written in any case, with or without braces; undefined if it is none. */
export function canonicalGuid(text: string): string | undefined {
  // Most GUIDs are 36 characters, or 38 in braces: read them in one pass, no regex, no trim (a
  // string of either length with spaces around cannot be a GUID once trimmed).
  if (text.length === 36) return guidCharacters(text, 0);
  if (text.length === 38 && text.charCodeAt(0) === 0x7b /* { */ && text.charCodeAt(37) === 0x7d /* } */) return guidCharacters(text, 1);
  const match = GUID_SYNTAX.exec(text.trim());
  if (!match) return undefined;
  return (match[1] ?? match[2] ?? '').toLowerCase();
}

/** The 36 characters of `text` from `from` as a canonical GUID (any case in, lowercase out), or undefined. */
function guidCharacters(text: string, from: number): string | undefined {
  let upper = false;
  for (let at = 0; at < 36; at++) {
    const code = text.charCodeAt(from + at);
    if (at === 8 || at === 13 || at === 18 || at === 23) {
      if (code !== 0x2d /* - */) return undefined;
    } else if ((code < 0x30 || code > 0x39) && (code < 0x61 || code > 0x66)) {
      if (code < 0x41 || code > 0x46) return undefined;
      upper = true;
    }
  }
  const guid = from === 0 ? text : text.slice(from, from + 36);
  return upper ? guid.toLowerCase() : guid;
}

/** A GUID → lowercase 8-4-4-4-12 without braces. A string that is not one is `invalid_id`. */
export function coerceGuid(value: AttributeInput): Coercion<string> {
  if (isAbsent(value)) return missing();
  if (typeof value !== 'string') return wrongType('a GUID string', value);
  const guid = canonicalGuid(value);
  return guid === undefined ? refused('invalid_id', `not a GUID: ${describeValue(value)}`) : accepted(guid);
}

/** `N` or a numeric string → exact canonical decimal text (`+1.5E+3` → `1500`, `1.50` → `1.5`); NaN and Infinity are refused. */
export function coerceDecimal(value: AttributeInput): Coercion<string> {
  if (isAbsent(value)) return missing();
  let text: string;
  if (value instanceof LegacyNumber) text = value.text;
  else if (typeof value === 'string') text = value;
  else return wrongType('a number', value);
  const plain = canonicalDecimal(text.trim());
  return plain === undefined ? refused('invalid_value', `not a finite decimal number: ${describeValue(value)}`) : accepted(plain);
}

/** A number whose value is a whole number within [min, max] (`3`, `3.0`, `3E+0`). */
export function coerceInteger(value: AttributeInput, min: number, max: number): Coercion<number> {
  const decimal = coerceDecimal(value);
  if (!decimal.ok) return decimal;
  const integer = integralValue(decimal.value);
  if (integer === undefined) return refused('invalid_value', `not a whole number: ${describeValue(value)}`);
  if (integer < BigInt(min) || integer > BigInt(max)) {
    return refused('invalid_value', `out of range ${min}..${max}: ${describeValue(value)}`);
  }
  return accepted(Number(integer));
}

const INT4_MIN = -2_147_483_648;
const INT4_MAX = 2_147_483_647;

export function coerceDisplayOrder(value: AttributeInput): Coercion<number> {
  return coerceInteger(value, INT4_MIN, INT4_MAX);
}

export function coerceConfidenceLevel(value: AttributeInput): Coercion<number> {
  return coerceInteger(value, 1, 5);
}

/** `BOOL`, `N` 0/1, or "true"/"false" in any case; absent means false (contract §1). */
export function coerceBoolean(value: AttributeInput): Coercion<boolean> {
  if (isAbsent(value)) return accepted(false);
  if (typeof value === 'boolean') return accepted(value);
  if (value instanceof LegacyNumber) {
    if (value.text === '1' || value.text === '0') return accepted(value.text === '1');
    const plain = toPlainDecimal(value.text.trim());
    const integer = plain === undefined ? undefined : integralValue(plain);
    if (integer === 0n || integer === 1n) return accepted(integer === 1n);
    return refused('invalid_value', `a number as boolean must be 0 or 1: ${describeValue(value)}`);
  }
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (word === 'true' || word === 'false') return accepted(word === 'true');
    return refused('invalid_value', `not "true" or "false": ${describeValue(value)}`);
  }
  return wrongType('a boolean', value);
}

export const LINK_TYPES = ['primary', 'supporting', 'monitoring'] as const;
export type LinkType = (typeof LINK_TYPES)[number];

export const DATA_SOURCES = ['manual', 'integration', 'import', 'calculated'] as const;
export type DataSource = (typeof DATA_SOURCES)[number];

/** A case-insensitive enum; absent gives the default, an unknown word is `unknown_enum`. */
export function coerceEnum<T extends string>(value: AttributeInput, members: readonly T[], absent: T): Coercion<T> {
  if (isAbsent(value)) return accepted(absent);
  if (typeof value !== 'string') return wrongType(`one of ${members.join(', ')}`, value);
  const word = value.trim().toLowerCase();
  const member = members.find((candidate) => candidate === word);
  return member === undefined
    ? refused('unknown_enum', `not one of ${members.join(', ')}: ${describeValue(value)}`)
    : accepted(member);
}

export function coerceLinkType(value: AttributeInput): Coercion<LinkType> {
  return coerceEnum(value, LINK_TYPES, 'supporting');
}

export function coerceDataSource(value: AttributeInput): Coercion<DataSource> {
  return coerceEnum(value, DATA_SOURCES, 'manual');
}

/**
 * Text kept exactly as written, whatever the database may later refuse (the load stage
 * isolates that as `db_error`). A number becomes its text as written.
 */
export function coerceText(value: AttributeInput): Coercion<string> {
  if (isAbsent(value)) return missing();
  if (typeof value === 'string') return accepted(value);
  if (value instanceof LegacyNumber) return accepted(value.text);
  return wrongType('text', value);
}

/** Who did something, for the TEXT `*_by` columns: a GUID is canonicalised, anything else kept as text. */
export function coerceActor(value: AttributeInput): Coercion<string> {
  const text = coerceText(value);
  if (!text.ok) return text;
  return accepted(canonicalGuid(text.value) ?? text.value);
}

/**
 * A TEXT column that usually holds a flag (`AutoAdjustmentApplied`): what reads as a boolean
 * becomes 'true'/'false', other text and numbers are kept as written.
 */
export function coerceFlagText(value: AttributeInput): Coercion<string> {
  if (isAbsent(value)) return missing();
  const flag = coerceBoolean(value);
  if (flag.ok) return accepted(String(flag.value));
  return coerceText(value);
}
