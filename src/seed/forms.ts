import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { Rng } from './prng.js';

/**
 * The messy-but-valid shapes legacy values take (contract §1), and the broken ones used on
 * purpose. Numbers are built as digit strings: nothing here goes through a JS float.
 */

type Choices<T> = readonly (readonly [T, number])[];

/**
 * Picks a form per attribute. Records meant to migrate (`cover`) take every form once, in
 * order, before forms are picked by weight: even a small data set shows every form.
 */
export class FormPicker {
  private readonly taken = new Map<string, number>();

  choose<T>(key: string, choices: Choices<T>, rng: Rng, cover: boolean): T {
    if (cover) {
      const next = this.taken.get(key) ?? 0;
      if (next < choices.length) {
        this.taken.set(key, next + 1);
        return (choices[next] as readonly [T, number])[0];
      }
    }
    return rng.weighted(choices);
  }

  /** True while a covered key still has forms no record took. */
  covering(key: string, forms: number): boolean {
    return (this.taken.get(key) ?? 0) < forms;
  }
}

// ---- optional attributes -------------------------------------------------------------------

export type OptionalForm = 'present' | 'absent' | 'null' | 'empty';
export const OPTIONAL_FORMS: Choices<OptionalForm> = [
  ['present', 70],
  ['absent', 18],
  ['null', 6],
  ['empty', 6],
];

export type NothingForm = Exclude<OptionalForm, 'present'>;
export const NOTHING_FORMS: Choices<NothingForm> = [
  ['absent', 60],
  ['null', 20],
  ['empty', 20],
];

/** How an optional (or deliberately missing) attribute says "nothing": `undefined` = absent. */
export function nothing(form: NothingForm): AttributeValue | undefined {
  if (form === 'null') return { NULL: true };
  if (form === 'empty') return { S: '' };
  return undefined;
}

// ---- GUIDs -----------------------------------------------------------------------------------

export type GuidForm = 'lower' | 'upper' | 'braced' | 'braced-upper' | 'mixed-case';
export const GUID_FORMS: Choices<GuidForm> = [
  ['lower', 80],
  ['upper', 8],
  ['braced', 5],
  ['braced-upper', 4],
  ['mixed-case', 3],
];

export function guidText(canonical: string, form: GuidForm, rng: Rng): string {
  switch (form) {
    case 'lower':
      return canonical;
    case 'upper':
      return canonical.toUpperCase();
    case 'braced':
      return `{${canonical}}`;
    case 'braced-upper':
      return `{${canonical.toUpperCase()}}`;
    case 'mixed-case': {
      let out = '';
      let flip = false;
      for (const c of canonical) {
        if (/[a-f]/.test(c)) {
          // Alternating guarantees both cases appear, whatever the letters.
          out += flip || rng.chance(0.3) ? c.toUpperCase() : c;
          flip = !flip;
        } else out += c;
      }
      return out;
    }
  }
}

/** A malformed GUID that is still unique to its record (it may be a table key). */
export function malformedGuid(canonical: string, rng: Rng): string {
  const variant = rng.int(4);
  if (variant === 0) return canonical.slice(0, -3);
  if (variant === 1) return `${canonical.slice(0, 9)}zz${canonical.slice(11)}`;
  if (variant === 2) return `${canonical.replaceAll('-', '')}-00`;
  return `legacy-${canonical.slice(0, 8)}`;
}

/** A malformed GUID for a reference attribute (need not be unique). */
export function malformedReference(canonical: string, rng: Rng): string {
  return rng.pick(['not-a-guid', 'N/A', 'tenant-42', 'j.doe@example.com', canonical.slice(0, -3), `${canonical.slice(0, 9)}zz${canonical.slice(11)}`]);
}

// ---- numbers -------------------------------------------------------------------------------

