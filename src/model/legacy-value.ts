/**
 * A number exactly as the source wrote it (DynamoDB `N`, a jsonb number's digits).
 * Never converted to a JS float: legacy numbers carry up to 38 significant digits.
 */
export class LegacyNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** A DynamoDB set (`SS`, `NS`, `BS`); kept apart from lists so nothing about the source is lost. */
export class LegacySet {
  constructor(
    readonly kind: 'SS' | 'NS' | 'BS',
    readonly values: readonly (string | LegacyNumber | Uint8Array)[],
  ) {}
}

/** One attribute value of a legacy item, whatever source it came from. */
export type LegacyValue =
  | null
  | string
  | boolean
  | LegacyNumber
  | Uint8Array
  | LegacySet
  | LegacyValue[]
  | { [attribute: string]: LegacyValue };

/** A legacy record: attribute name (PascalCase, as the .NET service wrote it) → value. */
export type LegacyItem = { [attribute: string]: LegacyValue };

export function isLegacyMap(value: LegacyValue): value is { [attribute: string]: LegacyValue } {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !(value instanceof LegacyNumber) &&
    !(value instanceof LegacySet) &&
    !(value instanceof Uint8Array)
  );
}

/**
 * `out[name] = value` would drop an attribute named `__proto__` (it sets the prototype instead);
 * legacy data may hold any name, and nothing may be dropped silently.
 */
export function setAttribute<Value = LegacyValue>(out: { [attribute: string]: Value }, name: string, value: Value): void {
  if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Legacy value → JSON text with numbers written digit for digit (jsonb keeps them exactly).
 * Binary becomes base64 and sets become arrays: the plain-JSON form a kv_store row holds.
 */
export function toJsonText(value: LegacyValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (value instanceof LegacyNumber) {
    // An export file may hold number text JSON does not allow (`+1`, `.5`, garbage): kept as a
    // string, the text survives and the document stays valid for jsonb.
    return JSON_NUMBER.test(value.text) ? value.text : JSON.stringify(value.text);
  }
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  if (value instanceof LegacySet) {
    // A set has no order, and DynamoDB returns its members in an order of its own: sorting them
    // makes every source (scan, export file, kv_store) give the same text for the same set.
    const members = value.values.map((v) => toJsonText(v)).sort();
    return `[${members.join(',')}]`;
  }
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`);
  return `{${members.join(',')}}`;
}
