import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { coerceDecimal, coerceTimestamp } from '../../src/transform/coerce.js';
import { mapGoalKpiLink } from '../../src/transform/goal-kpi-link.js';
import { mapKpiActual, kpiActualSchema } from '../../src/transform/kpi-actual.js';
import { mapKpiMilestone, kpiMilestoneSchema } from '../../src/transform/kpi-milestone.js';
import { mapKpiReading, kpiReadingSchema } from '../../src/transform/kpi-reading.js';
import { goalKpiLinkSchema } from '../../src/transform/goal-kpi-link.js';
import { kpiSchema, parseKpi } from '../../src/transform/kpi.js';
import { personSchema, parsePerson } from '../../src/transform/person.js';
import { isLegacyMap, LegacySet, type LegacyItem, type LegacyValue } from '../../src/model/legacy-value.js';
import { LinkIndex } from '../../src/transform/link-index.js';
import { LinkLookups } from '../../src/transform/lookups.js';
import { REJECT_REASONS, type MappingResult, type Reject } from '../../src/model/reject.js';
import { KPI_DATA_COLUMNS, KPI_LINK_COLUMNS } from '../../src/model/rows.js';
import {
  actualItem,
  KPI,
  kpiItem,
  LINK_A,
  LINK_B,
  linkItem,
  milestoneItem,
  N,
  OWNER_PERSON,
  OWNER_USER,
  personItem,
  readingItem,
  TENANT,
} from './legacy-items.js';

// ---- arbitraries ---------------------------------------------------------------------------

const digits = (maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength });

interface DecimalParts {
  sign: string;
  integer: string;
  fraction: string | undefined;
  exponent: { e: string; sign: string; value: number } | undefined;
}

/** A decimal as the legacy store may write it, with at most 38 significant digits. */
const decimalText: fc.Arbitrary<DecimalParts> = fc
  .record({
    sign: fc.constantFrom('', '+', '-'),
    integer: digits(38),
    fraction: fc.option(digits(38), { nil: undefined }),
    exponent: fc.option(fc.record({ e: fc.constantFrom('e', 'E'), sign: fc.constantFrom('', '+', '-'), value: fc.integer({ min: 0, max: 130 }) }), {
      nil: undefined,
    }),
  })
  .filter(({ integer, fraction }) => {
    const all = integer + (fraction ?? '');
    return all.length > 0 && all.replace(/^0+/, '').replace(/0+$/, '').length <= 38;
  });

const writeDecimal = (parts: DecimalParts): string =>
  `${parts.sign}${parts.integer}${parts.fraction === undefined ? '' : `.${parts.fraction}`}` +
  (parts.exponent === undefined ? '' : `${parts.exponent.e}${parts.exponent.sign}${parts.exponent.value}`);

/** What PostgreSQL's numeric prints for the same input, computed another way: with a BigInt. */
function expectedNumeric(parts: DecimalParts): string {
  const fraction = parts.fraction ?? '';
  const exponent = parts.exponent === undefined ? 0 : (parts.exponent.sign === '-' ? -1 : 1) * parts.exponent.value;
  const scale = Math.max(0, fraction.length - exponent);
  const unscaled = BigInt(parts.integer + fraction || '0') * 10n ** BigInt(exponent - fraction.length + scale);
  const text = unscaled.toString().padStart(scale + 1, '0');
  const plain = scale === 0 ? text : `${text.slice(0, -scale)}.${text.slice(-scale)}`;
  // Canonical form: a DynamoDB number has no scale, so trailing fractional zeros are not facts.
  const canonical = plain.includes('.') ? plain.replace(/0+$/, '').replace(/\.$/, '') : plain;
  return parts.sign === '-' && unscaled !== 0n ? `-${canonical}` : canonical;
}

const interestingText = fc.constantFrom(
  '',
  ' ',
  TENANT,
  KPI.toUpperCase(),
  `{${LINK_A}}`,
  'NaN',
  'Infinity',
  '1e99999999999999999999',
  '-0',
  'TRUE',
  'false',
  'Primary',
  'monitoring',
  'Integration',
  '2024-02-30',
  '2024-01-01T00:00:00.1234567Z',
  '2024-01-01T10:00:00',
  '9999999999999999999999',
  '\u0000',
  '\ud800',
);

const legacyLeaf: fc.Arbitrary<LegacyValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 12 }),
  interestingText,
  decimalText.map(writeDecimal),
  decimalText.map((parts) => N(writeDecimal(parts))),
  fc.string({ maxLength: 8 }).map(N),
  fc.constantFrom('1e1001', '-1E-1000', '1711843200000', '9224318016000000', '0', '1', '2').map(N),
  fc.uint8Array({ maxLength: 6 }),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }).map((values) => new LegacySet('SS', values)),
  fc.array(decimalText.map((parts) => N(writeDecimal(parts))), { maxLength: 3 }).map((values) => new LegacySet('NS', values)),
);

