import { describe, expect, test } from 'vitest';
import { LegacyNumber } from '../../src/model/legacy-value.js';
import { fromAttributeMap, fromAttributeValue } from '../../src/extract/dynamodb-json.js';

describe('DynamoDB typed JSON → legacy values', () => {
  test('each tag gives its value; numbers stay text', () => {
    expect(fromAttributeValue({ S: 'x' })).toBe('x');
    expect(fromAttributeValue({ N: '1.50' })).toEqual(new LegacyNumber('1.50'));
    expect(fromAttributeValue({ BOOL: false })).toBe(false);
    expect(fromAttributeValue({ NULL: true })).toBeNull();
    expect(fromAttributeValue({ L: [{ S: 'a' }, { NULL: true }] })).toEqual(['a', null]);
  });

  test('with two tags, the first of S, N, BOOL, NULL, M, L wins, as it always did', () => {
    expect(fromAttributeValue({ N: '1', S: 'x' })).toBe('x');
    expect(fromAttributeValue({ NULL: true, N: '1' })).toEqual(new LegacyNumber('1'));
    expect(fromAttributeValue({ NULL: true, BOOL: true })).toBe(true);
    expect(fromAttributeValue({ L: [], NULL: true })).toBeNull();
    expect(fromAttributeValue({ S: undefined, N: '2' })).toEqual(new LegacyNumber('2'));
  });

  test('a payload of the wrong JSON type is refused, never coerced', () => {
    expect(() => fromAttributeValue({ S: 5 })).toThrow(/S attribute holds the number 5/);
    expect(() => fromAttributeValue({ N: 5 })).toThrow(/N attribute holds the number 5/);
    expect(() => fromAttributeValue({ BOOL: 'false' })).toThrow(/BOOL attribute holds the string false/);
    expect(() => fromAttributeValue({ NULL: false })).toThrow(/NULL attribute holds the boolean false/);
    expect(() => fromAttributeValue({ S: null, N: '1' })).toThrow(/S attribute holds null/);
    expect(() => fromAttributeValue({})).toThrow(/not a DynamoDB attribute value/);
  });

  test('an attribute named __proto__ is kept as an attribute', () => {
    const item = fromAttributeMap(JSON.parse('{"__proto__":{"S":"x"},"Id":{"S":"y"}}') as Record<string, Record<string, unknown>>);
    expect(Object.keys(item)).toEqual(['__proto__', 'Id']);
    expect(Object.getOwnPropertyDescriptor(item, '__proto__')?.value).toBe('x');
  });
});
