import { accepted, describeValue, missing, refused, wrongType, isAbsent, type AttributeInput, type Coercion } from './coercion.js';
import { toPlainDecimal } from '../model/decimal.js';
import { LegacyNumber } from '../model/legacy-value.js';

/** An instant as PostgreSQL's timestamptz keeps it: UTC, microseconds. */
export class UtcTimestamp {
  constructor(
    /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` (years past 9999 have more digits, as PostgreSQL writes them). */
    readonly text: string,
    /** A non-zero digit below the microsecond was rounded away: the source text must be kept elsewhere. */
    readonly roundedAway: boolean,
  ) {}
}

const SECONDS_PER_DAY = 86_400;
// timestamptz ends before 294277-01-01 UTC. It begins in 4714 BC, but the canonical text has no
// era and a KPI fact dated before year 1 can only be corrupt, so year 1 is the lower bound here.
const FIRST_SECOND = daysFromCivil(1, 1, 1) * SECONDS_PER_DAY;
const END_SECOND = daysFromCivil(294_277, 1, 1) * SECONDS_PER_DAY;
// PostgreSQL refuses offsets of 16 hours or more.
const MAX_OFFSET_HOURS = 15;

const ISO_SYNTAX =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?))?$/;
const EPOCH_MILLIS_SYNTAX = /^\d+$/;

/**
 * Contract §1 timestamps: ISO-8601 with `Z` or an offset (`±hh:mm`, `±hhmm`, `±hh`), a date
 * alone (midnight UTC), or epoch milliseconds (`N`, or a string of digits).
 * Fractional seconds beyond the microsecond are rounded as PostgreSQL rounds them.
 */
export function coerceTimestamp(value: AttributeInput): Coercion<UtcTimestamp> {
  if (isAbsent(value)) return missing();
  if (value instanceof LegacyNumber) return fromEpochMillisText(value.text.trim(), value);
  if (typeof value !== 'string') return wrongType('an ISO-8601 timestamp or epoch milliseconds', value);
  const utc = canonicalUtcText(value);
  if (utc !== undefined) return accepted(new UtcTimestamp(utc, false));
  const text = value.trim();
  if (EPOCH_MILLIS_SYNTAX.test(text)) return fromEpochMillisText(text, value);
  const match = ISO_SYNTAX.exec(text);
  if (!match) {
    return refused('invalid_value', `not an ISO-8601 timestamp with a zone, a date or epoch milliseconds: ${describeValue(value)}`);
  }
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zulu, offsetSign, offsetHours = '0', offsetMinutes = '0'] = match;
  const date = { year: Number(year), month: Number(month), day: Number(day) };
  if (date.month < 1 || date.month > 12 || date.day < 1 || date.day > daysInMonth(date.year, date.month)) {
    return refused('invalid_value', `no such date: ${describeValue(value)}`);
  }
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) {
    return refused('invalid_value', `no such time of day: ${describeValue(value)}`);
  }
  if (Number(offsetHours) > MAX_OFFSET_HOURS || Number(offsetMinutes) > 59) {
    return refused('invalid_value', `zone offset out of range: ${describeValue(value)}`);
  }
  const offsetSeconds = zulu || !offsetSign ? 0 : (offsetSign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60);
  const micros = roundToMicros(fraction);
  // Whole seconds stay far below 2^53: integer arithmetic on them is exact.
  const epochSecond =
    daysFromCivil(date.year, date.month, date.day) * SECONDS_PER_DAY +
    Number(hour) * 3600 + Number(minute) * 60 + Number(second) - offsetSeconds +
    (micros === 1_000_000 ? 1 : 0);
  return fromEpoch(epochSecond, micros % 1_000_000, /[1-9]/.test(fraction.slice(6)), value);
}

const ZERO = 0x30;

/** The number written by the digits text[from..to), or -1 if one of them is no digit. */
function digitsAt(text: string, from: number, to: number): number {
  let n = 0;
  for (let at = from; at < to; at++) {
    const digit = text.charCodeAt(at) - ZERO;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/**
 * The forms most timestamps take, read without the full parse: `YYYY-MM-DDTHH:MM:SS[.f…]Z`
 * with at most six fraction digits (the canonical text is the same fields with the fraction
 * padded: no arithmetic on the instant), the same with a `±HH:MM` offset (moved to UTC), and a
 * date alone (midnight UTC). Undefined for anything else, or an impossible date, or an instant
 * out of range, which the full parse takes: this gives exactly what it would
 * (test/transform/timestamp.test.ts holds the two to it).
 */
export function canonicalUtcText(text: string): string | undefined {
  const length = text.length;
  if (length === 10) return dateOnlyUtcText(text);
  if (length < 20 || length > 32 || text.charCodeAt(10) !== 0x54 /* T */) return undefined;
  if (text.charCodeAt(4) !== 0x2d || text.charCodeAt(7) !== 0x2d || text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a) return undefined;
  // Where the zone begins: `Z` last, or `±HH:MM` in the last six characters.
  const zulu = text.charCodeAt(length - 1) === 0x5a; /* Z */
  const zoneAt = zulu ? length - 1 : length - 6;
  const fractionDigits = zoneAt - 20;
  if (zoneAt === 19) {
    // No fraction.
  } else if (fractionDigits < 1 || fractionDigits > 6 || text.charCodeAt(19) !== 0x2e /* . */ || digitsAt(text, 20, zoneAt) < 0) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 7);
  const day = digitsAt(text, 8, 10);
  const hour = digitsAt(text, 11, 13);
  const minute = digitsAt(text, 14, 16);
  const second = digitsAt(text, 17, 19);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  const fraction = zoneAt === 19 ? '000000' : fractionDigits === 6 ? text.slice(20, zoneAt) : text.slice(20, zoneAt).padEnd(6, '0');
  if (zulu) return length === 27 ? text : `${text.slice(0, 19)}.${fraction}Z`;
  const sign = text.charCodeAt(zoneAt);
  if ((sign !== 0x2b /* + */ && sign !== 0x2d) /* - */ || text.charCodeAt(zoneAt + 3) !== 0x3a) return undefined;
  const offsetHours = digitsAt(text, zoneAt + 1, zoneAt + 3);
  const offsetMinutes = digitsAt(text, zoneAt + 4, zoneAt + 6);
  if (offsetHours < 0 || offsetHours > MAX_OFFSET_HOURS || offsetMinutes < 0 || offsetMinutes > 59) return undefined;
  const offsetSeconds = (sign === 0x2d ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  const epochSecond = daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offsetSeconds;
  // Moved into another year: the full parse checks the range and writes years of any width.
  if (epochSecond < FIRST_SECOND || epochSecond >= TEN_THOUSAND_SECOND) return undefined;
  return `${formatSecond(epochSecond)}.${fraction}Z`;
}

/**
 * The .NET service's round-trip form, seven fraction digits (`…:SS.fffffffZ`, or with a `±HH:MM`
 * offset), rounded to the microsecond without the full parse: the six digits, one more when the
 * seventh is above 5, then read as canonicalUtcText reads six. Undefined for any other text, for a
 * seventh digit of 5 (a tie: the full parse rounds it as PostgreSQL does, through a double) and
 * for a round up that carries into the second. What the full parse gives for such text
 * (test/transform/timestamp.test.ts holds the two to it); its seventh digit was rounded away
 * unless it is 0 (sevenDigitRoundedAway).
 */
export function sevenDigitUtcText(text: string): string | undefined {
  const length = text.length;
  if ((length !== 28 && length !== 33) || text.charCodeAt(19) !== 0x2e /* . */) return undefined;
  const seventh = text.charCodeAt(26) - ZERO;
  if (seventh < 0 || seventh > 9 || seventh === 5) return undefined;
  const micros = digitsAt(text, 20, 26);
  if (micros < 0) return undefined;
  const rounded = seventh > 5 ? micros + 1 : micros;
  if (rounded === 1_000_000) return undefined;
  const six = seventh > 5 ? String(rounded).padStart(6, '0') : text.slice(20, 26);
  return canonicalUtcText(`${text.slice(0, 20)}${six}${text.slice(27)}`);
}

/** Whether the full parse flags a digit rounded away in text sevenDigitUtcText reads. */
export function sevenDigitRoundedAway(text: string): boolean {
  return text.charCodeAt(26) !== ZERO;
}

/**
 * Epoch milliseconds written as digits alone (at most 15, so exact as a double), read without the
 * full parse up to the year 9999; undefined for any other text, which the full parse takes. What
 * coerceTimestamp gives for a number of that text (test/transform/timestamp.test.ts).
 */
export function epochMillisUtcText(text: string): string | undefined {
  const length = text.length;
  if (length === 0 || length > 15) return undefined;
  const millis = digitsAt(text, 0, length);
  if (millis < 0) return undefined;
  const epochSecond = Math.floor(millis / 1000);
  if (epochSecond >= TEN_THOUSAND_SECOND) return undefined;
  return `${formatSecond(epochSecond)}.${String(millis % 1000).padStart(3, '0')}000Z`;
}

/** `YYYY-MM-DD` → midnight UTC, or undefined (not that form, or no such date). */
function dateOnlyUtcText(text: string): string | undefined {
  if (text.charCodeAt(4) !== 0x2d || text.charCodeAt(7) !== 0x2d) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 7);
  const day = digitsAt(text, 8, 10);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return `${text}T00:00:00.000000Z`;
}

const TEN_THOUSAND_SECOND = daysFromCivil(10_000, 1, 1) * SECONDS_PER_DAY;
const SECOND_TEXT = Buffer.alloc(19);

/** Whole seconds since 1970 (years 1 to 9999) → `YYYY-MM-DDTHH:MM:SS`, written in a scratch buffer rather than as a rope of pieces. */
function formatSecond(epochSecond: number): string {
  const days = Math.floor(epochSecond / SECONDS_PER_DAY);
  const secondOfDay = epochSecond - days * SECONDS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  const out = SECOND_TEXT;
  out[0] = ZERO + Math.floor(year / 1000);
  out[1] = ZERO + (Math.floor(year / 100) % 10);
  out[2] = ZERO + (Math.floor(year / 10) % 10);
  out[3] = ZERO + (year % 10);
  out[4] = 0x2d;
  twoDigits(out, 5, month);
  out[7] = 0x2d;
  twoDigits(out, 8, day);
  out[10] = 0x54;
  twoDigits(out, 11, Math.floor(secondOfDay / 3600));
  out[13] = 0x3a;
  twoDigits(out, 14, Math.floor(secondOfDay / 60) % 60);
  out[16] = 0x3a;
  twoDigits(out, 17, secondOfDay % 60);
  return out.toString('latin1', 0, 19);
}

function twoDigits(out: Buffer, at: number, n: number): void {
  out[at] = ZERO + Math.floor(n / 10);
  out[at + 1] = ZERO + (n % 10);
}

function fromEpochMillisText(text: string, value: AttributeInput): Coercion<UtcTimestamp> {
  const plain = toPlainDecimal(text);
  if (plain === undefined) return refused('invalid_value', `not epoch milliseconds: ${describeValue(value)}`);
  const [integer = '', fraction = ''] = plain.split('.');
  if (/[1-9]/.test(fraction)) return refused('invalid_value', `epoch milliseconds must be whole: ${describeValue(value)}`);
  const negative = integer.startsWith('-');
  const digits = negative ? integer.slice(1) : integer;
  // Beyond 16 digits is beyond the range; below it, seconds and milliseconds are exact numbers.
  if (digits.length > 16) return outOfRange(value);
  const seconds = Number(digits.slice(0, -3) || '0');
  const millis = Number(digits.slice(-3));
  if (!negative) return fromEpoch(seconds, millis * 1000, false, value);
  return millis === 0 ? fromEpoch(-seconds, 0, false, value) : fromEpoch(-seconds - 1, (1000 - millis) * 1000, false, value);
}

function fromEpoch(epochSecond: number, micros: number, roundedAway: boolean, value: AttributeInput): Coercion<UtcTimestamp> {
  if (epochSecond < FIRST_SECOND || epochSecond >= END_SECOND) return outOfRange(value);
  return accepted(new UtcTimestamp(formatInstant(epochSecond, micros), roundedAway));
}

function outOfRange(value: AttributeInput): Coercion<UtcTimestamp> {
  return refused('invalid_value', `outside the timestamp range (year 1 to 294276): ${describeValue(value)}`);
}

/**
 * PostgreSQL reads fractional seconds with strtod, multiplies by 10^6 and applies rint (ties
 * to even), so a tie in decimal can round either way depending on the double. Doing the same
 * here makes our text equal to what PostgreSQL would store from the source text. Only the
 * seventh and later digits can be affected, and the source text is then kept in legacy_extra.
 */
function roundToMicros(fraction: string): number {
  if (fraction.length <= 6) return Number(fraction.padEnd(6, '0'));
  return roundHalfToEven(Number(`0.${fraction}`) * 1e6);
}

function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Whole seconds since 1970 UTC and microseconds → `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
function formatInstant(epochSecond: number, micros: number): string {
  const days = Math.floor(epochSecond / SECONDS_PER_DAY);
  const secondOfDay = epochSecond - days * SECONDS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  return (
    `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T` +
    `${pad(Math.floor(secondOfDay / 3600), 2)}:${pad(Math.floor(secondOfDay / 60) % 60, 2)}:${pad(secondOfDay % 60, 2)}` +
    `.${pad(micros, 6)}Z`
  );
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

// Proleptic Gregorian calendar ↔ days since 1970-01-01 (H. Hinnant's civil-date algorithms).
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

function civilFromDays(daysSinceEpoch: number): { year: number; month: number; day: number } {
  const z = daysSinceEpoch + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}
