import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitItems } from '../../src/extract/plain-scan.js';

/** What JSON.parse makes of the answer: its items, and the answer with `Items: []`. */
function parsedWhole(text: string): { items: unknown[]; rest: unknown } {
  const answer = JSON.parse(text) as { Items: unknown[] };
  return { items: answer.Items, rest: { ...answer, Items: [] } };
}

/** The answer as its bytes (UTF-8), as the splitter sees it; each item decoded alone. */
function split(text: string): { items: unknown[]; rest: unknown } | undefined {
  const bytes = Buffer.from(text);
  const found = splitItems(bytes);
  if (found === undefined) return undefined;
  const items = [];
  for (let at = 0; at < found.bounds.length; at += 2) items.push(JSON.parse(bytes.toString('utf8', found.bounds[at], found.bounds[at + 1])));
  return { items, rest: JSON.parse(found.rest.toString('utf8')) };
}

/** DynamoDB JSON values, with the strings that could mislead a scanner: quotes, backslashes, brackets. */
const awkwardText = fc.oneof(fc.string(), fc.constantFrom('', '"', '\\', '\\"', '\\\\', '{', '}', '[', ']', '"Items":[', '},{', 'a\\\\"b', '\u2028', '😀'));
const attributeValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ S: awkwardText }),
    fc.record({ N: fc.integer().map(String) }),
    fc.record({ BOOL: fc.boolean() }),
    fc.constant({ NULL: true }),
    fc.record({ SS: fc.array(awkwardText, { maxLength: 3 }) }),
    fc.record({ L: fc.array(tie('value'), { maxLength: 3 }) }),
    fc.record({ M: fc.dictionary(awkwardText, tie('value'), { maxKeys: 3 }) }),
  ),
})).value;
const item = fc.dictionary(awkwardText, attributeValue, { maxKeys: 5 });
const answer = fc.record({
  Items: fc.array(item, { maxLength: 6 }),
  Count: fc.nat(),
  ScannedCount: fc.nat(),
  LastEvaluatedKey: fc.option(fc.record({ Id: fc.record({ S: awkwardText }) }), { nil: undefined }),
  ConsumedCapacity: fc.option(fc.record({ TableName: awkwardText, CapacityUnits: fc.double({ noNaN: true, noDefaultInfinity: true }) }), { nil: undefined }),
});

describe('splitItems: a Scan answer cut into its items without decoding or parsing it', () => {
  it('finds exactly the items JSON.parse finds, and leaves the rest of the answer as it was, in any key order and spacing', () => {
    fc.assert(
      fc.property(answer, fc.boolean(), fc.boolean(), (value, reversed, spaced) => {
        const ordered = reversed ? Object.fromEntries(Object.entries(value).reverse()) : value;
        const text = JSON.stringify(ordered, null, spaced ? 2 : undefined);
        expect(split(text)).toEqual(parsedWhole(text));
      }),
      { numRuns: 500 },
    );
  });

  it('gives the items as their own text, escapes and all', () => {
    const text = '{"Count":2,"Items":[{"Id":{"S":"a\\"]},{"},"L":{"L":[{"S":"\\\\"},{"M":{"Items":{"L":[]}}}]}}, {"Id":{"S":"b"}}],"ScannedCount":2}';
    const bytes = Buffer.from(text);
    const found = splitItems(bytes)!;
    const itemText = (at: number): string => bytes.toString('utf8', found.bounds[at], found.bounds[at + 1]);
    expect(found.bounds).toHaveLength(4);
    expect(itemText(0)).toBe('{"Id":{"S":"a\\"]},{"},"L":{"L":[{"S":"\\\\"},{"M":{"Items":{"L":[]}}}]}}');
    expect(JSON.parse(itemText(0))).toEqual({ Id: { S: 'a"]},{' }, L: { L: [{ S: '\\' }, { M: { Items: { L: [] } } }] } });
    expect(itemText(2)).toBe('{"Id":{"S":"b"}}');
    expect(JSON.parse(found.rest.toString('utf8'))).toEqual({ Count: 2, Items: [], ScannedCount: 2 });
  });

  it('declines what is not an answer with an array of objects as Items (the caller then parses it whole)', () => {
    for (const text of ['{"Items":[1,2]}', '{"Items":["a"]}', '{"Items":[[]]}', '{"Count":0}', '[{"Items":[]}]', '{"Items":[{"S":"unterminated}]}', '{"Items":[{}]', '{"Items":[],"Items":[]}']) {
      expect(splitItems(Buffer.from(text)), text).toBeUndefined();
    }
    const empty = splitItems(Buffer.from('{"Items":[]}'))!;
    expect(empty.bounds).toEqual([]);
    expect(empty.rest.toString('utf8')).toBe('{"Items":[]}');
  });
});
