import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import {
  canonicalGuid,
  coerceActor,
  coerceBoolean,
  coerceConfidenceLevel,
  coerceDataSource,
  coerceDecimal,
  coerceDisplayOrder,
  coerceFlagText,
  coerceGuid,
  coerceLinkType,
  coerceText,
  type AttributeInput,
  type Coercion,
} from '../../src/transform/coerce.js';
import { LegacySet } from '../../src/model/legacy-value.js';
import { canonicalTenantOf } from '../../src/transform/tenant.js';
import { N } from './legacy-items.js';

const GUID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
const A_MAP: AttributeInput = { S: 'looks like DynamoDB JSON but is a map' };

function valueOf<T>(result: Coercion<T>): T {
  if (!result.ok) throw new Error(`expected a value, got ${result.reason}: ${result.message}`);
  return result.value;
}

function reasonOf<T>(result: Coercion<T>): string {
  if (result.ok) throw new Error(`expected a problem, got ${JSON.stringify(result.value)}`);
  return result.reason;
}

describe('GUIDs: any case, with or without braces → lowercase 8-4-4-4-12', () => {
  test.each([
    [GUID, GUID],
    [GUID.toUpperCase(), GUID],
    [`{${GUID}}`, GUID],
    [`{${GUID.toUpperCase()}}`, GUID],
    ['3F2504E0-4f89-11D3-9a0c-0305E82C3301', GUID],
    [`  ${GUID}  `, GUID],
  ])('accepts %j', (input, expected) => {
    expect(valueOf(coerceGuid(input))).toBe(expected);
  });

  test.each([
    'not-a-guid',
    `{${GUID}`,
    `${GUID}}`,
    GUID.replaceAll('-', ''),
    `${GUID}0`,
    '3f2504e0-4f89-11d3-9a0c-0305e82c33zz',
    `(${GUID})`,
  ])('refuses %j as invalid_id', (input) => {
    expect(reasonOf(coerceGuid(input))).toBe('invalid_id');
  });

  test('a GUID written canonically takes a shortcut that gives what the full parse gives', () => {
    // A leading space keeps a text off the shortcut (the full parse trims it): both must agree.
    const hexish = fc.constantFrom(...'0123456789abcdefABCDEFg-{} ');
    fc.assert(
      fc.property(fc.oneof(fc.uuid(), fc.string({ unit: hexish, minLength: 36, maxLength: 36 })), (text) => {
        expect(canonicalGuid(text)).toBe(canonicalGuid(` ${text}`));
      }),
      { numRuns: 5000 },
    );
  });

  test('a value of the wrong type is invalid_value, absent is missing_field', () => {
    expect(reasonOf(coerceGuid(N('123')))).toBe('invalid_value');
    expect(reasonOf(coerceGuid(A_MAP))).toBe('invalid_value');
    expect(reasonOf(coerceGuid(true))).toBe('invalid_value');
    for (const absent of [undefined, null, '']) expect(reasonOf(coerceGuid(absent))).toBe('missing_field');
  });
});

test('the tenant of an item, for tenant filters, is its canonical TenantId', () => {
  expect(canonicalTenantOf({ TenantId: `{${GUID.toUpperCase()}}` })).toBe(GUID);
  expect(canonicalTenantOf({ TenantId: 'acme' })).toBeUndefined();
  expect(canonicalTenantOf({ TenantId: N('1') })).toBeUndefined();
  expect(canonicalTenantOf({})).toBeUndefined();
});

describe('numbers: N or numeric string → exact canonical decimal text (no trailing fractional zeros), never a float', () => {
  test.each([
    [N('42'), '42'],
    ['42', '42'],
    ['+1.5', '1.5'],
    [N('1.5E+3'), '1500'],
    ['1.5e3', '1500'],
    ['1.50E+1', '15'],
    ['1.50', '1.5'],
    ['1e-3', '0.001'],
    ['-12.5E-2', '-0.125'],
    ['-0.00', '0'],
    ['.5', '0.5'],
    ['5.', '5'],
    ['007.10', '7.1'],
    [' 12 ', '12'],
    [N('12345678901234567890123456789012345678'), '12345678901234567890123456789012345678'],
    [N('0.12345678901234567890123456789012345678'), '0.12345678901234567890123456789012345678'],
    ['-9.9999999999999999999999999999999999999E+125', `-99999999999999999999999999999999999999${'0'.repeat(88)}`],
    [N('1E-130'), `0.${'0'.repeat(129)}1`],
    ['1e1001', `1${'0'.repeat(1001)}`],
    ['0.0e-3', '0'],
  ])('accepts %o as %s', (input, expected) => {
    expect(valueOf(coerceDecimal(input))).toBe(expected);
  });

  test.each(['NaN', 'Infinity', '-Infinity', 'abc', '1,5', '1.2.3', '.', 'e5', '1e', '0x1F', '1e131072', '1e-16384', '1e99999999999', '1 000', '--1', '1_000'])(
    'refuses %j as invalid_value',
    (input) => {
      expect(reasonOf(coerceDecimal(input))).toBe('invalid_value');
      expect(reasonOf(coerceDecimal(N(input)))).toBe('invalid_value');
    },
  );

  test('refuses other types and reports absent as missing', () => {
    expect(reasonOf(coerceDecimal(true))).toBe('invalid_value');
    expect(reasonOf(coerceDecimal(A_MAP))).toBe('invalid_value');
    expect(reasonOf(coerceDecimal(new LegacySet('NS', [N('1')])))).toBe('invalid_value');
    expect(reasonOf(coerceDecimal(null))).toBe('missing_field');
  });
});

