import { expect, test } from 'vitest';
import { itemFromWire, itemToWire } from '../../src/pipeline/item-wire.js';
import { LegacyNumber, LegacySet, setAttribute, type LegacyItem } from '../../src/model/legacy-value.js';

test('an item crosses as text and comes back equal, value kind for value kind', () => {
  const item: LegacyItem = {
    Id: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    Value: new LegacyNumber('12345678901234567890.123456789012345678'),
    Odd: new LegacyNumber('+.5e-3'),
    Flag: false,
    Nothing: null,
    Text: 'tab\there, NUL \u0000, lone \ud800, emoji 📈, quote " and backslash \\',
    Bytes: new Uint8Array([0, 1, 254, 255]),
    Strings: new LegacySet('SS', ['b', 'a']),
    Numbers: new LegacySet('NS', [new LegacyNumber('1.0'), new LegacyNumber('2')]),
    Blobs: new LegacySet('BS', [new Uint8Array([1]), new Uint8Array([])]),
    List: [new LegacyNumber('3'), 'x', [true, null], { Nested: new LegacyNumber('4') }],
    Map: { Inner: { Deeper: 'y' }, Empty: {} },
  };
  setAttribute(item, '__proto__', 'kept as an attribute');
  const back = itemFromWire(itemToWire(item));
  expect(back).toEqual(item);
  expect(Object.keys(back)).toEqual(Object.keys(item));
  expect(back.Value).toBeInstanceOf(LegacyNumber);
  expect(back.Strings).toBeInstanceOf(LegacySet);
  expect(back.Bytes).toBeInstanceOf(Uint8Array);
  expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
});
