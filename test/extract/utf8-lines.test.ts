// linesOf splits bytes as readline splits text, however the bytes are cut into chunks: readline
// (crlfDelay: Infinity, so a \r\n cut between chunks is one line end) is the reference.
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidUtf8Error, linesOf, utf8LineCheck } from '../../src/extract/utf8-lines.js';

async function readlineLines(bytes: Buffer): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: Readable.from([bytes]), crlfDelay: Infinity })) lines.push(line);
  return lines;
}

async function splitLines(chunks: Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const page of linesOf(Readable.from(chunks))) lines.push(...page);
  return lines;
}

/** `bytes` cut at the given fractions (sorted, repeated cuts give empty chunks). */
function cut(bytes: Buffer, fractions: number[]): Buffer[] {
  const at = fractions.map((f) => Math.floor(f * bytes.length)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const end of at) {
    chunks.push(bytes.subarray(start, end));
    start = end;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

// Characters of one to four UTF-8 bytes, and the line ends in every combination.
const piece = fc.constantFrom('a', 'Z', '{', '"', ' ', 'é', 'ß', '€', '中', '😀', '\n', '\r', '\r\n', '\n\r', '\t');
const text = fc.array(piece, { maxLength: 60 }).map((pieces) => pieces.join(''));
const fractions = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });

describe('linesOf', () => {
  it('gives the lines readline gives, for any text cut anywhere (inside a character, between \\r and \\n)', async () => {
    await fc.assert(
      fc.asyncProperty(text, fractions, async (value, at) => {
        const bytes = Buffer.from(value, 'utf8');
        expect(await splitLines(cut(bytes, at))).toEqual(await readlineLines(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('decodes each line alone: ASCII lines beside a line past Latin-1 in one chunk, and a last line without an end', async () => {
    const lines = await splitLines([Buffer.from('{"a":1}\n€uro\nlast')]);
    expect(lines).toEqual(['{"a":1}', '€uro', 'last']);
  });
});

describe('utf8LineCheck', () => {
  it('hands over every line before the first that is not UTF-8, then fails naming it, whatever the chunk size', async () => {
    const good = Array.from({ length: 40 }, (_, i) => `line ${i} €`).join('\n');
    const bytes = Buffer.concat([Buffer.from(`${good}\n`), Buffer.from([0x61, 0xc3, 0x28, 0x0a]), Buffer.from('after\n')]);
    for (const size of [7, 64, 1 << 20]) {
      const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
      const lines: string[] = [];
      let failure: unknown;
      try {
        for await (const page of linesOf(Readable.from(chunks).pipe(utf8LineCheck()))) lines.push(...page);
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(InvalidUtf8Error);
      expect((failure as InvalidUtf8Error).line).toBe(41);
      expect(lines).toEqual(good.split('\n'));
    }
  });
});
