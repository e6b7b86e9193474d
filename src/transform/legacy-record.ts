import { z } from 'zod';
import { accepted, isAbsent, type AttributeInput, type Coercion } from './coercion.js';
import type { LegacyEntity } from '../model/entities.js';
import { legacyExtraText } from './legacy-extra.js';
import type { LegacyItem, LegacyValue } from '../model/legacy-value.js';
import type { Reject, RejectReason } from '../model/reject.js';
import { UtcTimestamp } from './timestamp.js';
import { unreadableProblemOf } from '../model/unreadable.js';
import { FLAT_BOOL, FLAT_N, FLAT_NULL, FLAT_S, fromAttributeValue, scalarTagOf, scalarTextOf, type TypedItem } from '../model/dynamodb-json.js';

export type { TypedItem };
import { LegacyNumber } from '../model/legacy-value.js';

/** One thing wrong with one attribute of a legacy item. */
export interface AttributeProblem {
  attribute: string;
  reason: RejectReason;
  message: string;
}

type AttributeCoercion = (value: AttributeInput) => Coercion<unknown>;

/** How an attribute is coerced: the coercion the schema runs, and the one it wraps when the attribute is optional. */
export interface AttributeCoercionOf {
  coerce: AttributeCoercion;
  /** The coercion of a present value (for an optional attribute, the one `coerce` wraps). */
  base: AttributeCoercion;
  optional: boolean;
}

/** Each attribute schema's coercion, for the fast paths (`parseTyped`, compiled-fields.ts). */
const COERCIONS = new WeakMap<z.core.$ZodType, AttributeCoercionOf>();

/** An attribute checked by a coercion, which also decides what absent means (missing, or a default). */
export function attribute<T>(coerce: (value: AttributeInput) => Coercion<T>) {
  return attributeSchema(coerce, coerce, false);
}

/** An attribute that may be absent, NULL or empty: all three give null. */
export function optionalAttribute<T>(coerce: (value: AttributeInput) => Coercion<T>) {
  return attributeSchema((value): Coercion<T | null> => (isAbsent(value) ? accepted(null) : coerce(value)), coerce, true);
}

function attributeSchema<T>(coerce: (value: AttributeInput) => Coercion<T>, base: AttributeCoercion, optional: boolean) {
  // A bare transform, not custom().transform(): a pipe per attribute costs five times as much.
  const schema = z.transform((value: AttributeInput, context) => {
    const result = coerce(value);
    if (result.ok) return result.value;
    context.issues.push({ code: 'custom', message: result.message, params: { reason: result.reason }, input: value });
    return z.NEVER;
  });
  COERCIONS.set(schema, { coerce, base, optional });
  return schema;
}

export type ParsedRecord<Parsed> =
  | {
      ok: true;
      record: Parsed;
      /** JSON text of the attributes the schema does not know, and of timestamps rounded past the microsecond. */
      legacyExtra: string;
    }
  | { ok: false; reject: Reject; problems: AttributeProblem[] };

/** What `parse` gives for a good record, or undefined: the fast path cannot vouch for the item. */
export type TypedParse<Parsed> = { record: Parsed; legacyExtra: string } | undefined;

/** A legacy table's schema: its attributes in contract order (Id first), each with its coercion. */
export interface LegacyRecordSchema<Shape extends z.core.$ZodShape> {
  readonly entity: LegacyEntity;
  readonly schema: z.ZodObject<Shape>;
  readonly attributes: readonly string[];
  parse(item: LegacyItem): ParsedRecord<z.output<z.ZodObject<Shape>>>;
  /**
   * The fast path of `parse`, straight from typed attributes: the same coercions without zod and
   * without the item's tree. It vouches only for an item `parse` would accept, and then gives
   * what `parse` gives; anything it is unsure of (a coercion refusing, a tag other than S, N,
   * BOOL or NULL where the schema reads one, an attribute no legacy value reads) is undefined,
   * and the item goes through `parse`, which decides the reject.
   */
  parseTyped(typed: TypedItem): TypedParse<z.output<z.ZodObject<Shape>>>;
  /** How each attribute is coerced, in contract order. */
  readonly coercions: readonly (readonly [string, AttributeCoercionOf])[];
}

/** What fromAttributeValue gives for the tags a schema reads (S, N, BOOL, NULL); NOT_PLAIN for any other. */
export const NOT_PLAIN = Symbol('not a plain attribute');

export function plainValue(typed: unknown): LegacyValue | typeof NOT_PLAIN {
  // fromAttributeValue's first branch, tag for tag: it returns these before looking further.
  const tag = scalarTagOf(typed);
  return scalarValueOf(tag, scalarTextOf(typed, tag));
}

/** The legacy value of a scalar of that tag and text (as FlatItem keeps it); NOT_PLAIN for FLAT_OTHER. */
export function scalarValueOf(tag: number, text: string): LegacyValue | typeof NOT_PLAIN {
  switch (tag) {
    case FLAT_S:
      return text;
    case FLAT_N:
      return new LegacyNumber(text);
    case FLAT_BOOL:
      return text === 'true';
    case FLAT_NULL:
      return null;
    default:
      return NOT_PLAIN;
  }
}

