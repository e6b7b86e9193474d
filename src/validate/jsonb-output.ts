import { toPlainDecimal } from '../model/decimal.js';

/**
 * JSON text → the text PostgreSQL prints for it as jsonb (`value::jsonb::text`), without asking
 * the database: object keys deduplicated (the last wins) and ordered by UTF-8 length then bytes,
 * `", "` and `": "` separators, numbers as numeric prints them, strings escaped as escape_json
 * does. The validator hashes expected rows in JS and target rows in SQL; both sides must print
 * a jsonb value the same way. Returns undefined for text that is not JSON.
 */
export function jsonbOutputText(jsonText: string): string | undefined {
  const parser = new JsonReader(jsonText);
  try {
    const value = parser.value();
    parser.end();
    return printValue(value);
  } catch (error) {
    if (error instanceof JsonSyntaxError) return undefined;
    throw error;
  }
}

type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
class JsonNumber {
  constructor(readonly text: string) {}
}
class JsonObject {
  constructor(readonly members: [string, JsonValue][]) {}
}
class JsonSyntaxError extends Error {}

function printValue(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return escapeJson(value);
  if (value instanceof JsonNumber) return toPlainDecimal(value.text) ?? value.text;
  if (Array.isArray(value)) return `[${value.map(printValue).join(', ')}]`;
  const byKey = new Map<string, JsonValue>();
  for (const [key, member] of value.members) {
    byKey.delete(key);
    byKey.set(key, member);
  }
  let keys: string[];
  if ([...byKey.keys()].every((key) => !NOT_ASCII.test(key))) {
    // ASCII keys: UTF-8 length is length, and byte order is code unit order.
    keys = [...byKey.keys()].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  } else {
    const withBytes = [...byKey.keys()].map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }));
    withBytes.sort((a, b) => a.bytes.length - b.bytes.length || Buffer.compare(a.bytes, b.bytes));
    keys = withBytes.map(({ key }) => key);
  }
  return `{${keys.map((key) => `${escapeJson(key)}: ${printValue(byKey.get(key)!)}`).join(', ')}}`;
}

const NOT_ASCII = /[^\u0000-\u007f]/;

const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** PostgreSQL's escape_json: the two-character escapes, `\u00xx` (lowercase) for other controls. */
function escapeJson(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return `"${text}"`;
  let out = '"';
  for (const char of text) {
    const escape = ESCAPES[char];
    if (escape !== undefined) out += escape;
    else if (char < ' ') out += `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else out += char;
  }
  return `${out}"`;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const CONTROL = /[\u0000-\u001f]/;
const WHITESPACE = /[ \t\n\r]*/y;

/** A strict JSON reader that keeps numbers as their text (never a JS float). */
class JsonReader {
  #at = 0;
  #backslash = -2;
  constructor(readonly text: string) {}

  end(): void {
    this.#skipWhitespace();
    if (this.#at !== this.text.length) throw new JsonSyntaxError(`unexpected text at ${this.#at}`);
  }

  value(): JsonValue {
    this.#skipWhitespace();
    const char = this.text[this.#at];
    if (char === '{') return this.#object();
    if (char === '[') return this.#array();
    if (char === '"') return this.#string();
    if (this.text.startsWith('true', this.#at)) return this.#literal('true', true);
    if (this.text.startsWith('false', this.#at)) return this.#literal('false', false);
    if (this.text.startsWith('null', this.#at)) return this.#literal('null', null);
    NUMBER.lastIndex = this.#at;
    const match = NUMBER.exec(this.text);
    if (match === null) throw new JsonSyntaxError(`no JSON value at ${this.#at}`);
    this.#at += match[0].length;
    return new JsonNumber(match[0]);
  }

  #literal<T>(word: string, value: T): T {
    this.#at += word.length;
    return value;
  }

  #skipWhitespace(): void {
    WHITESPACE.lastIndex = this.#at;
    WHITESPACE.exec(this.text);
    this.#at = WHITESPACE.lastIndex;
  }

  #expect(char: string): void {
    this.#skipWhitespace();
    if (this.text[this.#at] !== char) throw new JsonSyntaxError(`expected ${char} at ${this.#at}`);
    this.#at += 1;
  }

  #peek(): string | undefined {
    this.#skipWhitespace();
    return this.text[this.#at];
  }

  #object(): JsonObject {
    this.#expect('{');
    const members: [string, JsonValue][] = [];
    if (this.#peek() === '}') {
      this.#at += 1;
      return new JsonObject(members);
    }
    for (;;) {
      this.#skipWhitespace();
      if (this.text[this.#at] !== '"') throw new JsonSyntaxError(`expected a key at ${this.#at}`);
      const key = this.#string();
      this.#expect(':');
      members.push([key, this.value()]);
      if (this.#peek() === ',') {
        this.#at += 1;
        continue;
      }
      this.#expect('}');
      return new JsonObject(members);
    }
  }

  #array(): JsonValue[] {
    this.#expect('[');
    const items: JsonValue[] = [];
    if (this.#peek() === ']') {
      this.#at += 1;
      return items;
    }
    for (;;) {
      items.push(this.value());
      if (this.#peek() === ',') {
        this.#at += 1;
        continue;
      }
      this.#expect(']');
      return items;
    }
  }

  /** Where the next backslash at or after `from` is (-1: none); reads go forward only, so it is looked for once per backslash. */
  #backslashFrom(from: number): number {
    if (this.#backslash !== -1 && this.#backslash < from) this.#backslash = this.text.indexOf('\\', from);
    return this.#backslash;
  }

  #string(): string {
    const { text } = this;
    const start = this.#at;
    // JSON.parse decodes a string literal exactly as the JSON grammar says; find its end first.
    let end = start + 1;
    let escaped = false;
    for (;;) {
      const quote = text.indexOf('"', end);
      if (quote === -1) throw new JsonSyntaxError(`unterminated string at ${start}`);
      const backslash = this.#backslashFrom(end);
      if (backslash === -1 || backslash > quote) {
        end = quote;
        break;
      }
      escaped = true;
      end = backslash + 2;
    }
    this.#at = end + 1;
    // Nearly every string has no escape: as it stands it is its value, unless it holds a control character JSON forbids.
    if (!escaped && !CONTROL.test(text.slice(start + 1, end))) return text.slice(start + 1, end);
    try {
      return JSON.parse(text.slice(start, end + 1)) as string;
    } catch (error) {
      throw new JsonSyntaxError(`bad string at ${start}: ${String(error)}`);
    }
  }
}
