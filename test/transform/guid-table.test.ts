import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compareGuidWords, guidToWords, ScopedGuidTable, wordsToGuid } from '../../src/transform/guid-table.js';

const guid = fc.uuid().map((text) => text.toLowerCase());

describe('GUIDs as four words', () => {
  test('a canonical GUID round-trips through its words', () => {
    fc.assert(
      fc.property(guid, (text) => {
        const words = new Uint32Array(6);
        expect(guidToWords(text, words, 2)).toBe(true);
        expect(wordsToGuid(words, 2)).toBe(text);
      }),
    );
  });

  test('words order as the canonical texts do', () => {
    fc.assert(
      fc.property(guid, guid, (a, b) => {
        const words = new Uint32Array(8);
        guidToWords(a, words, 0);
        guidToWords(b, words, 4);
        expect(Math.sign(compareGuidWords(words, 0, words, 4))).toBe(a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });

  test('anything but the canonical form is refused, and nothing is written', () => {
    const words = new Uint32Array([7, 7, 7, 7]);
    for (const text of ['', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'a0eebc999c0b4ef8bb6d6bb9bd380a11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g', 'a0eebc99_9c0b-4ef8-bb6d-6bb9bd380a11']) {
      expect(guidToWords(text, words, 0)).toBe(false);
    }
    expect([...words]).toEqual([7, 7, 7, 7]);
  });
});

describe('ScopedGuidTable', () => {
  test('numbers (scope, GUID) pairs densely, finds them again, and keeps scopes apart', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('t1', 't2', 't3'), guid), { maxLength: 300 }), (pairs) => {
        const table = new ScopedGuidTable();
        const expected = new Map<string, number>();
        for (const [scope, id] of pairs) {
          const key = `${scope}|${id}`;
          const { entry, created } = table.insert(scope, id);
          expect(created).toBe(!expected.has(key));
          if (created) expected.set(key, expected.size);
          expect(entry).toBe(expected.get(key));
        }
        expect(table.size).toBe(expected.size);
        for (const [key, entry] of expected) {
          const [scope, id] = key.split('|') as [string, string];
          expect(table.find(scope, id)).toBe(entry);
        }
        expect(table.find('t4', pairs[0]?.[1] ?? '00000000-0000-0000-0000-000000000000')).toBe(-1);
      }),
    );
  });

  test('grows past its first capacity without losing an entry', () => {
    const table = new ScopedGuidTable();
    const ids = Array.from({ length: 20_000 }, (_, i) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-${(i * 7919).toString(16).padStart(12, '0')}`);
    ids.forEach((id, i) => expect(table.insert(`tenant-${i % 5}`, id).entry).toBe(i));
    ids.forEach((id, i) => expect(table.find(`tenant-${i % 5}`, id)).toBe(i));
    expect(table.find('tenant-1', ids[0]!)).toBe(-1);
  });

  test('keys that are no canonical GUID still work, as text', () => {
    const table = new ScopedGuidTable();
    expect(table.insert('t', 'not-a-guid')).toEqual({ entry: 0, created: true });
    expect(table.insert('t', 'NOT-A-GUID')).toEqual({ entry: 1, created: true });
    expect(table.insert('t', 'not-a-guid')).toEqual({ entry: 0, created: false });
    expect(table.find('t', 'NOT-A-GUID')).toBe(1);
    expect(table.find('u', 'not-a-guid')).toBe(-1);
  });
});
