/**
 * Decimal text handled as digits, never as a JS float: legacy numbers carry up to 38
 * significant digits, more than a double holds.
 */

// numeric's own limits (PostgreSQL 15): beyond them the database would refuse the value anyway.
const MAX_INTEGER_DIGITS = 131_072;
const MAX_SCALE = 16_383;

const PLAIN_NONZERO = /^-?(?:[1-9]\d{0,37}(?:\.\d{1,38})?|0\.\d{0,37}[1-9]\d{0,37})$/;
const DECIMAL_SYNTAX = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * A decimal string (optional sign, digits, optional fraction, optional exponent) → plain
 * decimal text as PostgreSQL's numeric prints it: no '+', no exponent, no leading zeros, and
 * the scale numeric keeps (`1.50` → `1.50`, `1.5E+3` → `1500`, `1.50E+1` → `15.0`).
 * Returns undefined for anything else (NaN, Infinity, garbage, beyond numeric's range).
 */
export function toPlainDecimal(text: string): string | undefined {
  // Most legacy numbers are already in this form (DynamoDB and jsonb write them so).
  if (PLAIN_NONZERO.test(text)) return text;
  const match = DECIMAL_SYNTAX.exec(text);
  if (!match) return undefined;
  const [, sign = '', integerDigits = '', fractionDigits = '', exponentText] = match;
  if (integerDigits === '' && fractionDigits === '') return undefined;
  const exponent = parseExponent(exponentText);
  if (exponent === undefined) return undefined;

  const allDigits = integerDigits + fractionDigits;
  const significant = allDigits.replace(/^0+/, '');
  const scale = Math.max(0, fractionDigits.length - exponent);
  // Where the decimal point falls within `significant` once the exponent is applied.
  const point = integerDigits.length + exponent - (allDigits.length - significant.length);
  if (scale > MAX_SCALE) return undefined;
  // numeric has no negative zero.
  if (significant === '') return scale === 0 ? '0' : `0.${'0'.repeat(scale)}`;
  if (point > MAX_INTEGER_DIGITS) return undefined;

  let integerPart: string;
  let fractionPart: string;
  if (point <= 0) {
    integerPart = '0';
    fractionPart = '0'.repeat(-point) + significant;
  } else if (point >= significant.length) {
    integerPart = significant + '0'.repeat(point - significant.length);
    fractionPart = '';
  } else {
    integerPart = significant.slice(0, point);
    fractionPart = significant.slice(point);
  }
  return `${sign === '-' ? '-' : ''}${integerPart}${fractionPart === '' ? '' : `.${fractionPart}`}`;
}

/**
 * A decimal's value in one spelling: plain form with trailing fractional zeros dropped
 * (`1.50` → `1.5`, `1.50E+1` → `15`). DynamoDB numbers have no scale — it stores `1.50` as
 * `1.5` — so the same fact read from DynamoDB, an export file or a kv_store must give the
 * same text, or a re-run from another source would rewrite every row. The value is exact.
 */
export function canonicalDecimal(text: string): string | undefined {
  const plain = toPlainDecimal(text);
  if (plain === undefined || !plain.includes('.')) return plain;
  const trimmed = plain.replace(/0+$/, '').replace(/\.$/, '');
  return trimmed === '-0' ? '0' : trimmed;
}

function parseExponent(text: string | undefined): number | undefined {
  if (text === undefined) return 0;
  const unsigned = text.replace(/^[+-]/, '').replace(/^0+(?=\d)/, '');
  // Compared as text first so that a thousand-digit exponent never becomes a float; any
  // exponent this long is far outside numeric's range.
  if (unsigned.length > 9) return undefined;
  const magnitude = Number.parseInt(unsigned, 10);
  return text.startsWith('-') ? -magnitude : magnitude;
}

/** Plain decimal text (from toPlainDecimal) → its integer value, or undefined when it has a non-zero fraction. */
export function integralValue(plain: string): bigint | undefined {
  const [integerPart = '0', fractionPart = ''] = plain.split('.');
  if (/[1-9]/.test(fractionPart)) return undefined;
  return BigInt(integerPart);
}
