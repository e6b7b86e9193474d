import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

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
 * is not given what was pushed before (an async iterator throws at once).
 */
function failOnceRead(stream: Transform, failure: Error, callback: TransformCallback): void {
  const poll = (): void => {
    if (stream.destroyed || stream.readableLength === 0) callback(failure);
    else setImmediate(poll);
  };
  poll();
}

const LINE_END = /\r\n|\n|\r/g;

/**
 * The lines of a stream of UTF-8 bytes, a chunk's worth at a time, split as readline splits them
 * (`\n`, `\r\n`, or a lone `\r`; a `\r\n` cut between two chunks is one line end; a last line
 * without an end is a line when it is not empty). Without readline's events and per-line
 * callbacks, which cost more than the splitting.
 */
export async function* linesOf(input: AsyncIterable<Buffer>): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let afterReturn = false;
  const split = (chunk: string): string[] => {
    let text = chunk;
    if (afterReturn && text.charCodeAt(0) === 0x0a) text = text.slice(1);
    if (chunk.length > 0) afterReturn = false;
    if (text.length === 0) return [];
    const lines: string[] = [];
    let start = 0;
    if (text.indexOf('\r') === -1) {
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        lines.push(start === 0 ? carry + text.slice(0, end) : text.slice(start, end));
        start = end + 1;
      }
    } else {
      LINE_END.lastIndex = 0;
      for (let match = LINE_END.exec(text); match !== null; match = LINE_END.exec(text)) {
        lines.push(start === 0 ? carry + text.slice(0, match.index) : text.slice(start, match.index));
        start = LINE_END.lastIndex;
      }
      afterReturn = text.charCodeAt(text.length - 1) === 0x0d;
    }
    carry = start === 0 ? carry + text : text.slice(start);
    return lines;
  };
  for await (const chunk of input) {
    const lines = split(decoder.write(chunk));
    if (lines.length > 0) yield lines;
  }
  const rest = split(decoder.end());
  if (carry.length > 0) rest.push(carry);
  if (rest.length > 0) yield rest;
}
