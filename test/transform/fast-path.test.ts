// The fast path of the data entities (typed attributes → COPY text) against the full path (the
// item's tree → zod → row objects → prepareRecord): for every item the fast path vouches for, the
// same COPY text, row ids and source id; every other item goes the full way, which decides its
// reject. Generated items (fast-check), then whole reads of the fixtures, a seeded export and the
// bad-input corpus through the record reader, with and without the typed pages.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createExportSource } from '../../src/extract/export-source.js';
import { addFannedRecord, prepareRecord, runColumnsOf } from '../../src/load/prepare-record.js';
import { copyTextOf, EncodedRecordsBuilder, rowIdsOf, sourceIdOf } from '../../src/load/encoded-records.js';
import { FlatItem, fromAttributeMap, fromAttributeValue, type TypedItem } from '../../src/model/dynamodb-json.js';
import { scanExportLine, scanTypedItem } from '../../src/extract/export-line-scan.js';
import { typedExtraJson } from '../../src/transform/compiled-fields.js';
import { transcodedExtraJson } from '../../src/transform/typed-extra-text.js';
import { legacyExtraJson } from '../../src/transform/legacy-extra.js';
import { DATA_ENTITIES, defaultTableNames, type DataEntity } from '../../src/model/entities.js';
import { seed } from '../../src/seed/index.js';
import {
  dataRowsOf,
  sharedDataValues,
  SHARED_DATA_COLUMNS,
  linkRowOf,
  fannedRowIds,
  LinkIndex,
  LinkLookups,
  mapGoalKpiLink,
  mapKpiActual,
  parseKpi,
  parsePerson,
  typedKpi,
  typedPerson,
  mapKpiMilestone,
  mapKpiReading,
  typedGoalKpiLink,
  flatGoalKpiLink,
  migratedLinkOf,
  type MigratedLink,
  typedKpiActual,
  typedKpiMilestone,
  typedKpiReading,
  flatKpiActual,
  flatKpiMilestone,
  flatKpiReading,
  type LegacyItem,
  type MappingResult,
  type TypedDataRecord,
} from '../../src/transform/index.js';
import type { KpiDataRow } from '../../src/model/rows.js';
import * as corpus from '../faults/bad-input-corpus.js';
import { SMALL_FIXTURE_DIR } from '../../src/seed/write-fixtures.js';
import { FannedRows } from '../../src/validate/expectations.js';
import { RowReconciliation } from '../../src/validate/row-reconciliation.js';
import { CONTRACT_COLUMNS, KEY_COLUMNS } from '../../src/validate/target-columns.js';
import { fullPathOnly, readAll } from '../support/whole-read.js';

import { RUN_ID } from '../support/whole-read.js';
const TENANT = '0b7c3a52-8f55-4d3b-9f5e-3c0c3f1a0001';
const KPI = '5d1f0c8e-2a4b-4c6d-8e0f-1a2b3c4d0001';
const LINKS = ['cccccccc-0000-4000-8000-00000000000b', 'cccccccc-0000-4000-8000-00000000000a', 'cccccccc-0000-4000-8000-00000000000c'];

const FULL: Record<DataEntity, (item: LegacyItem, links: LinkIndex) => MappingResult<KpiDataRow>> = {
  KpiMilestone: mapKpiMilestone,
  KpiActual: mapKpiActual,
  KpiReading: mapKpiReading,
};
const FLAT: Record<DataEntity, (item: FlatItem) => TypedDataRecord | undefined> = {
  KpiMilestone: flatKpiMilestone,
  KpiActual: flatKpiActual,
  KpiReading: flatKpiReading,
};
const FAST: Record<DataEntity, (typed: TypedItem) => TypedDataRecord | undefined> = {
  KpiMilestone: typedKpiMilestone,
  KpiActual: typedKpiActual,
  KpiReading: typedKpiReading,
};

function linkIndex(count: number): LinkIndex {
  const links = new LinkIndex();
  LINKS.slice(0, count).forEach((id, at) => links.add({ id, tenantId: TENANT, kpiId: KPI, isPrimary: at === 1, sourceId: id }));
  return links;
}

