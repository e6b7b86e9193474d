import { canonicalDecimal } from '../model/decimal.js';
import { base64OfBinary } from '../model/dynamodb-json.js';
import { sortedByName } from './legacy-extra.js';

/**
 * legacy_extra's JSON text of an attribute straight from its typed JSON text as an export line
 * writes it, `{"M":{"Batch":{"N":"362"},…}}`: what typedExtraJson makes of JSON.parse(text),
 * without the tree. Only for the plain form: no whitespace, one tag a value, strings without an
 * escape or a surrogate (their JSON is then their text, quoted), no name given twice. Undefined
 * for any other text, which JSON.parse then reads (test/transform/fast-path.test.ts holds the
 * two to the same answer).
 */
export function transcodedExtraJson(text: string): string | undefined {
  source = text;
  at = 0;
  const json = typedValue();
  source = '';
  return json !== undefined && at === text.length ? json : undefined;
}

// The text being read and the position in it: a reader per call would be garbage per attribute.
let source = '';
let at = 0;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `{"TAG":…}` at `at`, as legacy_extra writes it; `at` moved past it. */
function typedValue(): string | undefined {
  if (!take('{"')) return undefined;
  const tagEnd = source.indexOf('"', at);
  if (tagEnd < 0 || source.charCodeAt(tagEnd + 1) !== 0x3a /* : */) return undefined;
  const tag = source.slice(at, tagEnd);
  at = tagEnd + 2;
  let json: string | undefined;
  switch (tag) {
    case 'S': {
      const text = plainString();
      json = text === undefined ? undefined : `"${text}"`;
      break;
    }
    case 'N': {
      const text = plainString();
      json = text === undefined ? undefined : numberJson(text);
      break;
    }
    case 'BOOL':
      json = take('true') ? 'true' : take('false') ? 'false' : undefined;
      break;
    case 'NULL':
      json = take('true') ? 'null' : undefined;
      break;
    case 'M':
      json = mapJson();
      break;
    case 'L':
      json = listJson();
      break;
    case 'B': {
      const text = plainString();
      const base64 = text === undefined ? undefined : base64OfBinary(text);
      json = base64 === undefined ? undefined : `"${base64}"`;
      break;
    }
    case 'SS':
    case 'NS':
    case 'BS':
      json = setJson(tag);
      break;
    default:
      return undefined;
  }
  return json !== undefined && take('}') ? json : undefined;
}

/** N's text as legacy_extra writes a number: canonical, or (no number at all) as a string. */
function numberJson(text: string): string {
  return canonicalDecimal(text.trim()) ?? `"${text}"`;
}

/** A map's members, names sorted as legacyExtraText sorts them. */
function mapJson(): string | undefined {
  if (!take('{')) return undefined;
  const members: [string, string][] = [];
  if (!take('}')) {
    do {
      const name = plainString();
      if (name === undefined || !take(':')) return undefined;
      const value = typedValue();
      if (value === undefined) return undefined;
      members.push([name, value]);
    } while (take(','));
    if (!take('}')) return undefined;
  }
  sortedByName(members);
  let json = '{';
  for (let member = 0; member < members.length; member++) {
    // JSON.parse would keep the last of two members of one name: the general way reads that.
    if (member > 0 && members[member]![0] === members[member - 1]![0]) return undefined;
    json += `${member === 0 ? '' : ','}"${members[member]![0]}":${members[member]![1]}`;
  }
  return `${json}}`;
}

function listJson(): string | undefined {
  if (!take('[')) return undefined;
  if (take(']')) return '[]';
  let json = '[';
  do {
    const value = typedValue();
    if (value === undefined) return undefined;
    json += json.length === 1 ? value : `,${value}`;
  } while (take(','));
  return take(']') ? `${json}]` : undefined;
}

/** A set's members as legacy_extra writes them: each as its JSON, sorted (a set has no order). */
function setJson(tag: 'SS' | 'NS' | 'BS'): string | undefined {
  if (!take('[')) return undefined;
  const members: string[] = [];
  if (!take(']')) {
    do {
      const text = plainString();
      if (text === undefined) return undefined;
      if (tag === 'SS') members.push(`"${text}"`);
      else if (tag === 'NS') members.push(numberJson(text));
      else {
        const base64 = base64OfBinary(text);
        if (base64 === undefined) return undefined;
        members.push(`"${base64}"`);
      }
    } while (take(','));
    if (!take(']')) return undefined;
  }
  return `[${members.sort().join(',')}]`;
}

/**
 * The JSON string at `at` when JSON.stringify would give back exactly its text, quoted: no
 * backslash (so no escape), no surrogate (a lone one is escaped), no control character (JSON
 * refuses it raw; JSON.parse says so).
 */
function plainString(): string | undefined {
  if (source.charCodeAt(at) !== QUOTE) return undefined;
  const end = source.indexOf('"', at + 1);
  if (end < 0) return undefined;
  for (let position = at + 1; position < end; position++) {
    const code = source.charCodeAt(position);
    if (code === BACKSLASH || code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) return undefined;
  }
  const text = source.slice(at + 1, end);
  at = end + 1;
  return text;
}

function take(literal: string): boolean {
  if (!source.startsWith(literal, at)) return false;
  at += literal.length;
  return true;
}
