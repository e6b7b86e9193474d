import { describe, expect, it } from 'vitest';
import { CopyEncodingError, encodeCopyRows, encodeCopyValue } from '../../src/load/copy-text.js';

describe('COPY text encoder', () => {
  it('writes NULL as \\N and an empty string as nothing', () => {
    expect(encodeCopyValue(null)).toBe('\\N');
    expect(encodeCopyValue('')).toBe('');
  });

  it('escapes backslash, tab, newline and carriage return, and nothing else', () => {
    expect(encodeCopyValue('a\\b')).toBe('a\\\\b');
    expect(encodeCopyValue('a\tb\nc\rd')).toBe('a\\tb\\nc\\rd');
    expect(encodeCopyValue('\\N')).toBe('\\\\N');
    expect(encodeCopyValue('\\.')).toBe('\\\\.');
    expect(encodeCopyValue('é 漢字 🎉 "quoted" \'single\' ,;|')).toBe('é 漢字 🎉 "quoted" \'single\' ,;|');
  });

  it('writes booleans as t/f and integers as digits', () => {
    expect(encodeCopyValue(true)).toBe('t');
    expect(encodeCopyValue(false)).toBe('f');
    expect(encodeCopyValue(5)).toBe('5');
    expect(encodeCopyValue(-12)).toBe('-12');
  });

  it('refuses a string with an unpaired surrogate instead of letting it be replaced', () => {
    expect(() => encodeCopyValue('a\uD800b', 'label')).toThrow(CopyEncodingError);
    expect(() => encodeCopyValue('\uDC00', 'label')).toThrow(/column label/);
    expect(encodeCopyValue('\uD83C\uDF89')).toBe('🎉');
  });

  it('encodes rows field by field in column order, one line each', () => {
    const rows = [
      { a: 'x\ty', b: null, c: true },
      { a: '', b: 3, c: false },
    ];
    expect(encodeCopyRows(rows, ['c', 'a', 'b'])).toBe('t\tx\\ty\t\\N\nf\t\t3\n');
  });

  it('refuses a row that lacks a column', () => {
    expect(() => encodeCopyRows([{ a: 'x' }], ['a', 'b'])).toThrow(/no value for column b/);
  });
});