type Outcome = { ok: true; sourceId: string; rowIds: readonly string[]; copyText: string } | { ok: false; what: string };

/** The full path, as the record reader takes an item that is not vouched for. */
function fullOutcome(entity: DataEntity, typed: TypedItem, links: LinkIndex): Outcome {
  let item: LegacyItem;
  try {
    item = fromAttributeMap(typed as Record<string, object>);
  } catch {
    return { ok: false, what: 'unreadable' };
  }
  const mapped = FULL[entity](item, links);
  if (!mapped.ok) return { ok: false, what: mapped.reject.reason };
  const prepared = prepareRecord(entity, { sourceId: mapped.rows[0]!.source_id, item, rows: mapped.rows }, RUN_ID);
  if (!prepared.ok) return { ok: false, what: prepared.reject.reason };
  const { sourceId, rowIds, copyText } = prepared.record;
  return { ok: true, sourceId, rowIds, copyText };
}

/** The fast path, or undefined where it does not vouch for the item. */
function fastOutcome(entity: DataEntity, typed: TypedItem, links: LinkIndex): Outcome | undefined {
  const record = FAST[entity](typed);
  if (record === undefined) return undefined;
  const rows = fannedRowIds(entity, record.key, links);
  if (rows.length === 0) return undefined;
  // Written after another record, as in a batch: the rows after the first copy bytes of this record's own.
  const batch = new EncodedRecordsBuilder(64);
  batch.add('before', ['00000000-0000-0000-0000-000000000000'], 'a line before\n');
  if (!addFannedRecord(batch, record.sourceId, record.sharedFields, rows, runColumnsOf(RUN_ID))) return undefined;
  const encoded = batch.finish();
  return { ok: true, sourceId: sourceIdOf(encoded, 1), rowIds: rowIdsOf(encoded, 1), copyText: copyTextOf(encoded, 1) };
}

// ---- generated items ---------------------------------------------------------------------------

const S = (value: unknown) => ({ S: value });
const N = (value: unknown) => ({ N: value });

