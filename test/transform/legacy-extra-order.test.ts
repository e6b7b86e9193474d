import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sortedByName } from '../../src/transform/legacy-extra.js';

describe("legacy_extra's member order", () => {
  it('is the order of a stable sort by name in UTF-16 code units, whatever the names', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 6 }), fc.nat())), (members) => {
        const expected = [...members].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        expect(sortedByName([...members])).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
