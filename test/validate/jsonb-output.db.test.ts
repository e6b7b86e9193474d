import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonbOutputText } from '../../src/validate/jsonb-output.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

// JSON text as legacy_extra may hold it, and then some: numbers in every spelling JSON allows,
// strings with controls, quotes, backslashes and astral characters, keys of every length, repeats.
const numberText = fc.oneof(
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.tuple(fc.integer({ min: -999999, max: 999999 }), fc.stringMatching(/^[0-9]{1,12}$/)).map(([i, f]) => `${i}.${f}`),
  fc.tuple(fc.stringMatching(/^-?(0|[1-9][0-9]{0,5})(\.[0-9]{1,6})?$/), fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 30 })).map(
    ([mantissa, e, sign, exponent]) => `${mantissa}${e}${sign}${exponent}`,
  ),
  fc.constantFrom('0', '-0', '0.0', '-0.000', '1.50', '100', '1e2', '1.0E+1', '0.00001'),
);
const text = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0001', '\u001f', '\u007f', 'é', '€', '😀', 'a', 'Z', ' '), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => !c.includes('\u0000'))), maxLength: 12 });
// jsonb refuses U+0000: such text never reaches a target row (the record is a db_error reject).
const key = fc.oneof(text, fc.constantFrom('a', 'b', 'aa', 'B', 'Id', 'é', '😀', '__proto__', ''));

const { json } = fc.letrec<{ json: string }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberText,
    text.map((s) => JSON.stringify(s)),
    fc.constantFrom('true', 'false', 'null'),
    fc.array(tie('json'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc.array(fc.tuple(key, tie('json')), { maxLength: 5 }).map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(' , ')}}`),
  ),
}));

describe('jsonb output, computed without the database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('is what PostgreSQL prints for the same JSON as jsonb', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(json, { minLength: 1, maxLength: 40 }), async (documents) => {
        const { rows } = await db.sql.query<{ printed: string }>('select d::jsonb::text as printed from unnest($1::text[]) with ordinality as u(d, n) order by n', [
          `{${documents.map((d) => `"${d.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`,
        ]);
        expect(documents.map(jsonbOutputText)).toEqual(rows.map((row) => row.printed));
      }),
      { numRuns: 60 },
    );
  });

  it('is undefined for text that is not JSON', () => {
    for (const bad of ['', '{', '{"a":}', '[1,]', 'tru', '01', '1.', '"\\x"', '{} x']) expect(jsonbOutputText(bad), bad).toBeUndefined();
  });
});
