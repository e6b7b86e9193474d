import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';

/** A line of a file whose bytes are not UTF-8: decoding it would put U+FFFD in its place silently. */
export class InvalidUtf8Error extends Error {
  override readonly name = 'InvalidUtf8Error';
  constructor(readonly line: number) {
    super(`line ${line} is not valid UTF-8`);
  }
}

const NEWLINE = 0x0a;

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) count += 1;
  return count;
}

/**
 * Passes bytes through unchanged and fails with InvalidUtf8Error, naming the line, at the first
 * line that is not UTF-8. Whole lines are checked before they pass, so no reader downstream ever
 * decodes a bad one; a '\n' never occurs inside a multi-byte sequence, so lines are checked apart.
 */
export function utf8LineCheck(): Transform {
  let line = 1;
  let carry: Buffer[] = [];

  /** The first line of `bytes` that is not UTF-8, with where it starts in `bytes`; undefined when all are. */
  const check = (bytes: Buffer): { failure: InvalidUtf8Error; at: number } | undefined => {
    if (isUtf8(bytes)) {
      line += countNewlines(bytes);
      return undefined;
    }
    for (let start = 0; ; line += 1) {
      const end = bytes.indexOf(NEWLINE, start);
      if (!isUtf8(bytes.subarray(start, end === -1 ? bytes.length : end)) || end === -1) return { failure: new InvalidUtf8Error(line), at: start };
      start = end + 1;
    }
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const last = chunk.lastIndexOf(NEWLINE);
      if (last === -1) {
        carry.push(chunk);
        callback(null, chunk);
        return;
      }
      // The line that began in earlier chunks, completed by this one; then the whole lines after it.
      const first = chunk.indexOf(NEWLINE);
      const head = check(Buffer.concat([...carry, chunk.subarray(0, first + 1)]));
      if (head !== undefined) {
        callback(head.failure);
        return;
      }
      const rest = check(chunk.subarray(first + 1, last + 1));
      if (rest !== undefined) {
        // The whole lines before the bad one pass: a reader gets every item before it, however large the chunk.
        this.push(chunk.subarray(0, first + 1 + rest.at));
        failOnceRead(this, rest.failure, callback);
        return;
      }
      carry = last + 1 < chunk.length ? [chunk.subarray(last + 1)] : [];
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      callback(carry.length > 0 ? check(Buffer.concat(carry))?.failure : undefined);
    },
  });
}

/**
 * Fails the stream once what it holds has been read: a failing stream is destroyed, and a reader
 * is not given what was pushed before (an async iterator throws at once). A readable tells no one
 * when it has been emptied, so this looks every few milliseconds (a reader may be held up for
 * seconds by its own back-pressure: no busy loop meanwhile).
 */
function failOnceRead(stream: Transform, failure: Error, callback: TransformCallback): void {
  const poll = (): void => {
    if (stream.destroyed || stream.readableLength === 0) callback(failure);
    else setTimeout(poll, 5);
  };
  poll();
}

const CARRIAGE_RETURN = 0x0d;

/**
 * The lines of a stream of UTF-8 bytes, a chunk's worth at a time, split as readline splits them
 * (`\n`, `\r\n`, or a lone `\r`; a `\r\n` cut between two chunks is one line end; a last line
 * without an end is a line when it is not empty). Without readline's events and per-line
 * callbacks, which cost more than the splitting.
 *
 * Lines are split on the bytes and each is decoded alone (neither byte ends a line inside a
 * multi-byte sequence): a line of ASCII is a one-byte string of its own, not a view that keeps a
 * whole decoded chunk alive (a chunk with one character past Latin-1 decodes to two bytes a character).
 */
export async function* linesOf(input: AsyncIterable<Buffer>): AsyncGenerator<string[]> {
  // The bytes of a line begun in earlier chunks.
  let carry: Buffer[] = [];
  let afterReturn = false;
  const lineOf = (chunk: Buffer, start: number, end: number): string => {
    if (carry.length === 0) return chunk.toString('utf8', start, end);
    const line = Buffer.concat([...carry, chunk.subarray(start, end)]).toString('utf8');
    carry = [];
    return line;
  };
  for await (const chunk of input) {
    let start = afterReturn && chunk.length > 0 && chunk[0] === NEWLINE ? 1 : 0;
    if (chunk.length > 0) afterReturn = false;
    const lines: string[] = [];
    if (chunk.indexOf(CARRIAGE_RETURN, start) === -1) {
      for (let end = chunk.indexOf(NEWLINE, start); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
        lines.push(lineOf(chunk, start, end));
        start = end + 1;
      }
    } else {
      for (let end = start; end < chunk.length; end++) {
        const byte = chunk[end];
        if (byte !== NEWLINE && byte !== CARRIAGE_RETURN) continue;
        lines.push(lineOf(chunk, start, end));
        if (byte === CARRIAGE_RETURN) {
          if (end + 1 === chunk.length) afterReturn = true;
          else if (chunk[end + 1] === NEWLINE) end += 1;
        }
        start = end + 1;
      }
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
    if (lines.length > 0) yield lines;
  }
  if (carry.length > 0) yield [Buffer.concat(carry).toString('utf8')];
}