// Each kind: values the contract accepts (most of them), then near misses and anything at all.
const guid = fc.oneof(
  fc.uuid(),
  fc.uuid().map((id) => id.toUpperCase()),
  fc.uuid().map((id) => `{${id}}`),
  fc.uuid().map((id) => ` ${id}\t`),
  fc.constantFrom(TENANT, KPI, TENANT.toUpperCase(), `{${KPI}}`),
);
const notGuid = fc.oneof(fc.string({ maxLength: 40 }), fc.uuid().map((id) => `${id}}`), fc.uuid().map((id) => id.replaceAll('-', '')));
const timestamp = fc.oneof(
  fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((date) => date.toISOString()),
  fc.constantFrom(
    '2024-01-02T03:04:05Z',
    '2024-01-02T03:04:05.1Z',
    '2024-01-02T03:04:05.123456Z',
    '2024-01-02T03:04:05.1234567Z',
    '2024-01-02T03:04:05.1234565Z',
    '2024-01-02t03:04:05z',
    '2024-01-02 03:04:05+01:00',
    '2024-01-02T03:04:05-0530',
    '2024-12-31',
    '1704164645000',
    ' 2024-01-02T03:04:05Z ',
  ),
  // The .NET service's round-trip form: seven digits, rounded to the microsecond (a tie takes the full parse).
  fc
    .tuple(
      fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
      fc.integer({ min: 0, max: 9999 }),
      fc.constantFrom('Z', '+05:30', '-08:00', '+00:00'),
    )
    .map(([date, tail, zone]) => `${date.toISOString().slice(0, 23)}${String(tail).padStart(4, '0')}${zone}`),
  fc.bigInt({ min: 0n, max: 253_402_300_799_999n }).map(String),
);
const notTimestamp = fc.oneof(fc.constantFrom('2024-02-30T00:00:00Z', '2024-01-02T24:00:00Z', '2024-01-02T03:04:05+16:00', '99999-01-01', '2024-01-02T03:04:05'), fc.string({ maxLength: 30 }));
const decimal = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.constantFrom('0', '-0', '1.50', '+1.5E+3', '.5', '5.', ' 7 ', '12345678901234567890.123456789012345678', '1', '5', '6'),
);
const notDecimal = fc.oneof(fc.constantFrom('NaN', 'Infinity', '1e400', '1.2.3', ''), fc.string({ maxLength: 12 }));
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('tab\there', 'back\\slash', 'line\nbreak\r', 'nul\u0000', 'lone \uD800 surrogate', 'pair \uD83D\uDE00', '', 'true', 'FALSE', 'Manual', 'integration', 'import', 'calculated', 'other'),
);
const anyTyped: fc.Arbitrary<unknown> = fc.oneof(
  guid.map(S),
  notGuid.map(S),
  timestamp.map(S),
  notTimestamp.map(S),
  timestamp.map(N),
  decimal.map(N),
  notDecimal.map(N),
  decimal.map(S),
  text.map(S),
  fc.boolean().map((value) => ({ BOOL: value })),
  fc.constant({ NULL: true }),
  fc.constantFrom({ NULL: false }, { BOOL: 'false' }, { S: 5 }, { N: 1 }, {}, null, 'bare', { S: 'a', N: '1' }, { S: undefined, N: '2' }),
  fc.constantFrom({ L: [] }, { L: [{ S: 'x' }, { N: '1' }] }, { M: { a: { S: 'b' } } }, { SS: ['b', 'a'] }, { NS: ['2', '1.50'] }, { B: 'AP8=' }, { B: 'not base64!' }, { BS: ['AAE='] }),
  // Sets and binary of any members, well formed or not (legacy_extra writes them without a tree).
  fc.array(text, { maxLength: 4 }).map((members) => ({ SS: members })),
  fc.array(fc.oneof(decimal, notDecimal), { maxLength: 4 }).map((members) => ({ NS: members })),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => ({ B: Buffer.from(bytes).toString('base64') })),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => ({ B: bytes })),
  fc.array(fc.oneof(fc.uint8Array({ maxLength: 6 }).map((bytes) => Buffer.from(bytes).toString('base64')), fc.uint8Array({ maxLength: 6 })), { maxLength: 3 }).map((members) => ({ BS: members })),
  fc.constantFrom({ B: 'AB==' }, { B: 'AAB=' }, { B: 'A===' }, { B: null }, { B: 5 }, { SS: 'a' }, { SS: ['a', 1] }, { NS: [1] }, { BS: 'AAE=' }, { BS: ['!'] }, { SS: ['a'], B: 'AA==' }, { NS: ['1'], SS: ['x'] }, { BS: [], NS: ['2'] }, { Q: 'x' }),
);

/** A typed value of any depth: maps (names in any order, `__proto__` among them) and lists of anyTyped, and maps beside another tag. */
const nestedTyped = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyTyped,
    fc.dictionary(fc.constantFrom('b', 'a', 'B', '__proto__', 'é', 'z'), tie('value'), { maxKeys: 4 }).map((members) => {
      const map: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(members)) Object.defineProperty(map, name, { value, enumerable: true, writable: true, configurable: true });
      return { M: map };
    }),
    fc.array(tie('value'), { maxLength: 4 }).map((members) => ({ L: members })),
    fc.tuple(tie('value'), anyTyped).map(([m, other]) => ({ ...(other as object), M: m })),
  ),
})).value;