export type NumberForm =
  | 'n-decimal'
  | 'n-integer'
  | 'n-negative'
  | 'n-38-digits'
  | 'n-38-fraction'
  | 'n-exponent'
  | 'n-max'
  | 'n-zero'
  | 's-decimal'
  | 's-integer'
  | 's-exponent'
  | 's-38-digits';
export const NUMBER_FORMS: Choices<NumberForm> = [
  ['n-decimal', 40],
  ['n-integer', 20],
  ['n-negative', 5],
  ['n-38-digits', 5],
  ['n-38-fraction', 3],
  ['n-exponent', 5],
  ['n-max', 1],
  ['n-zero', 2],
  ['s-decimal', 8],
  ['s-integer', 4],
  ['s-exponent', 3],
  ['s-38-digits', 2],
];

/** 38 significant digits, the most DynamoDB keeps; the last digit is not zero so all 38 count. */
export function thirtyEightDigits(rng: Rng): string {
  return `${rng.digits(20, true)}.${rng.digits(17)}${1 + rng.int(9)}`;
}

export function numberValue(form: NumberForm, rng: Rng): AttributeValue {
  const decimal = () => `${rng.int(100000)}.${rng.digits(1 + rng.int(4))}`;
  switch (form) {
    case 'n-decimal':
      return { N: decimal() };
    case 'n-integer':
      return { N: String(rng.int(1_000_000)) };
    case 'n-negative':
      return { N: `-${rng.int(5000)}.${rng.digits(2)}${1 + rng.int(9)}` };
    case 'n-38-digits':
      return { N: thirtyEightDigits(rng) };
    case 'n-38-fraction':
      return { N: `0.${rng.digits(37, true)}${1 + rng.int(9)}` };
    case 'n-exponent': {
      const exponent = rng.chance(0.5) ? `+${rng.between(1, 9)}` : `-${rng.between(1, 9)}`;
      return { N: `${1 + rng.int(9)}.${rng.digits(3)}E${exponent}` };
    }
    case 'n-max':
      // The largest number DynamoDB accepts; PostgreSQL's numeric holds it exactly.
      return { N: '9.9999999999999999999999999999999999999E+125' };
    case 'n-zero':
      return { N: '0' };
    case 's-decimal':
      return { S: `${rng.int(10000)}.${rng.digits(1)}0` };
    case 's-integer':
      return { S: String(rng.int(10000)) };
    case 's-exponent':
      return { S: `${1 + rng.int(9)}.${rng.digits(2)}e${rng.between(1, 6)}` };
    case 's-38-digits':
      return { S: thirtyEightDigits(rng) };
  }
}

export function invalidNumber(rng: Rng): AttributeValue {
  return rng.pick<AttributeValue>([
    { S: 'TBD' },
    { S: 'n/a' },
    { S: '12.5.1' },
    { S: '1,234.50' },
    { BOOL: true },
    { M: { Amount: { N: '5' } } },
  ]);
}

// ---- small integers ----------------------------------------------------------------------------

export type ConfidenceForm = 'n' | 's';
export const CONFIDENCE_FORMS: Choices<ConfidenceForm> = [
  ['n', 8],
  ['s', 2],
];
export function confidenceValue(form: ConfidenceForm, rng: Rng): AttributeValue {
  const level = String(rng.between(1, 5));
  return form === 'n' ? { N: level } : { S: level };
}
export function invalidConfidence(rng: Rng): AttributeValue {
  return rng.pick<AttributeValue>([{ N: '0' }, { N: '6' }, { S: '9' }, { N: '-1' }, { S: 'high' }]);
}

