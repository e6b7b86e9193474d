import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCopyRows } from '../../src/load/copy-text.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const TRICKY: (string | null)[] = [
  '',
  null,
  '\\N',
  'plain',
  'tab\there',
  'new\nline',
  'carriage\rreturn\r\n',
  'back\\slash\\\\double',
  '\\.',
  'ends with backslash\\',
  '\\t is not a tab',
  ' leading and trailing spaces ',
  'é 漢字 🎉 \u200d combining é',
  '\u0001\u0007\u001b control characters',
  '"quotes" \'and\' ,commas;',
];

async function roundTrip(db: TestDatabase, values: readonly (string | null)[]): Promise<(string | null)[]> {
  return db.sql.transaction(async (tx) => {
    await tx.query('create temp table copy_probe (n int, value text) on commit drop');
    const copied = await tx.copyFrom('copy_probe', ['n', 'value'], encodeCopyRows(values.map((value, n) => ({ n, value })), ['n', 'value']));
    expect(copied).toBe(values.length);
    const { rows } = await tx.query<{ value: string | null }>('select value from copy_probe order by n');
    return rows.map((row) => row.value);
  });
}

describe('COPY text encoder against the database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('round-trips tricky strings exactly, and keeps the empty string apart from NULL', async () => {
    expect(await roundTrip(db, TRICKY)).toEqual(TRICKY);
  });

  it('round-trips arbitrary Unicode text (property)', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\u0000'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(text, { nil: null }), { minLength: 1, maxLength: 30 }), async (values) => {
        expect(await roundTrip(db, values)).toEqual(values);
      }),
      { numRuns: 40 },
    );
  });

  it('writes booleans, integers and NULLs into typed columns', async () => {
    const rows = await db.sql.transaction(async (tx) => {
      await tx.query('create temp table typed_probe (b boolean, i integer, s smallint, j jsonb, x numeric) on commit drop');
      await tx.copyFrom(
        'typed_probe',
        ['b', 'i', 's', 'j', 'x'],
        encodeCopyRows(
          [
            { b: true, i: 7, s: null, j: '{"a": "tab\\tinside", "n": 12345678901234567890.123456789}', x: '0.10' },
            { b: false, i: null, s: 5, j: null, x: '12345678901234567890123456789012345678' },
          ],
          ['b', 'i', 's', 'j', 'x'],
        ),
      );
      return (await tx.query('select b, i, s, j::text as j, x::text as x from typed_probe order by b desc')).rows;
    });
    expect(rows).toEqual([
      { b: true, i: 7, s: null, j: '{"a": "tab\\tinside", "n": 12345678901234567890.123456789}', x: '0.10' },
      { b: false, i: null, s: 5, j: null, x: '12345678901234567890123456789012345678' },
    ]);
  });
});
