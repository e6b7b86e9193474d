import { describe, expect, it } from 'vitest';
import { batchFromWire, batchToWire } from '../../src/pipeline/worker-wire.js';
import type { MappedBatch } from '../../src/pipeline/record-reader.js';
import type { PreparedRecord } from '../../src/load/prepare-record.js';
import { contestedRecords, copyDataOf, duplicatePieces, encodeRecords } from '../../src/load/encoded-records.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';

const GUID = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

function record(sourceId: string, rowIds: string[], copyText: string): PreparedRecord {
  const item: LegacyItem = { Id: sourceId, Text: copyText };
  return { sourceId, rowIds, copyText, item: async () => item };
}

function mapped(records: PreparedRecord[]): MappedBatch {
  return {
    read: records.length,
    skipped: 0,
    personFallbacks: 0,
    prepared: { runId: '7', records, encodingRejects: [] },
    mappingRejects: [],
    checkpoints: [{ partition: 'p', position: { Id: { S: 'x' } }, done: false }],
  };
}

const utf8 = (pieces: readonly Uint8Array[] | string): string =>
  typeof pieces === 'string' ? pieces : Buffer.concat(pieces.map((piece) => Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength))).toString('utf8');

/** As transform-worker.ts sends it: the buffers transferred, not copied. */
async function across(records: PreparedRecord[]): Promise<{ batch: MappedBatch; asked: number[]; detached: boolean }> {
  const { wire, transfer } = await batchToWire(mapped(records), 1);
  const sentBytes = wire.copyBytes;
  const received = structuredClone(wire, { transfer });
  const asked: number[] = [];
  const batch = batchFromWire(received, async (index) => {
    asked.push(index);
    return records[index]!.item();
  });
  return { batch, asked, detached: sentBytes.byteLength === 0 };
}

const RECORDS = [
  record(GUID(1), [GUID(1)], `${GUID(1)}\tplain\t7\t7\n`),
  record('{ODD, "braced" \\ id}', [GUID(2), GUID(3)], `${GUID(2)}\tcafé\t7\t7\n${GUID(3)}\tcafé\t7\t7\n`),
  record(GUID(4), [GUID(4)], `${GUID(4)}\tbad\u0000text\t7\t7\n`),
  record(GUID(5), [GUID(5)], `${GUID(5)}\temoji 📈 and 漢字\t7\t7\n`),
  record('', [], ''),
  record('not a guid', ['not-a-uuid'], 'not-a-uuid\tx\t7\t7\n'),
];

describe('a batch across the thread boundary', () => {
  it('arrives record for record as it was sent, its COPY text as UTF-8 bytes in one transferred buffer', async () => {
    const { batch, asked, detached } = await across(RECORDS);
    expect(detached).toBe(true);
    const encoded = batch.prepared.encoded!;
    // The text PostgreSQL refuses is not among the bytes: it is sent alone, from suspectTexts.
    expect(Buffer.from(encoded.copyBytes).toString('utf8')).toBe(RECORDS.filter((_, at) => at !== 2).map((r) => r.copyText).join(''));
    expect(encoded.suspectTexts).toEqual({ 2: RECORDS[2]!.copyText });
    const back = await Promise.all(
      batch.prepared.records.map(async (r) => ({ sourceId: r.sourceId, rowIds: r.rowIds, copyText: r.copyText, item: await r.item() })),
    );
    const sent = await Promise.all(RECORDS.map(async (r) => ({ sourceId: r.sourceId, rowIds: r.rowIds, copyText: r.copyText, item: await r.item() })));
    expect(back).toEqual(sent);
    // The suspect's item came along (its reject needs it); the others were asked for.
    expect(asked.sort()).toEqual([0, 1, 3, 4, 5]);
    expect(batch.checkpoints).toEqual(mapped(RECORDS).checkpoints);
  });

  it('gives any subset of records as views of the buffer, adjacent records as one piece', async () => {
    const { batch } = await across(RECORDS);
    const encoded = batch.prepared.encoded!;
    const text = (indexes: number[]) => indexes.map((index) => RECORDS[index]!.copyText).join('');
    for (const indexes of [[0, 1], [0, 1, 3, 4, 5], [1, 3], [5], [0, 5], [3, 4]]) {
      const data = copyDataOf(encoded, indexes);
      expect(utf8(data)).toBe(text(indexes));
    }
    // 0, 1 and (past the suspect, which takes no bytes) 3 are adjacent in the buffer: one view.
    expect(copyDataOf(encoded, [0, 1, 3])).toHaveLength(1);
    expect(copyDataOf(encoded, [0, 3])).toHaveLength(2);
    expect(copyDataOf(encoded, [2])).toBe(RECORDS[2]!.copyText);
    expect(() => copyDataOf(encoded, [1, 2])).toThrow(/U\+0000/);
  });

  it('grows its buffer for text wider than a byte a character', () => {
    const wide = Array.from({ length: 50 }, (_, n) => record(GUID(n), [GUID(n)], `${GUID(n)}\t${'漢'.repeat(40 * n)}\n`));
    const encoded = encodeRecords(wide);
    expect(Buffer.from(encoded.copyBytes).toString('utf8')).toBe(wide.map((r) => r.copyText).join(''));
    expect(utf8(copyDataOf(encoded, [49]))).toBe(wide[49]!.copyText);
  });
});

describe('contested records, found over the batch strings', () => {
  /** What claimRows decided before, one Map per record and per row. */
  function naive(records: PreparedRecord[], held: Set<string>): number[] {
    const contested = new Set<number>();
    const claimedBy = new Map<string, number>();
    const readAt = new Map<string, number>();
    records.forEach(({ sourceId, rowIds }, index) => {
      const twin = readAt.get(sourceId);
      if (twin === undefined) readAt.set(sourceId, index);
      else contested.add(twin).add(index);
      for (const rowId of rowIds) {
        if (held.has(rowId)) contested.add(index);
        const claimant = claimedBy.get(rowId);
        if (claimant === undefined) claimedBy.set(rowId, index);
        else if (claimant !== index) contested.add(claimant).add(index);
      }
    });
    return [...contested].sort((a, b) => a - b);
  }

  it('agrees with a map per id on random batches with twins, shared rows and held rows', () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const size = 1 + random(60);
      const records = Array.from({ length: size }, () => {
        const rows = random(4);
        return record(random(5) === 0 ? `src-${random(8)}` : GUID(1000 + random(100000)), Array.from({ length: rows }, () => GUID(random(3 * size + 5))), '');
      });
      const held = new Set(Array.from({ length: random(3) }, () => GUID(random(3 * size + 5))));
      const got = [...contestedRecords(encodeRecords(records), held)].sort((a, b) => a - b);
      expect(got).toEqual(naive(records, held));
    }
  });

  it('pairs each piece with the earliest equal one', () => {
    const text = ['a', 'bb', 'a', '', 'bb', '', 'a'].join(',');
    let end = -1;
    const ends = Uint32Array.from(['a', 'bb', 'a', '', 'bb', '', 'a'], (piece) => (end += piece.length + 1));
    expect(duplicatePieces(text, ends)).toEqual([0, 2, 1, 4, 3, 5, 0, 6]);
  });
});
