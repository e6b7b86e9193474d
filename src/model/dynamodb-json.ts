// DynamoDB's typed JSON → legacy values: how a scan, an export file or a backup holds an item. In
// the vocabulary, because the transform's fast path reads typed attributes as they come.
import { LegacyNumber, LegacySet, setAttribute, type LegacyItem, type LegacyValue } from './legacy-value.js';

/**
 * DynamoDB's typed JSON (`{"S": "…"}`, `{"N": "…"}`, …) → legacy value; numbers stay text.
 * A payload of the wrong JSON type (`{"BOOL": "false"}`, `{"S": 5}`) is refused, never coerced:
 * only a damaged file holds one, and `Boolean("false")` would silently turn it into true.
 */
export function fromAttributeValue(attribute: object): LegacyValue {
  const av = attribute as Record<string, unknown>;
  if (typeof av !== 'object' || av === null || Array.isArray(av)) throw new TypeError(`not a DynamoDB attribute value: ${JSON.stringify(av)}`);
  // The tags nearly every attribute has, first and without an `in` each, in the order below:
  // what follows gives the same value for them, only slower (it runs for every attribute read).
  const { S, N } = av;
  if (typeof S === 'string') return S;
  if (S === undefined) {
    if (typeof N === 'string') return new LegacyNumber(N);
    if (N === undefined) {
      const { BOOL } = av;
      if (typeof BOOL === 'boolean') return BOOL;
      if (BOOL === undefined && av.NULL === true) return null;
    }
  }
  if ('S' in av && av.S !== undefined) return payload(av.S, 'S', isString);
  if ('N' in av && av.N !== undefined) return new LegacyNumber(payload(av.N, 'N', isString));
  if ('BOOL' in av && av.BOOL !== undefined) return payload(av.BOOL, 'BOOL', (v): v is boolean => typeof v === 'boolean');
  if ('NULL' in av && av.NULL !== undefined) {
    payload(av.NULL, 'NULL', (v) => v === true);
    return null;
  }
  if ('M' in av && av.M !== undefined) {
    return fromAttributeMap(payload(av.M, 'M', (v): v is Record<string, object> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)));
  }
  if ('L' in av && av.L !== undefined) return payload(av.L, 'L', Array.isArray).map((member: object) => fromAttributeValue(member));
  if ('B' in av && av.B !== undefined) return toBytes(av.B);
  if ('SS' in av && av.SS !== undefined) return new LegacySet('SS', payload(av.SS, 'SS', isStringList));
  if ('NS' in av && av.NS !== undefined) {
    return new LegacySet('NS', payload(av.NS, 'NS', isStringList).map((n) => new LegacyNumber(n)));
  }
  if ('BS' in av && av.BS !== undefined) return new LegacySet('BS', payload(av.BS, 'BS', Array.isArray).map(toBytes));
  throw new TypeError(`not a DynamoDB attribute value: ${JSON.stringify(Object.keys(av))}`);
}

function payload<T>(value: unknown, tag: string, is: (value: unknown) => value is T): T;
function payload(value: unknown, tag: string, is: (value: unknown) => boolean): unknown;
function payload(value: unknown, tag: string, is: (value: unknown) => boolean): unknown {
  if (is(value)) return value;
  const found = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'a map' : `the ${typeof value} ${String(value).slice(0, 40)}`;
  throw new TypeError(`a DynamoDB ${tag} attribute holds ${found}`);
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);