export type Int4Form = 'n-small' | 's-small' | 'n-negative' | 'n-int4-max' | 'n-int4-min';
export const INT4_FORMS: Choices<Int4Form> = [
  ['n-small', 70],
  ['s-small', 15],
  ['n-negative', 5],
  ['n-int4-max', 2],
  ['n-int4-min', 1],
];
export function int4Value(form: Int4Form, rng: Rng): AttributeValue {
  switch (form) {
    case 'n-small':
      return { N: String(rng.int(20)) };
    case 's-small':
      return { S: String(rng.int(20)) };
    case 'n-negative':
      return { N: String(-1 - rng.int(5)) };
    case 'n-int4-max':
      return { N: '2147483647' };
    case 'n-int4-min':
      return { N: '-2147483648' };
  }
}
export function invalidInt4(rng: Rng): AttributeValue {
  return rng.pick<AttributeValue>([{ N: '2147483648' }, { S: '-2147483649' }, { N: '10000000000' }, { S: 'first' }]);
}

// ---- booleans --------------------------------------------------------------------------------

export type BoolForm = 'bool' | 'n-0-1' | 's-lower' | 's-upper' | 's-title';
export const BOOL_FORMS: Choices<BoolForm> = [
  ['bool', 60],
  ['n-0-1', 15],
  ['s-lower', 10],
  ['s-upper', 8],
  ['s-title', 7],
];
export function boolValue(form: BoolForm, value: boolean): AttributeValue {
  const text = String(value);
  switch (form) {
    case 'bool':
      return { BOOL: value };
    case 'n-0-1':
      return { N: value ? '1' : '0' };
    case 's-lower':
      return { S: text };
    case 's-upper':
      return { S: text.toUpperCase() };
    case 's-title':
      return { S: text[0]!.toUpperCase() + text.slice(1) };
  }
}
/**
 * The boolean a value written by boolValue (or left out by nothing(): absent, NULL, empty) stands
 * for, read by the generator itself so that its expectations never depend on the transform.
 */
export function boolOf(value: AttributeValue | undefined): boolean {
  if (value === undefined || value.NULL === true) return false;
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.N !== undefined) return value.N === '1';
  return value.S?.toLowerCase() === 'true';
}
export function invalidBool(rng: Rng): AttributeValue {
  return rng.pick<AttributeValue>([{ S: 'yes' }, { N: '2' }, { S: 'maybe' }, { S: 'Y' }, { N: '-1' }]);
}

/** AutoAdjustmentApplied: only "true"/"false" strings, valid whether it is read as text or as a boolean. */
export function flagValue(rng: Rng): AttributeValue {
  return { S: rng.pick(['true', 'false', 'True', 'FALSE']) };
}

// ---- timestamps ------------------------------------------------------------------------------

export type TimestampForm = 'iso-ms-z' | 'iso-z' | 'iso-offset' | 'date-only' | 'epoch-ms' | 'iso-7-z' | 'iso-7-offset';
export const TIMESTAMP_FORMS: Choices<TimestampForm> = [
  ['iso-ms-z', 45],
  ['iso-z', 10],
  ['iso-offset', 10],
  ['date-only', 10],
  ['epoch-ms', 10],
  ['iso-7-z', 10],
  ['iso-7-offset', 5],
];

const FIRST_INSTANT = Date.UTC(2019, 0, 1);
const SPAN_SECONDS = 7 * 365 * 86400;

/** An instant in 2019–2025, in whole milliseconds (as JS numbers: these are not legacy numbers). */
export function randomInstant(rng: Rng): number {
  return FIRST_INSTANT + rng.int(SPAN_SECONDS) * 1000 + rng.int(1000);
}

const OFFSETS_MINUTES = [120, -300, 330, 0, -480, 545, 60];

