import { CopyEncodingError, encodeCopyValue, type CopyValue } from '../model/copy-field.js';
import { canonicalDecimal } from '../model/decimal.js';
import { base64OfBinary, FLAT_BOOL, FLAT_N, FLAT_NULL, FLAT_OTHER, FLAT_S, fromAttributeValue, scalarTagOf, scalarTextOf, type FlatItem } from '../model/dynamodb-json.js';
import type { LegacyValue } from '../model/legacy-value.js';
import { canonicalGuid, coerceActor, coerceDecimal, coerceGuid, coerceText, coerceTimestamp, UtcTimestamp } from './coerce.js';
import type { AttributeInput, Coercion } from './coercion.js';
import { legacyExtraJson, sortedByName } from './legacy-extra.js';
import { NOT_PLAIN, scalarValueOf, type AttributeCoercionOf } from './legacy-record.js';
import { canonicalUtcText, epochMillisUtcText, sevenDigitRoundedAway, sevenDigitUtcText } from './timestamp.js';
import { transcodedExtraJson } from './typed-extra-text.js';

/**
 * Where a target column's value comes from: an attribute of the legacy record (its coerced value;
 * a timestamp as its text), a constant, the record's Id as written (`source_id`), or the
 * attributes the mapping does not consume (`legacy_extra`).
 */
export type ColumnSource<Attribute extends string> = { attribute: Attribute } | { constant: CopyValue } | 'source id' | 'legacy extra';

/** A parsed record's value for a column, as the row object holds it. */
export function columnValue<Attribute extends string>(
  source: ColumnSource<Attribute>,
  record: Record<Attribute, unknown>,
  sourceId: string,
  legacyExtra: string,
): CopyValue {
  if (source === 'source id') return sourceId;
  if (source === 'legacy extra') return legacyExtra;
  if ('constant' in source) return source.constant;
  const value = record[source.attribute];
  return value instanceof UtcTimestamp ? value.text : (value as CopyValue);
}

/** A record's columns as COPY fields, and the canonical GUIDs of the attributes asked for. */
export interface CompiledFields {
  /** The columns' COPY fields joined by tabs (no line end). */
  fields: string;
  /** The coerced values of the `keys` attributes, in their order (canonical GUIDs, say). */
  keys: string[];
  /** The record's Id as written (its rows' source_id). */
  sourceId: string;
}

/** The items a schema can vouch for by reading typed attributes: what compileFields needs of it. */
export interface CompiledSchema {
  readonly entity: string;
  readonly coercions: readonly (readonly [string, AttributeCoercionOf])[];
}

/**
 * One attribute's COPY field from attribute `at` of the item (-1: the item lacks it), or
 * undefined when the fast path cannot vouch for it (the full path decides).
 */
type FieldReader = (item: FlatItem, at: number, extra: ExtraAttributes) => string | undefined;

/** Attributes bound for legacy_extra, as [name, JSON text]: the unknown ones, and timestamps rounded past the microsecond. */
interface ExtraAttributes {
  list: [string, string][] | undefined;
}

const NULL_FIELD = '\\N';

/** Attribute `at` as plainValue reads its typed value (FlatItem classifies it the same way). */
function plainOf(item: FlatItem, at: number): LegacyValue | undefined | typeof NOT_PLAIN {
  return at < 0 ? undefined : scalarValueOf(item.tags[at]!, item.texts[at]!);
}

/** The text of an S or N attribute (what the coercions read of either); undefined for anything else. */
function scalarText(item: FlatItem, at: number): string | undefined {
  if (at < 0) return undefined;
  const tag = item.tags[at];
  return tag === FLAT_S || tag === FLAT_N ? item.texts[at] : undefined;
}

/** Whether attribute `at` reads as absent (missing, NULL, or an empty S), as isAbsent decides. */
function absent(item: FlatItem, at: number): boolean {
  if (at < 0) return true;
  const tag = item.tags[at];
  return tag === FLAT_NULL || (tag === FLAT_S && item.texts[at] === '');
}