/** Each attribute of the entity: often a value of its kind, sometimes anything, sometimes absent. */
function typedItem(attributes: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<TypedItem> {
  const known = Object.fromEntries(
    Object.entries(attributes).map(([name, good]) => [name, fc.oneof({ weight: 40, arbitrary: good }, { weight: 1, arbitrary: anyTyped }, { weight: 1, arbitrary: fc.constant(undefined) })]),
  );
  const extra = fc.dictionary(fc.constantFrom('Extra', 'RowVersion', 'Audit', '__proto__', 'constructor', 'Zeta'), anyTyped, { maxKeys: 3 });
  return fc.tuple(fc.record(known), extra).map(([values, extras]) => {
    const item: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(extras)) Object.defineProperty(item, name, { value, enumerable: true, writable: true, configurable: true });
    for (const [name, value] of Object.entries(values)) if (value !== undefined) item[name] = value;
    return item;
  });
}

const keyAttributes = { Id: guid.map(S), TenantId: fc.constantFrom(TENANT, TENANT.toUpperCase(), `{${TENANT}}`).map(S), KpiId: fc.constantFrom(KPI, ` ${KPI}`, `{${KPI.toUpperCase()}}`).map(S) };
const actor = fc.oneof(guid, text).map(S);
const boolean = fc.oneof(fc.boolean().map((value) => ({ BOOL: value })), fc.constantFrom('true', 'False', 'yes').map(S), fc.constantFrom('0', '1', '2', '1.0').map(N));
const dataSource = fc.constantFrom('Manual', 'integration', 'IMPORT', 'calculated', 'spreadsheet', '').map(S);

const GENERATED: Record<DataEntity, fc.Arbitrary<TypedItem>> = {
  KpiMilestone: typedItem({
    ...keyAttributes,
    TargetValue: decimal.map(N),
    MilestoneDate: timestamp.map(S),
    Label: text.map(S),
    ConfidenceLevel: decimal.map(N),
    Rationale: text.map(S),
    CreatedBy: actor,
    CreatedAt: timestamp.map(S),
    UpdatedBy: actor,
    UpdatedAt: timestamp.map(S),
  }),
  KpiActual: typedItem({
    ...keyAttributes,
    ActualValue: decimal.map(N),
    MeasurementDate: timestamp.map(S),
    OriginalValue: decimal.map(N),
    IsManualOverride: boolean,
    OverrideComment: text.map(S),
    DataSource: dataSource,
    SourceReferenceId: text.map(S),
    TriggersReplan: boolean,
    ReplanThresholdExceeded: boolean,
    AutoAdjustmentApplied: fc.oneof(boolean, text.map(S)),
    RecordedBy: actor,
    RecordedAt: timestamp.map(S),
  }),
  KpiReading: typedItem({
    ...keyAttributes,
    Value: decimal.map(N),
    ReadingDate: timestamp.map(S),
    PeriodStart: timestamp.map(S),
    Source: dataSource,
    ExternalRef: text.map(S),
    Notes: text.map(S),
    ReadBy: actor,
    ReadAt: timestamp.map(S),
  }),
};

// ---- links -------------------------------------------------------------------------------------

const OWNER = 'aaaaaaaa-0000-4000-8000-000000000001';
const PERSON = 'bbbbbbbb-0000-4000-8000-000000000001';

function linkLookups(): LinkLookups {
  const lookups = new LinkLookups();
  lookups.addKpi({ id: KPI, tenantId: TENANT, ownerId: OWNER });
  lookups.addPerson({ id: PERSON, tenantId: TENANT, linkedUserId: OWNER });
  return lookups;
}

function fullLinkOutcome(typed: TypedItem, lookups: LinkLookups): Outcome & { personFallback?: boolean; link?: MigratedLink } {
  let item: LegacyItem;
  try {
    item = fromAttributeMap(typed as Record<string, object>);
  } catch {
    return { ok: false, what: 'unreadable' };
  }
  const mapped = mapGoalKpiLink(item, lookups);
  if (!mapped.ok) return { ok: false, what: mapped.reject.reason };
  const prepared = prepareRecord('GoalKpiLink', { sourceId: mapped.rows[0]!.source_id, item, rows: mapped.rows }, RUN_ID);
  if (!prepared.ok) return { ok: false, what: prepared.reject.reason };
  const { sourceId, rowIds, copyText } = prepared.record;
  return { ok: true, sourceId, rowIds, copyText, personFallback: mapped.personFallback, link: migratedLinkOf(mapped.rows[0]!) };
}

