import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { coerceTimestamp, type UtcTimestamp } from '../../src/transform/coerce.js';
import { canonicalUtcText, epochMillisUtcText, sevenDigitRoundedAway, sevenDigitUtcText } from '../../src/transform/timestamp.js';
import type { AttributeInput } from '../../src/transform/coerce.js';
import { N } from './legacy-items.js';

function timestampOf(input: AttributeInput): UtcTimestamp {
  const result = coerceTimestamp(input);
  if (!result.ok) throw new Error(`expected a timestamp, got ${result.reason}: ${result.message}`);
  return result.value;
}

/** What the full parse makes of a value: the text and whether a digit was rounded away, or the reason it refuses. */
function outcome(input: AttributeInput) {
  const result = coerceTimestamp(input);
  return result.ok ? { text: result.value.text, roundedAway: result.value.roundedAway } : result.reason;
}

/** A number as `width` digits, zero-padded (fields of generated timestamps). */
const pad = (width: number) => (n: number) => String(n).padStart(width, '0');

describe('timestamps → UTC text with microseconds', () => {
  test.each([
    ['2024-01-02T03:04:05Z', '2024-01-02T03:04:05.000000Z'],
    ['2024-01-02t03:04:05z', '2024-01-02T03:04:05.000000Z'],
    ['2024-01-02 03:04:05Z', '2024-01-02T03:04:05.000000Z'],
    ['2024-01-02T03:04Z', '2024-01-02T03:04:00.000000Z'],
    ['2024-01-02T03:04:05.1Z', '2024-01-02T03:04:05.100000Z'],
    ['2024-01-02T03:04:05.123456Z', '2024-01-02T03:04:05.123456Z'],
    ['2024-01-02T03:04:05+02:00', '2024-01-02T01:04:05.000000Z'],
    ['2024-01-02T03:04:05-0530', '2024-01-02T08:34:05.000000Z'],
    ['2024-01-01T10:00:00+05', '2024-01-01T05:00:00.000000Z'],
    ['2024-03-01T01:00:00+02:00', '2024-02-29T23:00:00.000000Z'],
    ['2024-01-01T00:00:00+15:59', '2023-12-31T08:01:00.000000Z'],
  ])('ISO-8601 with a zone: %s', (input, expected) => {
    expect(timestampOf(input)).toEqual({ text: expected, roundedAway: false });
  });

  test.each([
    ['2024-02-29', '2024-02-29T00:00:00.000000Z'],
    ['2000-02-29', '2000-02-29T00:00:00.000000Z'],
    ['0001-01-01', '0001-01-01T00:00:00.000000Z'],
    ['9999-12-31', '9999-12-31T00:00:00.000000Z'],
  ])('a date alone is midnight UTC: %s', (input, expected) => {
    expect(timestampOf(input).text).toBe(expected);
  });

  test.each([
    [N('0'), '1970-01-01T00:00:00.000000Z'],
    [N('1711843200000'), '2024-03-31T00:00:00.000000Z'],
    [N('1711843200123'), '2024-03-31T00:00:00.123000Z'],
    [N('1.7118432E+12'), '2024-03-31T00:00:00.000000Z'],
    [N('-1000'), '1969-12-31T23:59:59.000000Z'],
    ['1711843200000', '2024-03-31T00:00:00.000000Z'],
    [N('-62135596800000'), '0001-01-01T00:00:00.000000Z'],
    [N('9224318015999999'), '294276-12-31T23:59:59.999000Z'],
  ])('epoch milliseconds %o', (input, expected) => {
    expect(timestampOf(input).text).toBe(expected);
  });

  test('seven fractional digits (the .NET service) round to microseconds; a lost digit is flagged', () => {
    expect(timestampOf('2024-01-02T03:04:05.1234567Z')).toEqual({ text: '2024-01-02T03:04:05.123457Z', roundedAway: true });
    expect(timestampOf('2024-01-02T03:04:05.1234560Z')).toEqual({ text: '2024-01-02T03:04:05.123456Z', roundedAway: false });
    expect(timestampOf('2024-01-02T03:04:05.1234564Z')).toEqual({ text: '2024-01-02T03:04:05.123456Z', roundedAway: true });
    expect(timestampOf('2024-01-02T03:04:05.0000004Z')).toEqual({ text: '2024-01-02T03:04:05.000000Z', roundedAway: true });
  });

  test('ties round as PostgreSQL does (strtod, ×10^6, rint), as checked against PostgreSQL 15', () => {
    expect(timestampOf('2024-01-01T00:00:00.1234565Z').text).toBe('2024-01-01T00:00:00.123456Z');
    expect(timestampOf('2024-01-01T00:00:00.1234575Z').text).toBe('2024-01-01T00:00:00.123458Z');
    expect(timestampOf('2024-01-01T00:00:00.0000005Z').text).toBe('2024-01-01T00:00:00.000000Z');
    expect(timestampOf('2024-01-01T00:00:00.0001255Z').text).toBe('2024-01-01T00:00:00.000125Z');
    expect(timestampOf('2024-01-01T00:00:00.0001265Z').text).toBe('2024-01-01T00:00:00.000127Z');
  });

  test('rounding up carries into seconds, days and years', () => {
    expect(timestampOf('1999-12-31T23:59:59.9999996Z')).toEqual({ text: '2000-01-01T00:00:00.000000Z', roundedAway: true });
  });

  test.each([
    '2023-02-29',
    '2024-02-30',
    '2024-04-31',
    '2024-13-01',
    '2024-00-10',
    '2024-01-00',
    '2024-01-01T24:00:00Z',
    '2024-01-01T23:60:00Z',
    '2024-01-01T23:59:60Z',
    '2024-01-01T10:00:00',
    '2024-01-01T10:00:00+16:00',
    '2024-01-01T10:00:00+05:60',
    '0000-01-01',
    '0001-01-01T00:00:00+01:00',
    '24-01-01',
    '2024/01/01',
    'yesterday',
    '2024-01-01T10:00:00.Z',
  ])('refuses %s as invalid_value', (input) => {
    const result = coerceTimestamp(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe('invalid_value');
  });

  test.each([N('1.5'), N('9224318016000000'), N('-62135596800001'), N('1e30'), N('NaN'), true, { at: '2024-01-01' }, ['2024-01-01']])(
    'refuses %o as invalid_value',
    (input) => {
      const result = coerceTimestamp(input);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toBe('invalid_value');
    },
  );

  test('absent, NULL and empty are missing_field', () => {
    for (const absent of [undefined, null, '']) {
      const result = coerceTimestamp(absent);
      expect(result.ok ? 'ok' : result.reason).toBe('missing_field');
    }
  });
});

describe('the shortcut for `YYYY-MM-DDTHH:MM:SS[.f]Z`, `…±HH:MM` and a date alone gives what the full parse gives', () => {
  // A leading space keeps a text off the shortcut (the full parse trims it): both must agree.
  const twoDigits = fc.integer({ min: 0, max: 99 }).map(pad(2));
  const utcText = fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
      twoDigits,
      twoDigits,
      twoDigits,
      twoDigits,
      twoDigits,
      fc.oneof(fc.constant(''), fc.stringMatching(/^\.[0-9]{0,8}$/)),
      fc.oneof(
        fc.constantFrom('Z', 'z', ''),
        fc.tuple(fc.constantFrom('+', '-', '−'), twoDigits, fc.constantFrom(':', '', '.'), twoDigits).map((parts) => parts.join('')),
        fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 59 })).map(
          ([sign, hours, minutes]) => `${sign}${String(hours).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`,
        ),
      ),
      fc.boolean(),
    )
    .map(([year, month, day, hour, minute, second, fraction, zone, dateOnly]) =>
      dateOnly ? `${year}-${month}-${day}` : `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction}${zone}`,
    );

  test('for any such text, valid or not', () => {
    fc.assert(
      fc.property(utcText, (text) => {
        expect(outcome(text)).toEqual(outcome(` ${text}`));
      }),
      { numRuns: 5000 },
    );
  });

  test('for texts of plausible fields, most of which it takes', () => {
    const plausible = fc
      .tuple(
        fc.integer({ min: 1, max: 9999 }).map(pad(4)),
        fc.integer({ min: 1, max: 12 }).map(pad(2)),
        fc.integer({ min: 1, max: 31 }).map(pad(2)),
        fc.integer({ min: 0, max: 23 }).map(pad(2)),
        fc.integer({ min: 0, max: 59 }).map(pad(2)),
        fc.integer({ min: 0, max: 59 }).map(pad(2)),
        fc.oneof(fc.constant(''), fc.stringMatching(/^\.[0-9]{1,7}$/)),
        fc.oneof(
          fc.constant('Z'),
          fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 16 }).map(pad(2)), fc.integer({ min: 0, max: 59 }).map(pad(2))).map(([sign, h, m]) => `${sign}${h}:${m}`),
        ),
        fc.integer({ min: 0, max: 9 }),
      )
      .map(([year, month, day, hour, minute, second, fraction, zone, kind]) =>
        kind === 0 ? `${year}-${month}-${day}` : `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction}${zone}`,
      );
    let taken = 0;
    fc.assert(
      fc.property(plausible, (text) => {
        if (canonicalUtcText(text) !== undefined) taken += 1;
        expect(outcome(text)).toEqual(outcome(` ${text}`));
      }),
      { numRuns: 5000 },
    );
    expect(taken).toBeGreaterThan(2500);
  });

  test.each([
    '2024-02-29T23:59:59Z',
    '2023-02-29T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00.5Z',
    '2024-12-31T24:00:00Z',
    '2024-01-01T00:00:00.Z',
    '2024-01-01T00:00:60.123456Z',
    '0001-01-01T00:30:00+01:00',
    '0001-01-01T00:30:00-01:00',
    '9999-12-31T23:30:00-01:00',
    '9999-12-31T23:30:00+01:00',
    '2024-02-29T23:59:59.123456+15:59',
    '2024-02-29T23:59:59.1234567+15:59',
    '2024-03-01T00:00:00.1-00:00',
    '2024-02-29',
    '2023-02-29',
    '0000-12-31',
  ])(
    '%s',
    (text) => {
      expect(outcome(text)).toEqual(outcome(` ${text}`));
    },
  );
});