/** The general reader: the attribute's own coercion on its plain value, its result encoded. */
function coercedField(coerce: (value: AttributeInput) => Coercion<unknown>, name: string): FieldReader {
  return (item, at, extra) => {
    const value = plainOf(item, at);
    if (value === NOT_PLAIN) return undefined;
    const coerced = coerce(value);
    if (!coerced.ok) return undefined;
    const result = coerced.value;
    if (result instanceof UtcTimestamp) {
      if (result.roundedAway) (extra.list ??= []).push([name, legacyExtraJson(value!)]);
      return result.text;
    }
    return encodeCopyValue(result as CopyValue, name);
  };
}

/**
 * Readers for the coercions nearly every attribute uses, without the coercion's result objects:
 * each gives exactly what coercedField gives for the same coercion, or undefined and the item
 * goes the full way (test/transform/fast-path.test.ts holds them to it).
 */
const SPECIALISED = new Map<(value: AttributeInput) => Coercion<unknown>, (name: string) => FieldReader>([
  // A GUID written as a number is refused by the coercion; canonical GUIDs need no escaping.
  [coerceGuid, () => (item, at) => (at >= 0 && item.tags[at] === FLAT_S ? canonicalGuid(item.texts[at]!) : undefined)],
  [coerceDecimal, () => (item, at) => {
    const text = scalarText(item, at);
    return text === undefined || text === '' ? undefined : canonicalDecimal(text.trim());
  }],
  [coerceText, (name) => (item, at) => {
    const text = scalarText(item, at);
    return text === undefined || text === '' ? undefined : encodeCopyValue(text, name);
  }],
  [coerceActor, (name) => (item, at) => {
    const text = scalarText(item, at);
    return text === undefined || text === '' ? undefined : encodeCopyValue(canonicalGuid(text) ?? text, name);
  }],
  [coerceTimestamp, (name) => {
    const full = coercedField(coerceTimestamp, name);
    return (item, at, extra) => {
      // The usual `…Z` text is canonical as it stands (padded), the .NET service's seven digits are
      // rounded, epoch milliseconds written out; any other form takes the full coercion.
      if (at >= 0 && item.tags[at] === FLAT_S) {
        const text = item.texts[at]!;
        const utc = canonicalUtcText(text);
        if (utc !== undefined) return utc;
        const rounded = sevenDigitUtcText(text);
        if (rounded !== undefined) {
          if (sevenDigitRoundedAway(text)) (extra.list ??= []).push([name, JSON.stringify(text)]);
          return rounded;
        }
      } else if (at >= 0 && item.tags[at] === FLAT_N) {
        const utc = epochMillisUtcText(item.texts[at]!);
        if (utc !== undefined) return utc;
      }
      return full(item, at, extra);
    };
  }],
]);

function readerOf(name: string, { coerce, base, optional }: AttributeCoercionOf): FieldReader {
  const specialised = SPECIALISED.get(base)?.(name);
  if (specialised === undefined) return coercedField(coerce, name);
  if (!optional) return specialised;
  return (item, at, extra) => (absent(item, at) ? NULL_FIELD : specialised(item, at, extra));
}

/** legacy_extra's JSON text of attribute `at`; undefined: it is no legacy value. */
function extraJsonOf(item: FlatItem, at: number): string | undefined {
  const tag = item.tags[at]!;
  if (tag !== FLAT_OTHER) return scalarExtraJson(tag, item.texts[at]!);
  // Read from an export line: its typed JSON text, in the plain form nearly always, needs no tree.
  const text = item.texts[at]!;
  const transcoded = text === '' ? undefined : transcodedExtraJson(text);
  if (transcoded !== undefined) return transcoded;
  let raw: unknown;
  try {
    raw = item.raw(at);
  } catch {
    // JSON text that does not parse: the line does not either, and the full path says so.
    return undefined;
  }
  return typedExtraJson(raw);
}