// Parses like schema.safeParse, but reports problems in a plain $ZodError rather than an Error
// subclass: capturing a stack trace per rejected record would double the cost of a reject.
const safeParseWithoutStack = z.core._safeParse(z.core.$ZodError);

export function legacyRecord<Shape extends z.core.$ZodShape>(entity: LegacyEntity, shape: Shape): LegacyRecordSchema<Shape> {
  const schema = z.object(shape);
  const attributes = Object.keys(shape);
  const known = new Set(attributes);
  const coercionsOf = attributes.map((name): [string, AttributeCoercionOf] => {
    const coercion = COERCIONS.get(shape[name] as z.core.$ZodType);
    if (coercion === undefined) throw new TypeError(`${entity}.${name}: not an attribute() of a legacy record`);
    return [name, coercion];
  });
  const coercions = coercionsOf.map(([name, { coerce }]): [string, AttributeCoercion] => [name, coerce]);
  return {
    entity,
    schema,
    attributes,
    coercions: coercionsOf,
    parse(item) {
      const unreadable = unreadableProblemOf(item);
      if (unreadable !== undefined) {
        const problems: AttributeProblem[] = [{ attribute: unreadable.attribute, reason: 'invalid_value', message: unreadable.message }];
        return { ok: false, reject: rejectOf(entity, item, problems), problems };
      }
      const parsed = safeParseWithoutStack(schema, item);
      if (!parsed.success) {
        const problems = problemsInOrder(parsed.error.issues, attributes);
        return { ok: false, reject: rejectOf(entity, item, problems), problems };
      }
      const record = parsed.data as Record<string, unknown>;
      const extra: [string, LegacyValue][] = [];
      for (const name of Object.keys(item)) {
        const coerced = record[name];
        if (!known.has(name) || (coerced instanceof UtcTimestamp && coerced.roundedAway)) extra.push([name, item[name]!]);
      }
      return { ok: true, record: parsed.data, legacyExtra: extra.length === 0 ? '{}' : legacyExtraText(extra) };
    },
    parseTyped(typed) {
      const record: Record<string, unknown> = {};
      let extra: [string, LegacyValue][] | undefined;
      for (const [name, coerce] of coercions) {
        const raw = Object.hasOwn(typed, name) ? typed[name] : undefined;
        const value = raw === undefined ? undefined : plainValue(raw);
        if (value === NOT_PLAIN) return undefined;
        const coerced = coerce(value);
        if (!coerced.ok) return undefined;
        record[name] = coerced.value;
        if (coerced.value instanceof UtcTimestamp && coerced.value.roundedAway) (extra ??= []).push([name, value!]);
      }
      for (const name of Object.keys(typed)) {
        if (known.has(name)) continue;
        let value: LegacyValue;
        try {
          value = fromAttributeValue(typed[name] as object);
        } catch {
          return undefined;
        }
        (extra ??= []).push([name, value]);
      }
      // Its only readers, the lookups, want the record alone: the extra attributes' text is made if asked for.
      const extras = extra;
      return {
        record: record as z.output<z.ZodObject<Shape>>,
        get legacyExtra() {
          return extras === undefined ? '{}' : legacyExtraText(extras);
        },
      };
    },
  };
}

/** Problems in the table's attribute order, so that the first one decides the reject reason. */
function problemsInOrder(issues: readonly z.core.$ZodIssue[], attributes: readonly string[]): AttributeProblem[] {
  // A problem with the item itself ('(item)', index -1) comes before any attribute's.
  const position = (problem: AttributeProblem) => attributes.indexOf(problem.attribute);
  return issues
    .map((issue): AttributeProblem => {
      const attribute = issue.path.length > 0 ? String(issue.path[0]) : '(item)';
      const reason = issue.code === 'custom' ? (issue.params?.reason as RejectReason | undefined) : undefined;
      return { attribute, reason: reason ?? 'invalid_value', message: issue.message };
    })
    .sort((a, b) => position(a) - position(b));
}

/** ONE reject per record: the first problem's reason, a message listing every problem. */
export function rejectOf(entity: LegacyEntity, item: LegacyItem, problems: readonly AttributeProblem[]): Reject {
  const [first] = problems;
  const rawId = isItem(item) ? item.Id : undefined;
  return {
    sourceEntity: entity,
    sourceId: typeof rawId === 'string' ? rawId : null,
    reason: first?.reason ?? 'invalid_value',
    message: problems.map((problem) => `${problem.attribute}: ${problem.message} [${problem.reason}]`).join('; '),
    ...(first === undefined || first.attribute === '(item)' ? {} : { attribute: first.attribute }),
    item,
  };
}

function isItem(item: unknown): item is LegacyItem {
  return typeof item === 'object' && item !== null;
}