export function fromAttributeMap(item: Record<string, object>): LegacyItem {
  const out: LegacyItem = {};
  for (const name of Object.keys(item)) setAttribute(out, name, fromAttributeValue(item[name]!));
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function toBytes(raw: unknown): Uint8Array {
  if (raw instanceof Uint8Array) return raw;
  // DynamoDB JSON in export files and `aws dynamodb scan` output carries binary as base64 text;
  // Buffer.from would skip any other character silently, so other text is refused.
  if (typeof raw === 'string' && BASE64.test(raw)) return new Uint8Array(Buffer.from(raw, 'base64'));
  throw new TypeError('binary attribute is neither bytes nor base64 text');
}

/** A binary value as toJsonText writes its bytes (base64), or undefined where toBytes refuses it. */
export function base64OfBinary(raw: unknown): string | undefined {
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  // Decoded and encoded again, as toBytes then toJsonText do: base64 may set bits its last digit drops.
  if (typeof raw === 'string' && BASE64.test(raw)) return Buffer.from(raw, 'base64').toString('base64');
  return undefined;
}

/** An item's attributes in DynamoDB JSON as a source holds them (`{"S": "…"}`, `{"N": "…"}`, …), unchecked. */
export type TypedItem = { readonly [attribute: string]: unknown };

/** The tag of a flat attribute: a scalar written plainly, or OTHER (any other value, `raw` gives it). */
export const FLAT_S = 1;
export const FLAT_N = 2;
export const FLAT_BOOL = 3;
export const FLAT_NULL = 4;
export const FLAT_OTHER = 5;

/**
 * The tag of a typed value as plainValue and fromAttributeValue read it: S, N, BOOL and NULL in
 * their order of precedence (`{"S":"a","N":"1"}` is S), FLAT_OTHER for anything else.
 */
export function scalarTagOf(raw: unknown): number {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return FLAT_OTHER;
  const { S, N, BOOL, NULL } = raw as { S?: unknown; N?: unknown; BOOL?: unknown; NULL?: unknown };
  if (typeof S === 'string') return FLAT_S;
  if (S !== undefined) return FLAT_OTHER;
  if (typeof N === 'string') return FLAT_N;
  if (N !== undefined) return FLAT_OTHER;
  if (typeof BOOL === 'boolean') return FLAT_BOOL;
  return BOOL === undefined && NULL === true ? FLAT_NULL : FLAT_OTHER;
}

/** The text a FlatItem keeps of a value of that tag: S's or N's text, `true`/`false`, '' otherwise. */
export function scalarTextOf(raw: unknown, tag: number): string {
  const value = raw as { S: string; N: string; BOOL: boolean };
  return tag === FLAT_S ? value.S : tag === FLAT_N ? value.N : tag === FLAT_BOOL ? (value.BOOL ? 'true' : 'false') : '';
}

/**
 * A copy of `text` that holds no other string: a FlatItem's texts are cut from the line they were
 * read from, and V8 keeps a cut of 13 characters or more as a view of the whole line, so a text
 * kept for the whole run (a tenant in an index, say) would keep its line with it.
 */
export function detachedText(text: string): string {
  return text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as string);
}

/**
 * An item's attributes side by side, for the transform's compiled fast path: each one's name, its
 * tag and, for a scalar, its text (`S`, `N`, `true`/`false` of BOOL). A value of any other form
 * is OTHER, kept as its typed JSON or as JSON text parsed when asked for. One object is reused
 * from item to item: what a caller keeps, it copies (detachedText).
 */
export class FlatItem {
  count = 0;
  readonly names: string[] = [];
  readonly tags: number[] = [];
  readonly texts: string[] = [];
  readonly #raws: unknown[] = [];
  /** Whether attribute `at` came as text (an export line): its typed value is made when asked for. */
  readonly #fromText: boolean[] = [];

  clear(): void {
    this.count = 0;
  }

  /** Appends an attribute read from text: for OTHER, `text` is the value's JSON. */
  pushText(name: string, tag: number, text: string): void {
    this.#push(name, tag, text, undefined, true);
  }

  #push(name: string, tag: number, text: string, raw: unknown, fromText: boolean): void {
    const at = this.count++;
    this.names[at] = name;
    this.tags[at] = tag;
    this.texts[at] = text;
    this.#raws[at] = raw;
    this.#fromText[at] = fromText;
  }

  /** Attribute `at`'s typed value (`{"S": …}`, `{"M": …}`, …); one read from text is parsed here, once. */
  raw(at: number): unknown {
    if (!this.#fromText[at]) return this.#raws[at];
    const raw = this.#raws[at];
    if (raw !== undefined) return raw;
    const tag = this.tags[at]!;
    const text = this.texts[at]!;
    const parsed = tag === FLAT_OTHER ? JSON.parse(text) : tag === FLAT_S ? { S: text } : tag === FLAT_N ? { N: text } : tag === FLAT_BOOL ? { BOOL: text === 'true' } : { NULL: true };
    this.#raws[at] = parsed;
    return parsed;
  }

  /** Fills this with a typed item's attributes (as JSON.parse or the SDK gives them), classified as plainValue reads them. */
  fill(typed: TypedItem): this {
    this.count = 0;
    for (const name in typed) {
      const raw = typed[name];
      const tag = scalarTagOf(raw);
      this.#push(name, tag, scalarTextOf(raw, tag), raw, false);
    }
    return this;
  }
}
