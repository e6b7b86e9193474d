import { FLAT_BOOL, FLAT_N, FLAT_NULL, FLAT_OTHER, FLAT_S, type FlatItem } from '../model/dynamodb-json.js';

const PREFIX = '{"Item":{';
// JSON forbids raw control characters in strings; JSON.parse says so for such a line.
const CONTROL = /[\u0000-\u001f]/;
// A name a typed item gave (FlatItem.fill) may hold what a raw name cannot.
const NOT_RAW = /["\\]/;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * An export line read into `into` without building its tree: `{"Item":{…}}` as DynamoDB writes it
 * (no whitespace), each attribute's name and, for `{"S":…}`, `{"N":…}`, `{"BOOL":…}` and
 * `{"NULL":true}`, its tag and text; any other value is kept as its JSON text (FLAT_OTHER), parsed
 * only if asked for. False for a line in any other form (whitespace, another top-level key, an
 * escape in a name, a bad escape in a string, a control character): JSON.parse reads it, and
 * says whether it is JSON at all. For a line it accepts, `into` holds what FlatItem.fill makes of
 * JSON.parse(line).Item, attribute for attribute (a name given twice is left to the caller).
 */
export function scanExportLine(line: string, into: FlatItem): boolean {
  into.clear();
  if (!line.startsWith(PREFIX) || CONTROL.test(line)) return false;
  const end = attributesEnd(line, PREFIX.length - 1, into);
  return end > 0 && end + 1 === line.length && line.charCodeAt(end) === CLOSE_BRACE;
}

/** The same for an item's DynamoDB JSON `{…}` at text[start, end) (a Scan answer's item, say). */
export function scanTypedItem(text: string, start: number, end: number, into: FlatItem): boolean {
  into.clear();
  if (CONTROL.test(end - start === text.length ? text : text.slice(start, end))) return false;
  return attributesEnd(text, start, into) === end;
}

/** The attributes of the item object whose `{` is at `open`, pushed; the position after its `}`, or -1. */
function attributesEnd(line: string, open: number, into: FlatItem): number {
  if (line.charCodeAt(open) !== OPEN_BRACE) return -1;
  let at = open + 1;
  if (line.charCodeAt(at) === CLOSE_BRACE) return at + 1;
  for (;;) {
    if (line.charCodeAt(at) !== QUOTE) return -1;
    // Lines of a table mostly list the same attributes in the same order: the name the previous
    // line had here is taken when it is the same, rather than a new string per attribute.
    const previous = into.count < into.names.length ? into.names[into.count]! : undefined;
    let name: string;
    let nameEnd: number;
    if (previous !== undefined && line.startsWith(previous, at + 1) && line.charCodeAt(at + 1 + previous.length) === QUOTE && !NOT_RAW.test(previous)) {
      name = previous;
      nameEnd = at + 1 + previous.length;
    } else {
      nameEnd = line.indexOf('"', at + 1);
      if (nameEnd < 0) return -1;
      name = line.slice(at + 1, nameEnd);
      if (name.includes('\\')) return -1;
    }
    if (line.charCodeAt(nameEnd + 1) !== COLON) return -1;
    const valueStart = nameEnd + 2;
    let next = scalar(line, valueStart, name, into);
    if (next === BAD_STRING) return -1;
    if (next === NOT_SCALAR) {
      next = valueEnd(line, valueStart);
      if (next < 0) return -1;
      into.pushText(name, FLAT_OTHER, line.slice(valueStart, next));
    }
    const after = line.charCodeAt(next);
    if (after === COMMA) {
      at = next + 1;
      continue;
    }
    return after === CLOSE_BRACE ? next + 1 : -1;
  }
}

const NOT_SCALAR = -1;
const BAD_STRING = -2;

/** A plain scalar value object at `at`, pushed: the position after it; NOT_SCALAR for any other value; BAD_STRING for a string JSON refuses. */
function scalar(line: string, at: number, name: string, into: FlatItem): number {
  if (line.charCodeAt(at) !== OPEN_BRACE || line.charCodeAt(at + 1) !== QUOTE) return NOT_SCALAR;
  const tag = line.charCodeAt(at + 2);
  if ((tag === 0x53 /* S */ || tag === 0x4e) /* N */ && line.startsWith('":"', at + 3)) {
    const start = at + 6;
    const close = stringEnd(line, start);
    // Another member in the value object ({"S":"a","N":"1"}): the general way reads it.
    if (close < 0 || line.charCodeAt(close + 1) !== CLOSE_BRACE) return NOT_SCALAR;
    let text = line.slice(start, close);
    if (text.includes('\\')) {
      try {
        text = JSON.parse(line.slice(start - 1, close + 1)) as string;
      } catch {
        return BAD_STRING;
      }
    }
    into.pushText(name, tag === 0x53 ? FLAT_S : FLAT_N, text);
    return close + 2;
  }
  for (const [literal, flat, text] of LITERALS) {
    if (line.startsWith(literal, at + 2)) {
      into.pushText(name, flat, text);
      return at + 2 + literal.length;
    }
  }
  return NOT_SCALAR;
}

const LITERALS: readonly (readonly [string, number, string])[] = [
  ['BOOL":true}', FLAT_BOOL, 'true'],
  ['BOOL":false}', FLAT_BOOL, 'false'],
  ['NULL":true}', FLAT_NULL, ''],
];

/** The closing quote of the JSON string whose text starts at `start`, or -1. */
function stringEnd(line: string, start: number): number {
  for (let quote = line.indexOf('"', start); quote >= 0; quote = line.indexOf('"', quote + 1)) {
    let backslashes = 0;
    while (quote - backslashes - 1 >= start && line.charCodeAt(quote - backslashes - 1) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
  }
  return -1;
}

/**
 * The position just after the JSON value (an object or array, here) that starts at `at`, by its
 * brackets, strings skipped; -1 when it does not close. Its JSON is checked when it is parsed.
 */
function valueEnd(line: string, at: number): number {
  const first = line.charCodeAt(at);
  if (first !== OPEN_BRACE && first !== 0x5b /* [ */) return -1;
  let depth = 0;
  for (let position = at; position < line.length; position++) {
    const code = line.charCodeAt(position);
    if (code === QUOTE) {
      position = stringEnd(line, position + 1);
      if (position < 0) return -1;
    } else if (code === OPEN_BRACE || code === 0x5b) depth += 1;
    else if (code === CLOSE_BRACE || code === 0x5d /* ] */) {
      depth -= 1;
      if (depth === 0) return position + 1;
    }
  }
  return -1;
}