/** A scalar as legacyExtraText writes it: strings as JSON, numbers canonical (text that is no number as a string). */
function scalarExtraJson(tag: number, text: string): string {
  switch (tag) {
    case FLAT_S:
      return JSON.stringify(text);
    case FLAT_N:
      return canonicalDecimal(text.trim()) ?? JSON.stringify(text);
    case FLAT_BOOL:
      return text;
    default:
      return 'null';
  }
}

/**
 * The fast path of a schema and a column list, compiled once: an item's attributes as they come
 * (a FlatItem filled from an export line, or from typed JSON as JSON.parse or the SDK gives it) →
 * the columns' COPY fields, with no tree of legacy values, no zod, no row object. Undefined
 * wherever it cannot vouch (an attribute its coercion refuses, a tag it does not read, an unknown
 * attribute that is not a legacy value, a name given twice, text with no UTF-8 form): the item
 * then goes the full way, which decides its reject. For any item it vouches for, the fields are
 * what the full path's row gives through encodeCopyValue.
 */
export function compileFields<Attribute extends string>(
  schema: CompiledSchema,
  columns: readonly ColumnSource<Attribute>[],
  keyAttributes: readonly Attribute[],
): (item: FlatItem) => CompiledFields | undefined {
  const names = schema.coercions.map(([name]) => name);
  const indexOf = new Map(names.map((name, index) => [name, index]));
  const readers = schema.coercions.map(([name, coercion]) => readerOf(name, coercion));
  const at = (attribute: Attribute): number => {
    const index = indexOf.get(attribute);
    if (index === undefined) throw new TypeError(`${schema.entity} has no attribute ${attribute}`);
    return index;
  };
  if (indexOf.get('Id') !== 0) throw new TypeError(`${schema.entity}: Id must be the schema's first attribute`);
  // Each column's field: an attribute's (by index), or text fixed once.
  type Piece = { attribute: number } | { text: string } | 'source id' | 'legacy extra';
  const pieces: Piece[] = columns.map((source) => {
    if (source === 'source id' || source === 'legacy extra') return source;
    if ('constant' in source) return { text: encodeCopyValue(source.constant) };
    return { attribute: at(source.attribute) };
  });
  const keyIndexes = keyAttributes.map(at);
  // Per call: where each schema attribute is in the item (valid when seen[index] === generation).
  const slots = new Int32Array(names.length);
  const seen = new Uint32Array(names.length);
  let generation = 0;
  const values: string[] = new Array<string>(names.length);
  const fields: string[] = new Array<string>(pieces.length);
  return (item) => {
    try {
      return compiled(item);
    } catch (error) {
      // encodeCopyValue refuses text with no UTF-8 form: the full path makes that record's reject.
      if (error instanceof CopyEncodingError) return undefined;
      throw error;
    }
  };
  function compiled(item: FlatItem): CompiledFields | undefined {
    generation = (generation + 1) >>> 0 || 1;
    const extra: ExtraAttributes = { list: undefined };
    for (let position = 0; position < item.count; position++) {
      const name = item.names[position]!;
      const index = indexOf.get(name);
      if (index === undefined) {
        const json = extraJsonOf(item, position);
        if (json === undefined) return undefined;
        (extra.list ??= []).push([name, json]);
      } else {
        // A name given twice (JSON.parse keeps the last): the full path reads it.
        if (seen[index] === generation) return undefined;
        seen[index] = generation;
        slots[index] = position;
      }
    }
    for (let index = 0; index < readers.length; index++) {
      const field = readers[index]!(item, seen[index] === generation ? slots[index]! : -1, extra);
      if (field === undefined) return undefined;
      values[index] = field;
    }
    const extraField = extra.list === undefined ? '{}' : extraObjectJson(extra.list);
    if (extraField === undefined) return undefined;
    const sourceId = item.texts[slots[0]!]!;
    for (let index = 0; index < pieces.length; index++) {
      const piece = pieces[index]!;
      if (piece === 'source id') fields[index] = encodeCopyValue(sourceId, 'source_id');
      else if (piece === 'legacy extra') fields[index] = encodeCopyValue(extraField, 'legacy_extra');
      else fields[index] = 'text' in piece ? piece.text : values[piece.attribute]!;
    }
    return { fields: fields.join('\t'), keys: keyIndexes.map((index) => values[index]!), sourceId };
  }
}