describe('integers: DisplayOrder within int4, ConfidenceLevel 1–5', () => {
  test.each([
    [N('3'), 3],
    ['3', 3],
    [N('3.0'), 3],
    [N('30E-1'), 3],
    [N('-2147483648'), -2147483648],
    [N('2147483647'), 2147483647],
    [N('0'), 0],
  ])('DisplayOrder accepts %o', (input, expected) => {
    expect(valueOf(coerceDisplayOrder(input))).toBe(expected);
  });

  test.each([N('2147483648'), N('-2147483649'), N('1.5'), N('1e100'), 'three', true])('DisplayOrder refuses %o as invalid_value', (input) => {
    expect(reasonOf(coerceDisplayOrder(input))).toBe('invalid_value');
  });

  test('ConfidenceLevel accepts 1 to 5 only', () => {
    for (const level of ['1', '2', '3', '4', '5']) expect(valueOf(coerceConfidenceLevel(N(level)))).toBe(Number(level));
    expect(valueOf(coerceConfidenceLevel('5.00'))).toBe(5);
    for (const wrong of ['0', '6', '2.5', '-1']) expect(reasonOf(coerceConfidenceLevel(N(wrong)))).toBe('invalid_value');
  });
});

describe('booleans: BOOL, N 0/1, "true"/"false" in any case; absent is false', () => {
  test.each([
    [true, true],
    [false, false],
    [N('1'), true],
    [N('0'), false],
    [N('1.0'), true],
    ['true', true],
    ['FALSE', false],
    [' True ', true],
    [undefined, false],
    [null, false],
    ['', false],
  ])('accepts %o as %s', (input, expected) => {
    expect(valueOf(coerceBoolean(input))).toBe(expected);
  });

  test.each([N('2'), N('-1'), N('0.5'), 'yes', '1', 'on', A_MAP, [true]])('refuses %o as invalid_value', (input) => {
    expect(reasonOf(coerceBoolean(input))).toBe('invalid_value');
  });
});

describe('enums in any case, lowercase out', () => {
  test.each([
    ['Primary', 'primary'],
    ['SUPPORTING', 'supporting'],
    [' monitoring ', 'monitoring'],
    [undefined, 'supporting'],
    [null, 'supporting'],
    ['', 'supporting'],
  ])('LinkType %o → %s', (input, expected) => {
    expect(valueOf(coerceLinkType(input))).toBe(expected);
  });

  test.each([
    ['Manual', 'manual'],
    ['INTEGRATION', 'integration'],
    ['import', 'import'],
    ['Calculated', 'calculated'],
    [undefined, 'manual'],
    [null, 'manual'],
    ['', 'manual'],
  ])('DataSource/Source %o → %s', (input, expected) => {
    expect(valueOf(coerceDataSource(input))).toBe(expected);
  });

  test('an unknown word is unknown_enum, a wrong type invalid_value', () => {
    expect(reasonOf(coerceLinkType('Secondary'))).toBe('unknown_enum');
    expect(reasonOf(coerceDataSource('api'))).toBe('unknown_enum');
    expect(reasonOf(coerceLinkType(N('1')))).toBe('invalid_value');
    expect(reasonOf(coerceDataSource(A_MAP))).toBe('invalid_value');
  });
});

describe('text: kept exactly as written', () => {
  test.each([
    ['Year end', 'Year end'],
    ['  padded  ', '  padded  '],
    ['nul \u0000 inside', 'nul \u0000 inside'],
    ['emoji 📈 and ü', 'emoji 📈 and ü'],
    [N('1.50E+3'), '1.50E+3'],
  ])('keeps %o', (input, expected) => {
    expect(valueOf(coerceText(input))).toBe(expected);
  });

  test('a map, list or boolean is invalid_value; absent is missing_field', () => {
    expect(reasonOf(coerceText(A_MAP))).toBe('invalid_value');
    expect(reasonOf(coerceText(['a']))).toBe('invalid_value');
    expect(reasonOf(coerceText(true))).toBe('invalid_value');
    expect(reasonOf(coerceText(''))).toBe('missing_field');
  });

  test('*_by text columns canonicalise a GUID and keep anything else', () => {
    expect(valueOf(coerceActor(`{${GUID.toUpperCase()}}`))).toBe(GUID);
    expect(valueOf(coerceActor('system'))).toBe('system');
    expect(valueOf(coerceActor('user@example.com'))).toBe('user@example.com');
    expect(valueOf(coerceActor(N('7')))).toBe('7');
  });

  test('AutoAdjustmentApplied: boolean-like → "true"/"false", other text and numbers kept', () => {
    expect(valueOf(coerceFlagText(true))).toBe('true');
    expect(valueOf(coerceFlagText(false))).toBe('false');
    expect(valueOf(coerceFlagText('FALSE'))).toBe('false');
    expect(valueOf(coerceFlagText(N('1')))).toBe('true');
    expect(valueOf(coerceFlagText('partial'))).toBe('partial');
    expect(valueOf(coerceFlagText(N('2')))).toBe('2');
    expect(reasonOf(coerceFlagText(A_MAP))).toBe('invalid_value');
  });
});