describe('the shortcuts for seven fraction digits (the .NET service) and for epoch milliseconds give what the full parse gives', () => {
  // Fields anywhere near valid (impossible dates and times too), seven digits, any zone the shortcut might misread.
  const sevenDigits = fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }).map(pad(4)),
      fc.integer({ min: 0, max: 13 }).map(pad(2)),
      fc.integer({ min: 0, max: 32 }).map(pad(2)),
      fc.integer({ min: 0, max: 24 }).map(pad(2)),
      fc.integer({ min: 0, max: 60 }).map(pad(2)),
      fc.integer({ min: 0, max: 60 }).map(pad(2)),
      fc.oneof(fc.integer({ min: 0, max: 9_999_999 }).map(pad(7)), fc.constantFrom('9999999', '9999995', '9999994', '0000005', '1234560', '5000000'), fc.stringMatching(/^[0-9a]{7}$/)),
      fc.oneof(
        fc.constantFrom('Z', 'z', '+00:00', '-00:00'),
        fc.tuple(fc.constantFrom('+', '-', '~'), fc.integer({ min: 0, max: 16 }).map(pad(2)), fc.constantFrom(':', '.'), fc.integer({ min: 0, max: 60 }).map(pad(2))).map((parts) => parts.join('')),
      ),
    )
    .map(([year, month, day, hour, minute, second, fraction, zone]) => `${year}-${month}-${day}T${hour}:${minute}:${second}.${fraction}${zone}`);

  test('seven digits: the rounded text and the flag, or undefined where the full parse decides', () => {
    let taken = 0;
    fc.assert(
      fc.property(sevenDigits, (text) => {
        const rounded = sevenDigitUtcText(text);
        if (rounded === undefined) return;
        taken += 1;
        expect({ text: rounded, roundedAway: sevenDigitRoundedAway(text) }).toEqual(outcome(text));
      }),
      { numRuns: 20_000 },
    );
    expect(taken).toBeGreaterThan(2_000);
  });

  test.each([
    ['2024-01-02T03:04:05.1234567Z', '2024-01-02T03:04:05.123457Z', true],
    ['2024-01-02T03:04:05.1234564Z', '2024-01-02T03:04:05.123456Z', true],
    ['2024-01-02T03:04:05.1234560Z', '2024-01-02T03:04:05.123456Z', false],
    ['2024-01-02T03:04:05.0999996Z', '2024-01-02T03:04:05.100000Z', true],
    ['2024-01-02T03:04:05.1234567+05:30', '2024-01-01T21:34:05.123457Z', true],
    ['2024-12-31T23:59:59.9999996Z', undefined, true],
    ['2024-01-02T03:04:05.1234565Z', undefined, true],
    ['2024-02-30T03:04:05.1234567Z', undefined, true],
    ['2024-01-02T03:04:05.123456Z', undefined, true],
  ] as const)('%s → %s', (text, expected, roundedAway) => {
    expect(sevenDigitUtcText(text)).toBe(expected);
    if (expected !== undefined) expect(outcome(text)).toEqual({ text: expected, roundedAway });
  });

  test('epoch milliseconds: digits alone up to the year 9999, as a number or as text', () => {
    const digits = fc.oneof(
      fc.bigInt({ min: 0n, max: 253_402_300_799_999n }).map(String),
      fc.bigInt({ min: 0n, max: 999_999_999_999_999n }).map(String),
      fc.stringMatching(/^[0-9]{1,16}$/),
      fc.stringMatching(/^[0-9.e+-]{1,14}$/),
      fc.constantFrom('0', '000', '253402300800000', '253402300799999', '1704164645000', ''),
    );
    let taken = 0;
    fc.assert(
      fc.property(digits, (text) => {
        const utc = epochMillisUtcText(text);
        if (utc === undefined) return;
        taken += 1;
        expect({ text: utc, roundedAway: false }).toEqual(outcome(N(text)));
        expect({ text: utc, roundedAway: false }).toEqual(outcome(text));
      }),
      { numRuns: 20_000 },
    );
    expect(taken).toBeGreaterThan(5_000);
    expect(epochMillisUtcText('253402300800000')).toBeUndefined();
    expect(epochMillisUtcText('1704164645000')).toBe('2024-01-02T03:04:05.000000Z');
  });
});
