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

  const check = (bytes: Buffer): InvalidUtf8Error | undefined => {
    if (isUtf8(bytes)) {
      line += countNewlines(bytes);
      return undefined;
    }
    for (let start = 0; ; line += 1) {
      const end = bytes.indexOf(NEWLINE, start);
      if (!isUtf8(bytes.subarray(start, end === -1 ? bytes.length : end)) || end === -1) return new InvalidUtf8Error(line);
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
      const failure = check(Buffer.concat([...carry, chunk.subarray(0, first + 1)])) ?? check(chunk.subarray(first + 1, last + 1));
      carry = last + 1 < chunk.length ? [chunk.subarray(last + 1)] : [];
      callback(failure, failure === undefined ? chunk : undefined);
    },
    flush(callback: TransformCallback) {
      callback(carry.length > 0 ? check(Buffer.concat(carry)) : undefined);
    },
  });
}