const { legacyValue } = fc.letrec<{ legacyValue: LegacyValue }>((tie) => ({
  legacyValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    legacyLeaf,
    fc.array(tie('legacyValue'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), tie('legacyValue'), { maxKeys: 3 }),
  ),
}));

/** Items of a table: each known attribute absent, valid, or anything at all; plus unknown attributes. */
function itemsOf(attributes: readonly string[], valid: LegacyItem): fc.Arbitrary<LegacyItem> {
  // Mostly valid values, so that both outcomes (rows and rejects) are exercised often.
  const attributeValue = (name: string) =>
    fc.oneof({ arbitrary: fc.constant(valid[name] ?? null), weight: 12 }, { arbitrary: legacyValue, weight: 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
  const known = fc
    .record(Object.fromEntries(attributes.map((name) => [name, attributeValue(name)])))
    .map((record) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as LegacyItem);
  const unknown = fc.dictionary(fc.constantFrom('Extra', 'Zeta', 'aLower', 'Nested', '__proto__', '123'), legacyValue, { maxKeys: 3 });
  return fc.tuple(known, unknown).map(([knownPart, unknownPart]) => {
    const item: LegacyItem = {};
    for (const [name, value] of [...Object.entries(unknownPart), ...Object.entries(knownPart)]) {
      Object.defineProperty(item, name, { value, enumerable: true, writable: true, configurable: true });
    }
    return item;
  });
}

/** The same item with its attributes (and those of nested maps) in reverse order. */
function reordered(value: LegacyValue): LegacyValue {
  if (Array.isArray(value)) return value.map(reordered);
  if (!isLegacyMap(value)) return value;
  const out: { [name: string]: LegacyValue } = {};
  for (const name of Object.keys(value).reverse()) {
    Object.defineProperty(out, name, { value: reordered(value[name]!), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// ---- the mappings under test ------------------------------------------------------------------

function lookups(): LinkLookups {
  const built = new LinkLookups();
  built.addKpi({ id: KPI, tenantId: TENANT, ownerId: OWNER_USER });
  built.addPerson({ id: OWNER_PERSON, tenantId: TENANT, linkedUserId: OWNER_USER });
  return built;
}

function links(): LinkIndex {
  const index = new LinkIndex();
  index.add({ id: LINK_A, tenantId: TENANT, kpiId: KPI, isPrimary: false, sourceId: LINK_A });
  index.add({ id: LINK_B, tenantId: TENANT, kpiId: KPI, isPrimary: true, sourceId: LINK_B });
  return index;
}

const tables = [
  { entity: 'GoalKpiLink', attributes: goalKpiLinkSchema.attributes, valid: linkItem(), map: (item: LegacyItem) => mapGoalKpiLink(item, lookups()) },
  { entity: 'KpiMilestone', attributes: kpiMilestoneSchema.attributes, valid: milestoneItem(), map: (item: LegacyItem) => mapKpiMilestone(item, links()) },
  { entity: 'KpiActual', attributes: kpiActualSchema.attributes, valid: actualItem(), map: (item: LegacyItem) => mapKpiActual(item, links()) },
  { entity: 'KpiReading', attributes: kpiReadingSchema.attributes, valid: readingItem(), map: (item: LegacyItem) => mapKpiReading(item, links()) },
] as const;

const CANONICAL_GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CANONICAL_TIMESTAMP = /^\d{4,6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const PLAIN_DECIMAL = /^-?\d+(\.\d+)?$/;

function expectWellFormedReject(reject: Reject, item: LegacyItem, entity: string): void {
  expect(REJECT_REASONS).toContain(reject.reason);
  expect(reject.sourceEntity).toBe(entity);
  expect(reject.message.length).toBeGreaterThan(0);
  expect(reject.item).toBe(item);
  expect(reject.sourceId).toBe(typeof item.Id === 'string' ? item.Id : null);
}

// ---- properties -------------------------------------------------------------------------------

describe('mappings are deterministic', () => {
  test.each(tables)('$entity: the same item, in any attribute order, maps to deep-equal output', ({ attributes, valid, map }) => {
    fc.assert(
      fc.property(itemsOf(attributes, valid), (item) => {
        const first = map(item);
        expect(map(item)).toEqual(first);
        const again = map(reordered(item) as LegacyItem);
        expect(again).toEqual(first);
        if (first.ok && again.ok) {
          expect(again.rows.map((row) => row.legacy_extra)).toEqual(first.rows.map((row) => row.legacy_extra));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('numbers survive exactly', () => {
  test('random decimals of up to 38 significant digits, as N and as string, come out digit for digit', () => {
    fc.assert(
      fc.property(decimalText, (parts) => {
        const text = writeDecimal(parts);
        const expected = expectedNumeric(parts);
        for (const value of [N(text), text]) {
          const coerced = coerceDecimal(value);
          expect(coerced).toEqual({ ok: true, value: expected });
          const mapped = mapKpiActual(actualItem({ ActualValue: value, OriginalValue: value }), links());
          if (!mapped.ok) throw new Error(mapped.reject.message);
          for (const row of mapped.rows) {
            expect(row.post_value).toBe(expected);
            expect(row.original_value).toBe(expected);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('numbers in unknown attributes keep their exact value in legacy_extra, in the same canonical form as the columns', () => {
    fc.assert(
      fc.property(decimalText, (parts) => {
        const text = writeDecimal(parts);
        const mapped = mapKpiReading(readingItem({ Extra: N(text) }), links());
        if (!mapped.ok) throw new Error(mapped.reject.message);
        expect(mapped.rows[0]!.legacy_extra).toBe(`{"Extra":${expectedNumeric(parts)}}`);
      }),
      { numRuns: 100 },
    );
  });
});

describe('timestamps agree with an independent calendar (Date, milliseconds)', () => {
  const instants = fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 });

  test('epoch milliseconds', () => {
    fc.assert(
      fc.property(instants, (ms) => {
        const result = coerceTimestamp(N(String(ms)));
        expect(result.ok && result.value.text).toBe(new Date(ms).toISOString().replace('Z', '000Z'));
      }),
    );
  });

  test('ISO-8601 with any offset', () => {
    fc.assert(
      fc.property(instants, fc.integer({ min: -(15 * 60 + 59), max: 15 * 60 + 59 }), (ms, offsetMinutes) => {
        const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, -1);
        if (local.startsWith('+') || local.startsWith('-')) return;
        const sign = offsetMinutes < 0 ? '-' : '+';
        const abs = Math.abs(offsetMinutes);
        const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        const result = coerceTimestamp(`${local}${zone}`);
        expect(result.ok && result.value.text).toBe(new Date(ms).toISOString().replace('Z', '000Z'));
      }),
    );
  });
});

describe('fuzz: any attribute values give rows or one reject, never an exception', () => {
  test.each(tables)('$entity', ({ entity, attributes, valid, map }) => {
    const outcomes = { rows: 0, rejects: 0 };
    fc.assert(
      fc.property(itemsOf(attributes, valid), (item) => {
        const result: MappingResult<Record<string, unknown>> = map(item) as MappingResult<never>;
        if (!result.ok) {
          outcomes.rejects += 1;
          expectWellFormedReject(result.reject, item, entity);
          return;
        }
        outcomes.rows += 1;
        expect(result.rows.length).toBeGreaterThan(0);
        const columns: readonly string[] = entity === 'GoalKpiLink' ? KPI_LINK_COLUMNS : KPI_DATA_COLUMNS;
        for (const row of result.rows) {
          expect(Object.keys(row).sort()).toEqual([...columns].sort());
          expect(row.id).toMatch(CANONICAL_GUID);
          expect(row.source_id).toBe(item.Id);
          expect(() => JSON.parse(row.legacy_extra as string)).not.toThrow();
          const timestamp = entity === 'GoalKpiLink' ? row.created_at : row.post_date;
          expect(timestamp).toMatch(CANONICAL_TIMESTAMP);
          const value = entity === 'GoalKpiLink' ? (row.weight ?? '0') : row.post_value;
          expect(value).toMatch(PLAIN_DECIMAL);
        }
      }),
      { numRuns: 400 },
    );
    // Both outcomes must have been exercised for the property to mean anything.
    expect(outcomes.rows).toBeGreaterThan(0);
    expect(outcomes.rejects).toBeGreaterThan(0);
  });

  test.each([
    { entity: 'Kpi', attributes: kpiSchema.attributes, valid: kpiItem(), parse: parseKpi },
    { entity: 'Person', attributes: personSchema.attributes, valid: personItem(), parse: parsePerson },
  ] as const)('$entity lookups', ({ entity, attributes, valid, parse }) => {
    fc.assert(
      fc.property(itemsOf(attributes, valid), (item) => {
        const result = parse(item);
        if (!result.ok) expectWellFormedReject(result.reject, item, entity);
      }),
      { numRuns: 200 },
    );
  });

  test('a valid item with random unknown attributes always maps', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((name) => !(name in actualItem())), legacyValue, { maxKeys: 4 }), (extra) => {
        const item = { ...actualItem(), ...extra };
        const result = mapKpiActual(item, links());
        expect(result.ok).toBe(true);
        if (result.ok) expect(Object.keys(JSON.parse(result.rows[0]!.legacy_extra)).sort()).toEqual(Object.keys(extra).sort());
      }),
      { numRuns: 150 },
    );
  });
});
