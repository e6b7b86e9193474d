import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyTextOf, EncodedRecordsBuilder, isSuspect, recordCount, rowIdsOf, sourceIdOf } from '../../src/load/encoded-records.js';

// Any string: commas and quotes (the id separator and literal syntax), U+0000, astral characters,
// and lone surrogates in ids (which UTF-8 cannot hold, and UTF-16 keeps).
const anyId = fc.string({ unit: fc.oneof(fc.constantFrom(',', '"', '\\', '\u0000', '\ud800', '\udc00', 'é'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 40 });
const wellFormed = fc.string({ unit: fc.oneof(fc.constantFrom(',', '\t', '\n', '\\', '\u0000', 'é', '😀'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 60 });
const record = fc.record({
  sourceId: anyId,
  rowIds: fc.array(anyId, { maxLength: 4 }),
  // COPY text is well-formed UTF-16: encodeCopyValue refuses text with no UTF-8 form.
  lines: fc.array(wellFormed, { minLength: 1, maxLength: 3 }),
  sharedTail: fc.boolean(),
});

describe('records encoded as they are made', () => {
  it('gives back every record exactly: ids, rows, COPY text, and the texts holding U+0000 apart', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (records, initialBytes) => {
        const builder = new EncodedRecordsBuilder(initialBytes);
        const texts: string[] = [];
        for (const { sourceId, rowIds, lines, sharedTail } of records) {
          builder.beginRecord(sourceId);
          for (const rowId of rowIds) builder.addRowId(rowId);
          if (sharedTail) {
            // The first line written whole, each later line's head written and the first line's tail copied.
            const [first, ...later] = lines;
            const tail = `${first!}\n`;
            const start = builder.copyText(tail);
            const end = builder.copyAt;
            let text = tail;
            for (const head of later) {
              builder.copyText(head);
              builder.copyTail(start, end);
              text += head + tail;
            }
            texts.push(text);
          } else {
            const text = lines.map((line) => `${line}\n`).join('');
            builder.copyText(text);
            texts.push(text);
          }
          builder.endRecord();
        }
        expect(builder.count).toBe(records.length);
        const encoded = builder.finish();
        expect(recordCount(encoded)).toBe(records.length);
        records.forEach(({ sourceId, rowIds }, index) => {
          expect(sourceIdOf(encoded, index)).toBe(sourceId);
          expect(rowIdsOf(encoded, index)).toEqual(rowIds);
          expect(copyTextOf(encoded, index)).toBe(texts[index]);
          expect(isSuspect(encoded, index)).toBe(texts[index]!.includes('\u0000'));
        });
        // Only the records without U+0000 are in the bytes, in order.
        expect(Buffer.from(encoded.copyBytes).toString('utf8')).toBe(texts.filter((text) => !text.includes('\u0000')).join(''));
      }),
      { numRuns: 300 },
    );
  });

  it('takes a whole record at once as add, and its buffers are its own (transferable)', () => {
    const builder = new EncodedRecordsBuilder(1);
    builder.add('a,b', ['x', 'y'], 'one\ntwo\n');
    builder.add('c', [], 'three\n');
    const encoded = builder.finish();
    expect([sourceIdOf(encoded, 0), sourceIdOf(encoded, 1)]).toEqual(['a,b', 'c']);
    expect([rowIdsOf(encoded, 0), rowIdsOf(encoded, 1)]).toEqual([['x', 'y'], []]);
    expect(Buffer.from(encoded.copyBytes).toString('utf8')).toBe('one\ntwo\nthree\n');
    const buffers = [encoded.copyBytes, encoded.copyEnds, encoded.sourceIdEnds, encoded.rowIdEnds, encoded.recordRowEnds].map((array) => array.buffer);
    expect(new Set(buffers).size).toBe(buffers.length);
  });
});
