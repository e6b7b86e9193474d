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
  const keys = [...byKey.keys()].map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }));
  keys.sort((a, b) => a.bytes.length - b.bytes.length || Buffer.compare(a.bytes, b.bytes));
  return `{${keys.map(({ key }) => `${escapeJson(key)}: ${printValue(byKey.get(key)!)}`).join(', ')}}`;
}

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
const WHITESPACE = /[ \t\n\r]*/y;

/** A strict JSON reader that keeps numbers as their text (never a JS float). */
class JsonReader {
  #at = 0;
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

  #string(): string {
    const start = this.#at;
    let end = start + 1;
    // JSON.parse decodes a string literal exactly as the JSON grammar says; find its end first.
    for (;;) {
      const char = this.text[end];
      if (char === undefined) throw new JsonSyntaxError(`unterminated string at ${start}`);
      if (char === '\\') end += 2;
      else if (char === '"') break;
      else end += 1;
    }
    this.#at = end + 1;
    try {
      return JSON.parse(this.text.slice(start, end + 1)) as string;
    } catch (error) {
      throw new JsonSyntaxError(`bad string at ${start}: ${String(error)}`);
    }
  }
}
