/**
 * Both clients return column values as PostgreSQL prints them, except booleans and 2/4-byte
 * integers: numerics, int8, timestamps and jsonb stay text, so nothing passes through a JS
 * float or a Date (which keeps milliseconds only) on the way to a comparison.
 */
export const BOOL_OID = 16;
export const INT2_OID = 21;
export const INT4_OID = 23;

export function parseTextValue(oid: number, text: string): unknown {
  if (oid === BOOL_OID) return text === 't' || text === 'true';
  if (oid === INT2_OID || oid === INT4_OID) return Number(text);
  return text;
}
