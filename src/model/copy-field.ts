// COPY's text format, field by field: the form every row takes on its way to PostgreSQL, which
// the transform's fast path writes directly and the load stage sends.
/** A column value as the writer sends it: already in PostgreSQL's text input form (see rows.ts). */
export type CopyValue = string | number | boolean | null;

/**
 * A value that COPY would not store exactly: a string with an unpaired UTF-16 surrogate has no
 * UTF-8 form, so sending it would silently replace the character. The record is refused instead.
 */
export class CopyEncodingError extends Error {
  override readonly name = 'CopyEncodingError';
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}

const SURROGATE = /[\uD800-\uDFFF]/;
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const HAS_COPY_SPECIAL = /[\\\t\n\r]/;
// Either of the above: most values hold neither, and are read once rather than twice.
const SURROGATE_OR_COPY_SPECIAL = /[\uD800-\uDFFF\\\t\n\r]/;
const COPY_SPECIAL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One field of COPY's text format. Only backslash and the three separators are escaped, so every
 * other character (U+0000 included: PostgreSQL itself refuses it) reaches the server as written.
 */
export function encodeCopyValue(value: CopyValue, column = '?'): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  // Integers only (display_order, confidence_level); anything else is refused by the server.
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') throw new TypeError(`column ${column}: not a COPY value: ${typeof value}`);
  if (!SURROGATE_OR_COPY_SPECIAL.test(value)) return value;
  if (SURROGATE.test(value) && UNPAIRED_SURROGATE.test(value)) {
    throw new CopyEncodingError(column, `column ${column} holds an unpaired UTF-16 surrogate, which has no UTF-8 form`);
  }
  return HAS_COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL, (special) => COPY_ESCAPES[special]!) : value;
}
