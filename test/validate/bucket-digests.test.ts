import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/db/sql-client.js';
import { BucketDigests, digestText, rowHashOf, type BucketFigures, type RowHash } from '../../src/validate/row-digest.js';
import { hashTextExtended } from '../../src/validate/text-hash.js';

/**
 * The figures as row-digest.ts defines them, the plain way: per row a bigint, the low 60 bits of
 * hashtextextended (row-digest.db.test.ts holds hashTextExtended to the server's) or the first 15
 * hex digits of MD5.
 */
function referenceFigures(rows: readonly { id: string; values: (string | null)[] }[], kind: RowHash): Map<string, BucketFigures> {
  const figures = new Map<string, BucketFigures>();
  const halves = new Uint32Array(2);
  const rowHash = (text: string): bigint => {
    if (kind === 'md5') return BigInt(`0x${createHash('md5').update(text, 'utf8').digest('hex').slice(0, 15)}`);
    hashTextExtended(text, halves);
    return BigInt.asUintN(60, (BigInt(halves[0]!) << 32n) | BigInt(halves[1]!));
  };
  for (const { id, values } of rows) {
    const bucket = id.slice(0, 3).toLowerCase();
    const hash = rowHash(digestText(values));
    const figure = figures.get(bucket) ?? { count: 0, sum: 0n };
    figures.set(bucket, { count: figure.count + 1, sum: figure.sum + hash });
  }
  return figures;
}

function sorted(figures: ReadonlyMap<string, BucketFigures>): [string, number, string][] {
  return [...figures].sort(([a], [b]) => (a < b ? -1 : 1)).map(([bucket, { count, sum }]) => [bucket, count, sum.toString()]);
}

const id = fc.oneof(
  { weight: 8, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: fc.uuid().map((uuid) => uuid.toUpperCase()) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a', 'ab', 'ABC', 'abc', 'x12', '{abc}', '\u0013\u0013\u0013', 'G12', '😀😀', 'Fff-1') },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const value = fc.option(fc.string({ unit: fc.constantFrom('a', '1', ':', '~', 'é', '😀', '\uD800', '\uDC00'), maxLength: 8 }));

describe.each(['hashtext', 'md5'] as const)('bucket figures of expected rows (%s)', (kind) => {
  it('are each bucket’s row count and sum of 60-bit row hashes, whatever the ids', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ id, values: fc.array(value, { minLength: 1, maxLength: 4 }) }), { maxLength: 300 }), (rows) => {
        const digests = new BucketDigests(kind);
        for (const row of rows) digests.add(row.id, row.values);
        expect(digests.rows).toBe(rows.length);
        expect(sorted(digests.buckets)).toEqual(sorted(referenceFigures(rows, kind)));
      }),
    );
  });

  it('stay exact in a bucket of more rows than a number sum holds exactly', () => {
    const digests = new BucketDigests(kind);
    const rows: { id: string; values: string[] }[] = [];
    for (let n = 0; n < (1 << 20) + 3; n++) rows.push({ id: n % 2 === 0 ? 'abc' : 'ABC', values: [`row ${n}`] });
    for (const row of rows) digests.add(row.id, row.values);
    expect(sorted(digests.buckets)).toEqual(sorted(referenceFigures(rows, kind)));
  });
});

describe('the row hash a validation takes', () => {
  // Fault injection: servers this machine does not have (row-digest.db.test.ts asks a real one).
  const answering = (answer: (texts: string[]) => { h: string }[] | Error): SqlClient =>
    ({
      transaction: async (work: (session: unknown) => Promise<unknown>) =>
        work({
          query: async (_text: string, [texts]: [string[]]) => {
            const rows = answer(texts);
            if (rows instanceof Error) throw rows;
            return { rows };
          },
        }),
    }) as unknown as SqlClient;

  it('is MD5 on a server whose hashtextextended gives other hashes (a big-endian one), or that has none', async () => {
    expect(await rowHashOf(answering((texts) => texts.map(() => ({ h: '42' }))))).toBe('md5');
    const missing = Object.assign(new Error('function hashtextextended(text, integer) does not exist'), { code: '42883', severity: 'ERROR' });
    expect(await rowHashOf(answering(() => missing))).toBe('md5');
    // Any other refusal is the validation's failure, not a reason to hash otherwise.
    const cut = Object.assign(new Error('terminating connection'), { code: '57P01', severity: 'FATAL' });
    await expect(rowHashOf(answering(() => cut))).rejects.toThrow('terminating connection');
  });
});