function withOffset(instant: number, offsetMinutes: number, fraction: string): string {
  const local = new Date(instant + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${local}${fraction}${zone}`;
}

export function timestampValue(form: TimestampForm, instant: number, rng: Rng): AttributeValue {
  const iso = new Date(instant).toISOString();
  const millis = iso.slice(20, 23);
  switch (form) {
    case 'iso-ms-z':
      return { S: iso };
    case 'iso-z':
      return { S: `${iso.slice(0, 19)}Z` };
    case 'iso-offset':
      return { S: withOffset(instant, rng.pick(OFFSETS_MINUTES), `.${millis}`) };
    case 'date-only':
      return { S: iso.slice(0, 10) };
    case 'epoch-ms':
      return { N: String(instant) };
    case 'iso-7-z':
      // .NET's round-trip format: seven fractional digits.
      return { S: `${iso.slice(0, 19)}.${millis}${rng.digits(4)}Z` };
    case 'iso-7-offset':
      return { S: withOffset(instant, rng.pick(OFFSETS_MINUTES), `.${millis}${rng.digits(4)}`) };
  }
}

export function invalidTimestamp(rng: Rng): AttributeValue {
  return rng.pick<AttributeValue>([
    { S: 'yesterday' },
    { S: '2023-13-01' },
    { S: 'Q3 2024' },
    { S: '31/12/2023' },
    { S: 'not a date' },
    { BOOL: false },
  ]);
}

// ---- enums -----------------------------------------------------------------------------------

export type EnumForm = 'pascal' | 'upper' | 'lower' | 'mixed-case';
export const ENUM_FORMS: Choices<EnumForm> = [
  ['pascal', 70],
  ['upper', 12],
  ['lower', 12],
  ['mixed-case', 6],
];
export function enumText(value: string, form: EnumForm): string {
  switch (form) {
    case 'pascal':
      return value;
    case 'upper':
      return value.toUpperCase();
    case 'lower':
      return value.toLowerCase();
    case 'mixed-case':
      return [...value].map((c, i) => (i % 2 === 0 ? c.toLowerCase() : c.toUpperCase())).join('');
  }
}
export const UNKNOWN_ENUM_VALUES: Record<string, readonly string[]> = {
  LinkType: ['Critical', 'Secondary', 'Tertiary'],
  DataSource: ['Spreadsheet', 'API', 'Manual Entry'],
  Source: ['Sensor', 'Estimate', 'Survey'],
};

// ---- text ------------------------------------------------------------------------------------

export type TextForm = 'plain' | 'unicode' | 'escapes' | 'long';
export const TEXT_FORMS: Choices<TextForm> = [
  ['plain', 80],
  ['unicode', 10],
  ['escapes', 8],
  ['long', 2],
];

const PLAIN_TEXT = [
  'Q1 target',
  'Stretch goal',
  'Baseline',
  'Year-end commitment',
  'Mid-year checkpoint',
  'Revised after board review',
  'Agreed with finance',
  'Carried over from 2021 plan',
  'Monthly close',
  'Imported from the old spreadsheet',
];
const UNICODE_TEXT = [
  'Zielwert für Q3 – ambitioniert',
  '目標値（第2四半期）',
  'Objectif révisé ✔',
  'Meta 📈 crecimiento',
  'Ünïcödé ñ ß Ø',
  'Цель на квартал',
];
// COPY text format and JSON both escape these: the load stage must get them right.
const ESCAPED_TEXT = [
  'He said "stretch", not "safe"',
  'C:\\legacy\\exports\\kpi.csv',
  'line one\nline two',
  'tab\tseparated\tvalues',
  'windows\r\nline ending',
  'back\\slash, "quotes" and a \\N that is not NULL',
  'semi;colon,comma|pipe',
];

export function textValue(form: TextForm, rng: Rng): string {
  switch (form) {
    case 'plain':
      return rng.pick(PLAIN_TEXT);
    case 'unicode':
      return rng.pick(UNICODE_TEXT);
    case 'escapes':
      return rng.pick(ESCAPED_TEXT);
    case 'long':
      return Array.from({ length: 20 + rng.int(30) }, () => rng.pick(PLAIN_TEXT)).join('. ');
  }
}

/** Valid for the mapping, refused by PostgreSQL (text cannot hold NUL): a db_error on purpose. */
export function textWithNul(rng: Rng): string {
  return `${rng.pick(PLAIN_TEXT)}\u0000(corrupted by the old export)`;
}

const FIRST_NAMES = ['Ana', 'Bilal', 'Chen', 'Dagny', 'Émile', 'Fatima', 'Gustav', 'Hiro', 'Ines', 'Jonas', 'Kwame', 'Léa'];
const LAST_NAMES = ['Okafor', 'Müller', "O'Brien", 'Nakamura', 'García', 'Smith', 'Kowalski', 'Haddad', 'Lindqvist'];
export function personName(rng: Rng): string {
  return `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
}

const KPI_SUBJECTS = ['Revenue', 'Churn', 'NPS', 'Active users', 'Gross margin', 'Lead time', 'Tickets closed', 'CO₂ per unit'];
const KPI_QUALIFIERS = ['(EMEA)', '– monthly', 'per region', '[legacy]', 'Q/Q', 'YoY %'];
export function kpiName(rng: Rng): string {
  return `${rng.pick(KPI_SUBJECTS)} ${rng.pick(KPI_QUALIFIERS)}`;
}

/** Who wrote a fact record: usually a user GUID, sometimes a service account (these are text columns). */
export const SERVICE_ACCOUNTS = ['system', 'import-service', 'svc:nightly-sync'];

export function externalReference(rng: Rng): string {
  return `${rng.pick(['SF-OPP', 'ERP', 'JIRA', 'GA4'])}-${rng.digits(6)}`;
}

// ---- attributes the mapping does not know ----------------------------------------------------

export type UnknownKind = 'S' | 'N' | 'M' | 'L' | 'SS' | 'NS' | 'B' | 'BS' | 'BOOL' | 'NULL';
export const UNKNOWN_KINDS: Choices<UnknownKind> = [
  ['S', 20],
  ['N', 15],
  ['M', 15],
  ['L', 10],
  ['SS', 10],
  ['NS', 10],
  ['B', 8],
  ['BS', 4],
  ['BOOL', 5],
  ['NULL', 3],
];

function bytes(rng: Rng, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => rng.int(256));
}

