import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCanonicalUuid, isCanonicalUuidList } from '../../src/model/uuid-text.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LIST = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:,[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})*$/;
// One character replaced, inserted or removed anywhere, by one near the edges of what is accepted.
const edit = fc.tuple(fc.nat(), fc.constantFrom('replace', 'insert', 'remove'), fc.constantFrom('0', '9', 'a', 'f', 'g', 'A', 'F', '-', ',', ' ', '/', ':', '`', '{'));

function edited(text: string, change: [number, string, string] | undefined): string {
  if (change === undefined || text.length === 0) return text;
  const [position, kind, character] = change;
  const at = position % text.length;
  return kind === 'replace' ? text.slice(0, at) + character + text.slice(at + 1) : kind === 'insert' ? text.slice(0, at) + character + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
}

describe('canonical uuid text', () => {
  it('isCanonicalUuid says what the regular expression says, for uuids and for uuids one character off', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.option(edit, { nil: undefined }), (uuid, change) => {
        const text = edited(uuid, change);
        expect(isCanonicalUuid(text)).toBe(UUID.test(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('isCanonicalUuidList says what the regular expression says, for lists and for lists one character off', () => {
    const lists = fc.array(fc.uuid(), { minLength: 0, maxLength: 6 }).map((ids) => ids.join(','));
    fc.assert(
      fc.property(lists, fc.option(edit, { nil: undefined }), (list, change) => {
        const text = edited(list, change);
        expect(isCanonicalUuidList(text)).toBe(LIST.test(text));
      }),
      { numRuns: 3000 },
    );
  });
});