function fastLinkOutcome(typed: TypedItem, lookups: LinkLookups): (Outcome & { personFallback?: boolean; link?: MigratedLink }) | undefined {
  const record = typedGoalKpiLink(typed, lookups);
  if (record === undefined) return undefined;
  return { ok: true, sourceId: record.sourceId, rowIds: [record.rowId], copyText: `${record.fields}\t${RUN_ID}\t${RUN_ID}\n`, personFallback: record.personFallback, link: record.link };
}

const generatedLink = typedItem({
  ...keyAttributes,
  GoalId: guid.map(S),
  ThresholdPct: decimal.map(N),
  LinkType: fc.constantFrom('primary', 'Supporting', 'MONITORING', ' primary ', 'other', '').map(S),
  Weight: decimal.map(N),
  DisplayOrder: fc.constantFrom('0', '3', '3.0', '3E+0', '-2147483648', '2147483648', '1.5').map(N),
  IsPrimary: boolean,
  CreatedBy: fc.oneof(guid, fc.constant(OWNER)).map(S),
  CreatedAt: timestamp.map(S),
  UpdatedBy: guid.map(S),
  UpdatedAt: timestamp.map(S),
});

describe('the fast path of each migrated entity', () => {
  test('Kpi and Person (the lookups): what the fast path vouches for is what the full parse gives', () => {
    let vouched = 0;
    const kpi = typedItem({ ...keyAttributes, Name: text.map(S), OwnerId: guid.map(S) });
    const person = typedItem({ ...keyAttributes, DisplayName: text.map(S), LinkedUserId: guid.map(S) });
    fc.assert(
      fc.property(kpi, person, (kpiTyped, personTyped) => {
        for (const [typed, fast, full] of [
          [kpiTyped, typedKpi, parseKpi],
          [personTyped, typedPerson, parsePerson],
        ] as const) {
          const value = fast(typed);
          if (value === undefined) continue;
          vouched += 1;
          expect(full(fromAttributeMap(typed as Record<string, object>))).toEqual({ ok: true, value });
        }
      }),
      { numRuns: 1500 },
    );
    expect(vouched).toBeGreaterThan(50);
  });

  test('GoalKpiLink: what the fast path vouches for is byte for byte what the full path gives', () => {
    let vouched = 0;
    const lookups = linkLookups();
    fc.assert(
      fc.property(generatedLink, (typed) => {
        const fast = fastLinkOutcome(typed, lookups);
        if (fast === undefined) return;
        vouched += 1;
        expect(fullLinkOutcome(typed, lookups)).toEqual(fast);
      }),
      { numRuns: 1500 },
    );
    expect(vouched).toBeGreaterThan(50);
  });

  test('GoalKpiLink: what an export line read flat vouches for is what JSON.parse of it gives through the typed fast path', () => {
    const lookups = linkLookups();
    const flat = new FlatItem();
    let scanned = 0;
    fc.assert(
      fc.property(generatedLink, (typed) => {
        const line = JSON.stringify({ Item: typed });
        if (!scanExportLine(line, flat)) return;
        const fromFlat = flatGoalKpiLink(flat, lookups);
        if (fromFlat === undefined) return;
        scanned += 1;
        expect(fromFlat).toEqual(typedGoalKpiLink((JSON.parse(line) as { Item: TypedItem }).Item, lookups));
      }),
      { numRuns: 1500 },
    );
    expect(scanned).toBeGreaterThan(50);
  });

  test('GoalKpiLink: the row read back from the fast path\'s COPY fields is the full path\'s row, with the same person fallback and known KPI (what validation reconciles)', () => {
    let compared = 0;
    const lookups = linkLookups();
    const seen = new Set<string>();
    // Some links of a KPI the lookups do not hold: the person then comes from CreatedBy, found or not.
    const anyKpiLink = fc.tuple(generatedLink, fc.option(fc.uuid(), { freq: 3 })).map(([typed, kpi]) => (kpi === null ? typed : { ...typed, KpiId: S(kpi) }));
    fc.assert(
      fc.property(anyKpiLink, (typed) => {
        const record = typedGoalKpiLink(typed, lookups);
        if (record === undefined) return;
        const mapped = mapGoalKpiLink(fromAttributeMap(typed as Record<string, object>), lookups);
        if (!mapped.ok) throw new Error('the fast path vouched for a link the full path rejects');
        compared += 1;
        seen.add(`${record.kpiKnown} ${record.personFallback}`);
        expect({ rows: [linkRowOf(record)], personFallback: record.personFallback, kpiKnown: record.kpiKnown }).toEqual({
          rows: mapped.rows,
          personFallback: mapped.personFallback,
          kpiKnown: mapped.kpiKnown,
        });
      }),
      { numRuns: 1500 },
    );
    expect(compared).toBeGreaterThan(50);
    expect([...seen].sort()).toEqual(['false false', 'false true', 'true false']);
  });

  test('legacy_extra straight from typed JSON is what legacyExtraText writes of the legacy value (or no value at all)', () => {
    let values = 0;
    fc.assert(
      fc.property(nestedTyped, (typed) => {
        let expected: string | undefined;
        try {
          expected = legacyExtraJson(fromAttributeValue(typed as object));
          values += 1;
        } catch {
          expected = undefined;
        }
        expect(typedExtraJson(typed)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
    expect(values).toBeGreaterThan(500);
  });

  test("legacy_extra from an attribute's typed JSON text, without a tree, is what it is from the parsed value (or the parsed value decides)", () => {
    let transcoded = 0;
    const sameAnswer = (text: string): void => {
      const fast = transcodedExtraJson(text);
      if (fast === undefined) return;
      transcoded += 1;
      expect(fast).toBe(typedExtraJson(JSON.parse(text)));
    };
    fc.assert(
      fc.property(nestedTyped, fc.boolean(), (typed, spaced) => {
        const text = JSON.stringify(typed, null, spaced ? 1 : undefined) as string | undefined;
        if (text !== undefined) sameAnswer(text);
      }),
      { numRuns: 3000 },
    );
    // About one value in five: half are written with whitespace, and many hold a string with an escape.
    expect(transcoded).toBeGreaterThan(300);
    // Forms JSON.stringify never writes: a name twice (JSON.parse keeps the last), escapes, another member.
    for (const text of [
      '{"M":{"a":{"S":"x"},"a":{"S":"y"}}}',
      '{"M":{"b":{"N":"1"},"a":{"S":"\\u00e9"}}}',
      '{"S":"a\\"b"}',
      '{"SS":["b","a\\/"]}',
      '{"S":"a","N":"1"}',
      '{"N":"1","S":"a"}',
      '{"M":{"a":{"S":"x"}},"L":[]}',
      '{"L":[{"S":"x"},]}',
      '{"NULL":false}',
      '{"BOOL":"true"}',
      '{"B":"AB=="}',
      '{"NS":["1.50"," 2 ","x"]}',
      '{"M":{}}',
      '{"L":[]}',
    ]) {
      sameAnswer(text);
    }
  });

  for (const entity of DATA_ENTITIES) {
    test(`${entity}: what the fast path vouches for is byte for byte what the full path gives`, () => {
      let vouched = 0;
      fc.assert(
        fc.property(GENERATED[entity], fc.integer({ min: 0, max: 3 }), (typed, linkCount) => {
          const links = linkIndex(linkCount);
          const fast = fastOutcome(entity, typed, links);
          if (fast === undefined) return;
          vouched += 1;
          expect(fullOutcome(entity, typed, links)).toEqual(fast);
        }),
        { numRuns: 1500 },
      );
      // The property would hold of a fast path that vouched for nothing.
      expect(vouched).toBeGreaterThan(50);
    });
  }

  for (const entity of DATA_ENTITIES) {
    test(`${entity}: what an export line read flat vouches for is what JSON.parse of it gives through the typed fast path`, () => {
      const flat = new FlatItem();
      let scanned = 0;
      fc.assert(
        fc.property(GENERATED[entity], (typed) => {
          const line = JSON.stringify({ Item: typed });
          // A Scan answer's item is the same JSON without the line's wrapper, at its place in the answer.
          const answer = `{"Items":[${JSON.stringify(typed)}]}`;
          const itemAt = answer.indexOf('[') + 1;
          const asItem = new FlatItem();
          const scannedAsItem = scanTypedItem(answer, itemAt, answer.length - 2, asItem);
          if (!scanExportLine(line, flat)) {
            expect(scannedAsItem).toBe(false);
            return;
          }
          expect(scannedAsItem).toBe(true);
          expect(FLAT[entity](asItem)).toEqual(FLAT[entity](flat));
          // Read flat, a value object of two members ({"S":"a","N":"1"}) is left to the full path: it may vouch for less.
          const fromFlat = FLAT[entity](flat);
          if (fromFlat === undefined) return;
          scanned += 1;
          const parsed = (JSON.parse(line) as { Item: TypedItem }).Item;
          expect(fromFlat).toEqual(FAST[entity](parsed));
        }),
        { numRuns: 1500 },
      );
      expect(scanned).toBeGreaterThan(50);
    });
  }

  for (const entity of DATA_ENTITIES) {
    test(`${entity}: the rows read back from the fast path's COPY fields are the full path's rows (what validation reconciles), and so are their bucket figures read from the fields alone`, () => {
      let compared = 0;
      fc.assert(
        fc.property(GENERATED[entity], fc.integer({ min: 1, max: 3 }), fc.subarray([...SHARED_DATA_COLUMNS.keys()]), (typed, linkCount, indexes) => {
          const links = linkIndex(linkCount);
          const record = FAST[entity](typed);
          if (record === undefined) return;
          const mapped = FULL[entity](fromAttributeMap(typed as Record<string, object>), links);
          if (!mapped.ok) return;
          compared += 1;
          expect(dataRowsOf(record, fannedRowIds(entity, record.key, links))).toEqual(mapped.rows);
          // Any shared columns read alone are what the whole rows hold.
          const row = mapped.rows[0] as unknown as Record<string, unknown>;
          expect(sharedDataValues(record, indexes)).toEqual(indexes.map((index) => row[SHARED_DATA_COLUMNS[index]!]));
          for (const columns of [KEY_COLUMNS.kpi_data, CONTRACT_COLUMNS.kpi_data]) {
            const fromFields = new RowReconciliation('kpi_data', columns);
            fromFields.addFanned(new FannedRows(record, fannedRowIds(entity, record.key, links)));
            const fromRows = new RowReconciliation('kpi_data', columns);
            for (const mappedRow of mapped.rows) fromRows.add(mappedRow);
            expect(fromFields.expected.rows).toBe(mapped.rows.length);
            expect(fromFields.expected.buckets).toEqual(fromRows.expected.buckets);
          }
        }),
        { numRuns: 1500 },
      );
      expect(compared).toBeGreaterThan(50);
    });
  }

  test('an export line in any form but the plain one is left to JSON.parse, and a name given twice to the full path', () => {
    const flat = new FlatItem();
    const plain = '{"Item":{"Id":{"S":"dddddddd-0000-4000-8000-000000000001"},"Note":{"S":"a \\"quoted\\" \\u00e9 word"},"Audit":{"M":{"b":{"L":[{"S":"}"}]}}}}}';
    expect(scanExportLine(plain, flat)).toBe(true);
    expect(flat.names.slice(0, flat.count)).toEqual(['Id', 'Note', 'Audit']);
    expect(flat.texts[1]).toBe('a "quoted" é word');
    expect(flat.raw(2)).toEqual({ M: { b: { L: [{ S: '}' }] } } });
    for (const line of [
      '{"Item": {"Id":{"S":"x"}}}',
      '{"Item":{"Id":{"S":"x"}},"Extra":1}',
      '{"Item":{"I\\u0064":{"S":"x"}}}',
      '{"Item":{"Id":{"S":"bad \\x escape"}}}',
      '{"Item":{"Id":{"S":"raw\ttab"}}}',
      '{"Item":{"Id":{"S":"x"}}',
      '{"Item":{"Id":"bare"}}',
    ]) {
      expect(scanExportLine(line, flat), line).toBe(false);
    }
    const twice = '{"Item":{"Id":{"S":"dddddddd-0000-4000-8000-000000000001"},"TenantId":{"S":"' + TENANT + '"},"KpiId":{"S":"' + KPI + '"},"Value":{"N":"1"},"Value":{"N":"2"},"ReadingDate":{"S":"2024-01-02T03:04:05Z"},"ReadBy":{"S":"x"},"ReadAt":{"S":"2024-01-02T03:04:05Z"}}}';
    expect(scanExportLine(twice, flat)).toBe(true);
    expect(flatKpiReading(flat)).toBeUndefined();
  });

  test('vouches for the plain items of the fixtures and a seeded export, and for items with attributes it does not know', async () => {
    // Checked below through the whole reader; here, that the fast path is really taken.
    const links = linkIndex(2);
    const plain: TypedItem = {
      Id: S('dddddddd-0000-4000-8000-000000000001'),
      TenantId: S(TENANT),
      KpiId: S(KPI),
      Value: N('12.5'),
      ReadingDate: S('2024-01-02T03:04:05Z'),
      Source: S('Manual'),
      ReadBy: S('{AAAAAAAA-0000-4000-8000-000000000001}'),
      ReadAt: S('2024-01-02T03:04:05.1234567+01:00'),
      Audit: { M: { By: { S: 'x' }, Flags: { L: [{ BOOL: true }, { NULL: true }] } } },
    };
    const fast = fastOutcome('KpiReading', plain, links);
    expect(fast).toBeDefined();
    expect(fullOutcome('KpiReading', plain, links)).toEqual(fast);
  });
});

// ---- whole reads through the record reader ------------------------------------------------------

describe('a whole read with the fast path and without it', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'kpi-fast-path-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function expectSameRead(dir: string): Promise<void> {
    const source = createExportSource({ dir, tableNames: defaultTableNames(), allowMissingTables: true });
    expect(source.readTypedTable).toBeDefined();
    const withFastPath = await readAll(source);
    const fullPath = await readAll(fullPathOnly(source));
    expect(withFastPath).toEqual(fullPath);
  }

  test('the small fixtures', async () => {
    await expectSameRead(path.join(SMALL_FIXTURE_DIR, 'export'));
  });

  test('a seeded export with every kind of bad record', async () => {
    const dir = path.join(work, 'seeded');
    await seed({ items: 3000, seed: 11, out: dir, format: 'export' });
    await expectSameRead(dir);
  });

  test('an aws dynamodb scan dump (its pages typed in name only)', async () => {
    await expectSameRead(path.join(SMALL_FIXTURE_DIR, 'scan'));
  });

  test('the bad-input corpus', async () => {
    const dir = path.join(work, 'corpus');
    const tables = defaultTableNames();
    const write = async (entity: keyof typeof tables, lines: string[]) => {
      await mkdir(path.join(dir, tables[entity]), { recursive: true });
      await writeFile(path.join(dir, tables[entity], 'part-00000.json'), `${lines.join('\n')}\n`);
    };
    await write('Kpi', corpus.lookups.Kpi);
    await write('Person', corpus.lookups.Person);
    await write('GoalKpiLink', corpus.lookups.GoalKpiLink);
    await write('KpiMilestone', [
      ...corpus.loadedCases().map((c) => c.line),
      ...corpus.rejectedCases().map((c) => c.line),
      ...corpus.unreadableLineCases().map((c) => c.line),
      '',
      'a line\rsplit by a lone return',
    ]);
    await expectSameRead(dir);
  });
});