/** An attribute the mapping must keep in legacy_extra, under a name no known attribute has. */
export function unknownAttribute(kind: UnknownKind, rng: Rng): [string, AttributeValue] {
  switch (kind) {
    case 'S':
      return [rng.pick(['Comment', 'x_legacy_flag', 'ImportBatch']), { S: rng.pick(['keep', 'v1-sql', 'needs review', 'ü ✔ "q"']) }];
    case 'N':
      return [rng.pick(['LegacyVersion', 'RowVersion']), rng.chance(0.5) ? { N: String(rng.int(50)) } : { N: thirtyEightDigits(rng) }];
    case 'M':
      return [
        'Audit',
        {
          M: {
            ImportedFrom: { S: 'kpi-service-v1' },
            Batch: { N: String(rng.int(1000)) },
            Flags: { L: [{ BOOL: true }, { NULL: true }, { S: 'x' }] },
            Nested: { M: { Depth: { N: '2' }, Checksum: { B: bytes(rng, 4) } } },
          },
        },
      ];
    case 'L':
      return ['History', { L: [{ M: { At: { S: '2020-02-02T02:02:02Z' }, By: { S: 'migration-2020' } } }, { N: thirtyEightDigits(rng) }, { S: '' }] }];
    case 'SS':
      return ['Tags', { SS: ['okr', rng.pick(['q1', 'q2', 'q3', 'q4']), 'legacy'] }];
    case 'NS':
      return ['Scores', { NS: ['1.5', thirtyEightDigits(rng), `-${1 + rng.int(99)}`] }];
    case 'B':
      return ['Thumbnail', { B: bytes(rng, 8 + rng.int(16)) }];
    case 'BS':
      return ['Attachments', { BS: [Uint8Array.from([0, 1, 2, 255]), bytes(rng, 6)] }];
    case 'BOOL':
      return ['IsArchived', { BOOL: rng.chance(0.5) }];
    case 'NULL':
      return ['ObsoleteField', { NULL: true }];
  }
}