/**
 * legacy_extra's JSON text of a typed attribute (what legacyExtraText writes for its value) for
 * the tags records carry, straight from the typed JSON; anything else takes fromAttributeValue.
 * Undefined: it is no legacy value (the full path refuses the record).
 */
export function typedExtraJson(typed: unknown): string | undefined {
  const tag = scalarTagOf(typed);
  if (tag !== FLAT_OTHER) return scalarExtraJson(tag, scalarTextOf(typed, tag));
  if (typeof typed === 'object' && typed !== null && !Array.isArray(typed)) {
    // fromAttributeValue reads M or L only where none of S, N, BOOL, NULL is there at all.
    const { S, N, BOOL, NULL } = typed as { S?: unknown; N?: unknown; BOOL?: unknown; NULL?: unknown };
    if (S === undefined && N === undefined && BOOL === undefined && NULL === undefined) {
      const { M, L } = typed as { M?: unknown; L?: unknown };
      if (M !== undefined && typeof M === 'object' && M !== null && !Array.isArray(M) && !(M instanceof Uint8Array)) {
        const members: [string, string][] = [];
        for (const name of Object.keys(M)) {
          const json = typedExtraJson((M as Record<string, unknown>)[name]);
          if (json === undefined) return undefined;
          members.push([name, json]);
        }
        return extraObjectJson(members);
      }
      if (M === undefined && Array.isArray(L)) {
        const members: string[] = [];
        for (const member of L) {
          const json = typedExtraJson(member);
          if (json === undefined) return undefined;
          members.push(json);
        }
        return `[${members.join(',')}]`;
      }
      if (M === undefined && L === undefined) return setOrBinaryJson(typed as SetOrBinary);
    }
  }
  let value: LegacyValue;
  try {
    value = fromAttributeValue(typed as object);
  } catch {
    return undefined;
  }
  return legacyExtraJson(value);
}

interface SetOrBinary {
  B?: unknown;
  SS?: unknown;
  NS?: unknown;
  BS?: unknown;
}

const jsonString = (text: string): string => JSON.stringify(text);

/**
 * legacy_extra's JSON text of a binary or a set, as fromAttributeValue reads it (B before SS, NS,
 * BS) and legacyExtraJson writes it: base64 text, set members sorted. Undefined where
 * fromAttributeValue refuses it, or where the value holds none of them (no value at all).
 */
function setOrBinaryJson({ B, SS, NS, BS }: SetOrBinary): string | undefined {
  if (B !== undefined) {
    const base64 = base64OfBinary(B);
    return base64 === undefined ? undefined : jsonString(base64);
  }
  if (SS !== undefined) return isStringList(SS) ? `[${SS.map(jsonString).sort().join(',')}]` : undefined;
  if (NS !== undefined) return isStringList(NS) ? `[${NS.map((n) => canonicalDecimal(n.trim()) ?? jsonString(n)).sort().join(',')}]` : undefined;
  if (BS !== undefined) {
    if (!Array.isArray(BS)) return undefined;
    const members: string[] = [];
    for (const member of BS) {
      const base64 = base64OfBinary(member);
      if (base64 === undefined) return undefined;
      members.push(jsonString(base64));
    }
    return `[${members.sort().join(',')}]`;
  }
  return undefined;
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((member) => typeof member === 'string');
}

/** A JSON object of [name, JSON text] members, names sorted as legacyExtraText sorts them; undefined when a name repeats. */
function extraObjectJson(members: [string, string][]): string | undefined {
  sortedByName(members);
  let text = '{';
  for (let at = 0; at < members.length; at++) {
    if (at > 0 && members[at]![0] === members[at - 1]![0]) return undefined;
    text += `${at === 0 ? '' : ','}${JSON.stringify(members[at]![0])}:${members[at]![1]}`;
  }
  return `${text}}`;
}
