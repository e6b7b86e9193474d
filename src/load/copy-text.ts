import { encodeCopyValue, type CopyValue } from '../model/copy-field.js';

export { CopyEncodingError, encodeCopyValue, type CopyValue } from '../model/copy-field.js';

/** Rows → COPY text (one line per row, fields in `columns` order), ready for `SqlSession.copyFrom`. */
export function encodeCopyRows(rows: readonly object[], columns: readonly string[]): string {
  let text = '';
  for (const row of rows) {
    const fields = columns.map((column) => {
      const value = (row as Record<string, unknown>)[column];
      if (value === undefined) throw new TypeError(`row has no value for column ${column}`);
      return encodeCopyValue(value as CopyValue, column);
    });
    text += `${fields.join('\t')}\n`;
  }
  return text;
}
