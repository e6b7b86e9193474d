import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseWithLosslessJson } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { parseLegacyJson } from '../../src/extract/lossless-json.js';
import { LegacyNumber, toJsonText, type LegacyValue } from '../../src/model/legacy-value.js';
import { SMALL_FIXTURES } from '../support/fixtures.js';

/** A parsed value with each LegacyNumber as the JS number JSON.parse would give (for comparison only). */
function asPlainJson(value: LegacyValue): unknown {
  if (value instanceof LegacyNumber) return Number(value.text);
  if (Array.isArray(value)) return value.map(asPlainJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asPlainJson(v as LegacyValue)]));
  }
  return value;
}

function outcome(parse: (text: string) => unknown, text: string): 'accepted' | 'refused' {
  try {
    parse(text);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(SyntaxError);
    return 'refused';
  }
}

describe('the kv_store JSON parser (numbers digit for digit, every member kept)', () => {
  it('reads any JSON document as JSON.parse does, numbers aside', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 1, '\t'), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(asPlainJson(parseLegacyJson(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps every number exactly as written, beyond what a double holds', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^-?(0|[1-9]\d{0,60})(\.\d{1,60})?([eE][+-]?\d{1,5})?$/), (number) => {
        const parsed = parseLegacyJson(`{"v": [${number}, {"w": ${number}}]}`) as { v: [LegacyNumber, { w: LegacyNumber }] };
        expect(parsed.v[0]).toEqual(new LegacyNumber(number));
        expect(parsed.v[1].w.text).toBe(number);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts and refuses exactly the texts JSON.parse accepts and refuses', () => {
    const almostJson = fc.jsonValue().chain((value) => {
      const text = JSON.stringify(value);
      return fc.tuple(fc.nat(text.length), fc.nat(3), fc.constantFrom('', '"', ',', ']', '}', '{', '[', ':', '\\', '-', '.', 'e', '0', ' ', '\u0001', 'tru', 'nul'))
        .map(([at, cut, insert]) => text.slice(0, at) + insert + text.slice(Math.min(text.length, at + cut)));
    });
    fc.assert(
      fc.property(fc.oneof(fc.string(), almostJson), (text) => {
        expect(outcome(parseLegacyJson, text)).toBe(outcome(JSON.parse, text));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a member named __proto__ as data, without touching any prototype', () => {
    const parsed = parseLegacyJson('{"__proto__": {"polluted": true}, "constructor": 1, "a": {"__proto__": []}}') as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__proto__', 'constructor', 'a']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(toJsonText(parsed as LegacyValue)).toBe('{"__proto__":{"polluted":true},"constructor":1,"a":{"__proto__":[]}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads nesting 100,000 deep (no recursion to overflow)', () => {
    const depth = 100_000;
    let value = parseLegacyJson(`${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`);
    for (let i = 0; i < depth; i++) value = ((value as Record<string, LegacyValue>).a as LegacyValue[])[0]!;
    expect(value).toEqual(new LegacyNumber('1'));
  });

  it('names where malformed text goes wrong', () => {
    expect(() => parseLegacyJson('{"a": 01}')).toThrow(/at position 7/);
    expect(() => parseLegacyJson('{"a": "b\u0001"}')).toThrow(/control character in a string at position 8/);
    expect(() => parseLegacyJson('[1, 2')).toThrow(/expected ',' or '\]' at position 5/);
  });

  it('gives what lossless-json gives on the committed kv_store fixture', () => {
    const lines = readFileSync(path.join(SMALL_FIXTURES, 'kv', 'kv_store.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(100);
    for (const line of lines) {
      // The value's own text, as jsonb would hand it over (spacing aside).
      const valueText = line.slice(line.indexOf('"value":') + '"value":'.length, -1);
      expect(parseLegacyJson(valueText)).toEqual(parseWithLosslessJson(valueText, null, (digits) => new LegacyNumber(digits)));
    }
  });
});
