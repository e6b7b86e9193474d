import { CopyEncodingError, encodeCopyValue, type CopyValue } from '../model/copy-field.js';
import { canonicalDecimal } from '../model/decimal.js';
import { fromAttributeValue, type TypedItem } from '../model/dynamodb-json.js';
import type { LegacyValue } from '../model/legacy-value.js';
import { canonicalGuid, coerceActor, coerceDecimal, coerceGuid, coerceText, coerceTimestamp, UtcTimestamp } from './coerce.js';
import type { AttributeInput, Coercion } from './coercion.js';
import { legacyExtraJson } from './legacy-extra.js';
import { NOT_PLAIN, plainValue, type AttributeCoercionOf } from './legacy-record.js';
import { canonicalUtcText } from './timestamp.js';

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
}

/** The items a schema can vouch for by reading typed attributes: what compileFields needs of it. */
export interface CompiledSchema {
  readonly entity: string;
  readonly coercions: readonly (readonly [string, AttributeCoercionOf])[];
}

/** One attribute's COPY field, or undefined when the fast path cannot vouch for it (the full path decides). */
type FieldReader = (raw: unknown, name: string, extra: ExtraAttributes) => string | undefined;

/** Attributes bound for legacy_extra, as [name, JSON text]: the unknown ones, and timestamps rounded past the microsecond. */
interface ExtraAttributes {
  list: [string, string][] | undefined;
}

const NULL_FIELD = '\\N';

/** The text of an S or N attribute as the coercions read it (plainValue's first branches); undefined for anything else. */
function scalarText(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { S, N } = raw as { S?: unknown; N?: unknown };
  if (typeof S === 'string') return S;
  if (S !== undefined) return undefined;
  return typeof N === 'string' ? N : undefined;
}

/** Whether the attribute reads as absent (missing, NULL, or ''), as isAbsent decides after plainValue. */
function absent(raw: unknown): boolean {
  if (raw === undefined) return true;
  const value = plainValue(raw);
  return value === null || value === '';
}

