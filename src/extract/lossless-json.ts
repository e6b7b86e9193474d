import { LegacyNumber, setAttribute, type LegacyValue } from '../model/legacy-value.js';

/**
 * JSON text → legacy value, for the values of a kv_store (jsonb as text). Numbers become
 * LegacyNumber with the digits as written (never a JS float); every member is kept, `__proto__`
 * included (lossless-json, like any parser assigning `object[key] = value`, drops that one).
 * Strict RFC 8259 JSON; nesting is handled with an explicit stack, so depth is bounded by memory,
 * not by the call stack. Malformed text throws a SyntaxError naming the position.
 */
export function parseLegacyJson(text: string): LegacyValue {
  return new LegacyJsonParser(text).parse();
}

type Container =
  | { kind: 'object'; value: { [attribute: string]: LegacyValue }; key: string }
  | { kind: 'array'; value: LegacyValue[] };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class LegacyJsonParser {
  private at = 0;

  constructor(private readonly text: string) {}

  parse(): LegacyValue {
    const stack: Container[] = [];
    for (;;) {
      this.skipSpace();
      let value: LegacyValue;
      const c = this.text.charCodeAt(this.at);
      if (c === OPEN_BRACE) {
        this.at += 1;
        this.skipSpace();
        if (this.text.charCodeAt(this.at) === CLOSE_BRACE) {
          this.at += 1;
          value = {};
        } else {
          stack.push({ kind: 'object', value: {}, key: this.readKey() });
          continue;
        }
      } else if (c === OPEN_BRACKET) {
        this.at += 1;
        this.skipSpace();
        if (this.text.charCodeAt(this.at) === CLOSE_BRACKET) {
          this.at += 1;
          value = [];
        } else {
          stack.push({ kind: 'array', value: [] });
          continue;
        }
      } else {
        value = this.readScalar(c);
      }
      // Attach the value to its container; a closing bracket completes the container, which is
      // then attached to its own, and so on.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          this.skipSpace();
          if (this.at !== this.text.length) this.fail('unexpected text after the JSON value');
          return value;
        }
        if (top.kind === 'object') setAttribute(top.value, top.key, value);
        else top.value.push(value);
        this.skipSpace();
        const next = this.text.charCodeAt(this.at);
        if (next === COMMA) {
          this.at += 1;
          if (top.kind === 'object') {
            this.skipSpace();
            top.key = this.readKey();
          }
          break;
        }
        if (next !== (top.kind === 'object' ? CLOSE_BRACE : CLOSE_BRACKET)) {
          this.fail(top.kind === 'object' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        this.at += 1;
        stack.pop();
        value = top.value;
      }
    }
  }

  private readScalar(c: number): LegacyValue {
    if (c === QUOTE) return this.readString();
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.readNumber();
    const word = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : undefined;
    if (word !== undefined && this.text.startsWith(word, this.at)) {
      this.at += word.length;
      return word === 'null' ? null : word === 'true';
    }
    return this.fail(Number.isNaN(c) ? 'unexpected end of text' : 'unexpected character');
  }

  private readKey(): string {
    if (this.text.charCodeAt(this.at) !== QUOTE) this.fail('expected a member name');
    const key = this.readString();
    this.skipSpace();
    if (this.text.charCodeAt(this.at) !== COLON) this.fail("expected ':'");
    this.at += 1;
    return key;
  }

  private readString(): string {
    const { text } = this;
    const start = this.at + 1;
    let i = start;
    // Most strings have no escape: one slice.
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        this.at = i + 1;
        return text.slice(start, i);
      }
      if (c === BACKSLASH) break;
      if (c < 0x20 || Number.isNaN(c)) return this.failAt(i, Number.isNaN(c) ? 'unterminated string' : 'control character in a string');
      i += 1;
    }
    let out = text.slice(start, i);
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        this.at = i + 1;
        return out;
      }
      if (c === BACKSLASH) {
        const escape = text[i + 1];
        if (escape === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) return this.failAt(i, 'invalid \\u escape');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 6;
        } else {
          const replaced = escape === undefined ? undefined : ESCAPES[escape];
          if (replaced === undefined) return this.failAt(i, 'invalid escape');
          out += replaced;
          i += 2;
        }
        continue;
      }
      if (c < 0x20 || Number.isNaN(c)) return this.failAt(i, Number.isNaN(c) ? 'unterminated string' : 'control character in a string');
      const runStart = i;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === QUOTE || d === BACKSLASH || d < 0x20) break;
        i += 1;
      }
      out += text.slice(runStart, i);
    }
  }

  private readNumber(): LegacyNumber {
    const { text } = this;
    const start = this.at;
    let i = start;
    if (text.charCodeAt(i) === MINUS) i += 1;
    const digits = (): number => {
      const from = i;
      while (i < text.length && text.charCodeAt(i) >= ZERO && text.charCodeAt(i) <= NINE) i += 1;
      return i - from;
    };
    if (text.charCodeAt(i) === ZERO) i += 1;
    else if (digits() === 0) return this.failAt(i, 'expected a digit');
    if (text.charCodeAt(i) === 0x2e /* . */) {
      i += 1;
      if (digits() === 0) return this.failAt(i, 'expected a digit after the decimal point');
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45 /* e E */) {
      i += 1;
      const sign = text.charCodeAt(i);
      if (sign === 0x2b || sign === MINUS) i += 1;
      if (digits() === 0) return this.failAt(i, 'expected a digit in the exponent');
    }
    this.at = i;
    return new LegacyNumber(text.slice(start, i));
  }

  private skipSpace(): void {
    const { text } = this;
    let i = this.at;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i += 1;
    }
    this.at = i;
  }

  private fail(message: string): never {
    return this.failAt(this.at, message);
  }

  private failAt(position: number, message: string): never {
    throw new SyntaxError(`${message} at position ${position} of the JSON text`);
  }
}