/** The general reader: the attribute's own coercion on its plain value, its result encoded. */
function coercedField(coerce: (value: AttributeInput) => Coercion<unknown>): FieldReader {
  return (raw, name, extra) => {
    const value = raw === undefined ? undefined : plainValue(raw);
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

const timestampField = coercedField(coerceTimestamp);

/**
 * Readers for the coercions nearly every attribute uses, without the coercion's result objects:
 * each gives exactly what coercedField gives for the same coercion, or undefined and the item
 * goes the full way (test/transform/fast-path.test.ts holds them to it).
 */
const SPECIALISED = new Map<(value: AttributeInput) => Coercion<unknown>, FieldReader>([
  [coerceGuid, (raw) => {
    const text = scalarText(raw);
    // A GUID written as a number is refused by the coercion; canonical GUIDs need no escaping.
    return text !== undefined && typeof (raw as { S?: unknown }).S === 'string' ? canonicalGuid(text) : undefined;
  }],
  [coerceDecimal, (raw) => {
    const text = scalarText(raw);
    return text === undefined || text === '' ? undefined : canonicalDecimal(text.trim());
  }],
  [coerceText, (raw, name) => {
    const text = scalarText(raw);
    return text === undefined || text === '' ? undefined : encodeCopyValue(text, name);
  }],
  [coerceActor, (raw, name) => {
    const text = scalarText(raw);
    return text === undefined || text === '' ? undefined : encodeCopyValue(canonicalGuid(text) ?? text, name);
  }],
  [coerceTimestamp, (raw, name, extra) => {
    const text = (raw as { S?: unknown } | undefined)?.S;
    // The usual `…Z` text is canonical as it stands (padded); any other form takes the full coercion.
    if (typeof text === 'string') {
      const utc = canonicalUtcText(text);
      if (utc !== undefined) return utc;
    }
    return timestampField(raw, name, extra);
  }],
]);

function readerOf(name: string, { coerce, base, optional }: AttributeCoercionOf): FieldReader {
  const specialised = SPECIALISED.get(base);
  if (specialised === undefined) return coercedField(coerce);
  if (!optional) return (raw, _name, extra) => (raw === undefined ? undefined : specialised(raw, name, extra));
  return (raw, _name, extra) => (absent(raw) ? NULL_FIELD : specialised(raw, name, extra));
}

/**
 * The fast path of a schema and a column list, compiled once: typed attributes (as JSON.parse or
 * the SDK gives them) → the columns' COPY fields, with no tree of legacy values, no zod, no row
 * object. Undefined wherever it cannot vouch (an attribute its coercion refuses, a tag it does
 * not read, an unknown attribute that is not a legacy value, text with no UTF-8 form): the item
 * then goes the full way, which decides its reject. For any item it vouches for, the fields are
 * what the full path's row gives through encodeCopyValue.
 */
export function compileFields<Attribute extends string>(
  schema: CompiledSchema,
  columns: readonly ColumnSource<Attribute>[],
  keyAttributes: readonly Attribute[],
): (typed: TypedItem) => CompiledFields | undefined {
  const names = schema.coercions.map(([name]) => name);
  for (const name of names) {
    // Attributes are read as plain properties: a name on Object.prototype would read the prototype's.
    if (name in Object.prototype) throw new TypeError(`${schema.entity}.${name}: an attribute name no plain property can hold`);
  }
  const known = new Set(names);
  const readers = schema.coercions.map(([name, coercion]) => readerOf(name, coercion));
  const at = (attribute: Attribute): number => {
    const index = names.indexOf(attribute);
    if (index === -1) throw new TypeError(`${schema.entity} has no attribute ${attribute}`);
    return index;
  };
  // Each column's field: an attribute's (by index), or text fixed once.
  type Piece = { attribute: number } | { text: string } | 'source id' | 'legacy extra';
  const pieces: Piece[] = columns.map((source) => {
    if (source === 'source id' || source === 'legacy extra') return source;
    if ('constant' in source) return { text: encodeCopyValue(source.constant) };
    return { attribute: at(source.attribute) };
  });
  const keyIndexes = keyAttributes.map(at);
  const values: string[] = new Array<string>(names.length);
  const fields: string[] = new Array<string>(pieces.length);
  return (typed) => {
    try {
      return compiled(typed);
    } catch (error) {
      // encodeCopyValue refuses text with no UTF-8 form: the full path makes that record's reject.
      if (error instanceof CopyEncodingError) return undefined;
      throw error;
    }
  };
  function compiled(typed: TypedItem): CompiledFields | undefined {
    const extra: ExtraAttributes = { list: undefined };
    for (let index = 0; index < readers.length; index++) {
      const name = names[index]!;
      const field = readers[index]!(typed[name], name, extra);
      if (field === undefined) return undefined;
      values[index] = field;
    }
    // for…in, not Object.keys: no array per record (a parsed item has no inherited enumerable keys).
    for (const name in typed) {
      if (known.has(name)) continue;
      const json = typedExtraJson(typed[name]);
      if (json === undefined) return undefined;
      (extra.list ??= []).push([name, json]);
    }
    const extraField = extra.list === undefined ? '{}' : encodeCopyValue(extraObjectJson(extra.list), 'legacy_extra');
    for (let index = 0; index < pieces.length; index++) {
      const piece = pieces[index]!;
      if (piece === 'source id') fields[index] = encodeCopyValue((typed.Id as { S: string }).S, 'source_id');
      else if (piece === 'legacy extra') fields[index] = extraField;
      else fields[index] = 'text' in piece ? piece.text : values[piece.attribute]!;
    }
    return { fields: fields.join('\t'), keys: keyIndexes.map((index) => values[index]!) };
  }
}

/**
 * legacy_extra's JSON text of a typed attribute (what legacyExtraText writes for its value) for
 * the tags records carry, straight from the typed JSON; anything else takes fromAttributeValue.
 * Undefined: it is no legacy value (the full path refuses the record).
 */
export function typedExtraJson(typed: unknown): string | undefined {
  if (typeof typed === 'object' && typed !== null && !Array.isArray(typed)) {
    // fromAttributeValue's own order: S, N, BOOL, NULL before any other tag.
    const { S, N, BOOL, NULL } = typed as { S?: unknown; N?: unknown; BOOL?: unknown; NULL?: unknown };
    if (typeof S === 'string') return JSON.stringify(S);
    if (S === undefined && typeof N === 'string') return canonicalDecimal(N.trim()) ?? JSON.stringify(N);
    if (S === undefined && N === undefined && typeof BOOL === 'boolean') return BOOL ? 'true' : 'false';
    if (S === undefined && N === undefined && BOOL === undefined && NULL === true) return 'null';
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

/** A JSON object of [name, JSON text] members, names sorted as legacyExtraText sorts them. */
function extraObjectJson(members: [string, string][]): string {
  members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let text = '{';
  for (let at = 0; at < members.length; at++) text += `${at === 0 ? '' : ','}${JSON.stringify(members[at]![0])}:${members[at]![1]}`;
  return `${text}}`;
}
