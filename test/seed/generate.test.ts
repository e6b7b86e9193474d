import { describe, expect, it } from 'vitest';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DATA_ENTITIES, LEGACY_ENTITIES, type DataEntity, type LegacyEntity } from '../../src/model/entities.js';
import { REJECT_REASONS, type RejectReason } from '../../src/model/reject.js';
import { generateLegacyData, planLegacyData, type GeneratedRecord } from '../../src/seed/generate.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The test's own reading of a GUID attribute: braces off, lowercase; null if malformed or empty. */
function canonical(value: AttributeValue | undefined): string | null {
  if (value?.S === undefined) return null;
  const text = value.S.replace(/^\{(.*)\}$/, '$1').toLowerCase();
  return GUID.test(text) ? text : null;
}

function recordsOf(items: number, seed: number, options: { nulInText?: boolean } = {}) {
  const plan = planLegacyData({ items, seed, ...options });
  const records = Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, [...plan.records(entity)]])) as Record<
    LegacyEntity,
    GeneratedRecord[]
  >;
  return { plan, records };
}

/** Every attribute value of a table, nested ones included, with its attribute name. */
function* attributes(items: readonly Record<string, AttributeValue>[]): Generator<[string, AttributeValue]> {
  function* walk(name: string, value: AttributeValue): Generator<[string, AttributeValue]> {
    yield [name, value];
    if (value.M) for (const [k, v] of Object.entries(value.M)) yield* walk(k, v);
    if (value.L) for (const v of value.L) yield* walk(name, v);
  }
  for (const item of items) for (const [name, value] of Object.entries(item)) yield* walk(name, value);
}

describe('generateLegacyData', () => {
  it('gives the same items for the same seed and different items for another seed', () => {
    const first = generateLegacyData({ items: 200, seed: 7 });
    const again = generateLegacyData({ items: 200, seed: 7 });
    const other = generateLegacyData({ items: 200, seed: 8 });
    expect(again).toEqual(first);
    expect(other.tables.KpiActual).not.toEqual(first.tables.KpiActual);
    // Tables are independent streams: rendering one alone gives the same items.
    expect([...planLegacyData({ items: 200, seed: 7 }).tableItems('KpiReading')]).toEqual(first.tables.KpiReading);
  });

  it('makes `items` fact records, about 30/40/30, and scales lookups and links with it', () => {
    const { expected } = generateLegacyData({ items: 1000, seed: 3 });
    const facts = DATA_ENTITIES.map((entity) => expected.tables[entity].read);
    expect(facts).toEqual([300, 400, 300]);
    expect(expected.tables.Kpi.read).toBeGreaterThanOrEqual(100);
    expect(expected.tables.Person.read).toBeGreaterThan(30);
    expect(expected.tables.GoalKpiLink.read).toBeGreaterThan(100);
  });

  it('refuses nonsense options, naming every problem', () => {
    expect(() => planLegacyData({ items: -1, seed: 1.5 })).toThrow(/items .*; seed/);
    expect(() => planLegacyData({ items: 10, seed: 1, tenants: 0 })).toThrow(/tenants/);
  });

  it('keeps table keys unique and only id_conflict records reuse an earlier entity’s Id', () => {
    const { records } = recordsOf(600, 11);
    for (const entity of LEGACY_ENTITIES) {
      const ids = records[entity].map((r) => r.item.Id?.S);
      expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
    }
    const migratedIds = new Map<string, DataEntity>();
    for (const entity of DATA_ENTITIES) {
      for (const record of records[entity]) {
        const id = canonical(record.item.Id);
        const earlier = id === null ? undefined : migratedIds.get(id);
        if (record.fate === 'id_conflict') {
          expect(earlier, `${entity} ${record.item.Id?.S}`).toBeDefined();
          expect(DATA_ENTITIES.indexOf(earlier!)).toBeLessThan(DATA_ENTITIES.indexOf(entity));
        } else {
          expect(earlier).toBeUndefined();
          if (record.fate === 'migrated') migratedIds.set(id!, entity);
        }
      }
    }
  });

  it('puts a NUL only into the text of db_error records, and leaves those out for a kv_store', () => {
    const { records } = recordsOf(600, 12);
    for (const entity of LEGACY_ENTITIES) {
      for (const record of records[entity]) {
        const withNul = [...attributes([record.item])].filter(([, v]) => v.S?.includes('\u0000')).map(([name]) => name);
        if (record.fate === 'db_error') expect(withNul).toHaveLength(1);
        else expect(withNul).toEqual([]);
      }
    }
    const kv = recordsOf(600, 12, { nulInText: false });
    const full = recordsOf(600, 12);
    for (const entity of DATA_ENTITIES) {
      expect(kv.records[entity].some((r) => r.fate === 'db_error')).toBe(false);
      const dbErrors = full.records[entity].filter((r) => r.fate === 'db_error').length;
      expect(kv.records[entity]).toHaveLength(full.records[entity].length - dbErrors);
      expect(kv.plan.expected().kpiDataRows).toEqual(full.plan.expected().kpiDataRows);
    }
  });
});

describe('every reject reason', () => {
  const applicable: Record<Exclude<LegacyEntity, 'Kpi' | 'Person'>, RejectReason[]> = {
    GoalKpiLink: ['missing_field', 'invalid_value', 'invalid_id', 'unknown_enum'],
    KpiMilestone: ['missing_field', 'invalid_value', 'invalid_id', 'no_kpi_link', 'db_error'],
    KpiActual: [...REJECT_REASONS],
    KpiReading: [...REJECT_REASONS],
  };

  it.each([30, 300])('appears for links and each fact entity where it applies (items %i)', (items) => {
    const { expected } = generateLegacyData({ items, seed: 5 });
    for (const [entity, reasons] of Object.entries(applicable)) {
      expect(Object.keys(expected.tables[entity as LegacyEntity].rejected).sort(), entity).toEqual([...reasons].sort());
    }
  });

  it('keeps the bad share near 4% once tables are big', () => {
    const { expected } = generateLegacyData({ items: 5000, seed: 9 });
    let read = 0;
    let rejected = 0;
    for (const entity of LEGACY_ENTITIES) {
      read += expected.tables[entity].read;
      rejected += Object.values(expected.tables[entity].rejected).reduce((a, b) => a + (b ?? 0), 0);
    }
    expect(rejected / read).toBeGreaterThan(0.03);
    expect(rejected / read).toBeLessThan(0.05);
  });

  it('gives every no_kpi_link record a KPI with no migrated link in its tenant, read from the items', () => {
    const { records } = recordsOf(2000, 13);
    const migratedLinks = new Map<string, number>();
    for (const link of records.GoalKpiLink) {
      if (link.fate !== 'migrated') continue;
      const key = `${canonical(link.item.KpiId)}|${canonical(link.item.TenantId)}`;
      migratedLinks.set(key, (migratedLinks.get(key) ?? 0) + 1);
    }
    const kpiIds = new Set(records.Kpi.map((r) => canonical(r.item.Id)));
    let unknownKpi = 0;
    for (const entity of DATA_ENTITIES) {
      for (const record of records[entity]) {
        const key = `${canonical(record.item.KpiId)}|${canonical(record.item.TenantId)}`;
        if (record.fate === 'no_kpi_link') {
          expect(migratedLinks.has(key)).toBe(false);
          if (!kpiIds.has(canonical(record.item.KpiId))) unknownKpi += 1;
        } else if (record.fate === 'migrated') {
          // Fan-out as the items say it, not as the plan says it.
          expect(migratedLinks.get(key)).toBe(record.fanOut);
        }
      }
    }
    expect(unknownKpi).toBeGreaterThan(0);
  });
});

describe('expected outcome', () => {
  it.each([30, 300, 2000])('is self-consistent and agrees with the generated records (items %i)', (items) => {
    const { plan, records } = recordsOf(items, 21);
    const expected = plan.expected();
    for (const entity of LEGACY_ENTITIES) {
      const table = expected.tables[entity];
      const rejected = Object.values(table.rejected).reduce((a, b) => a + (b ?? 0), 0);
      expect(table.read).toBe(table.migrated + rejected + table.skipped);
      expect(table.skipped).toBe(0);
      expect(table.read).toBe(records[entity].length);
      const byFate: Record<string, number> = {};
      for (const record of records[entity]) byFate[record.fate] = (byFate[record.fate] ?? 0) + 1;
      const { migrated, ...reasons } = byFate;
      expect(migrated ?? 0).toBe(table.migrated);
      expect(reasons).toEqual(table.rejected);
    }
    for (const entity of DATA_ENTITIES) {
      const rows = records[entity].filter((r) => r.fate === 'migrated').reduce((sum, r) => sum + r.fanOut, 0);
      expect(rows).toBe(expected.kpiDataRows[entity]);
      expect(records[entity].filter((r) => r.fate === 'migrated').every((r) => r.fanOut >= 1 && r.fanOut <= 4)).toBe(true);
    }
    expect(expected.kpiLinks).toBe(expected.tables.GoalKpiLink.migrated);
    expect(expected.personFallbacks).toBe(records.GoalKpiLink.filter((r) => r.personFallback).length);
  });

  it('counts person fallbacks as the contract resolves them, read from the items', () => {
    const { plan, records } = recordsOf(1500, 22);
    const owners = new Map<string, string | null>();
    for (const kpi of records.Kpi) owners.set(canonical(kpi.item.Id)!, canonical(kpi.item.OwnerId));
    const people = new Map<string, number>();
    for (const person of records.Person) {
      const user = canonical(person.item.LinkedUserId);
      if (user === null) continue;
      const key = `${canonical(person.item.TenantId)}|${user}`;
      people.set(key, (people.get(key) ?? 0) + 1);
    }
    expect([...people.values()].every((n) => n === 1)).toBe(true);
    let fallbacks = 0;
    let crossTenant = 0;
    for (const link of records.GoalKpiLink) {
      if (link.fate !== 'migrated') continue;
      const kpi = canonical(link.item.KpiId)!;
      const user = owners.get(kpi) ?? canonical(link.item.CreatedBy)!;
      if (!people.has(`${canonical(link.item.TenantId)}|${user}`)) fallbacks += 1;
      const kpiRecord = records.Kpi.find((r) => canonical(r.item.Id) === kpi);
      if (kpiRecord && canonical(kpiRecord.item.TenantId) !== canonical(link.item.TenantId)) crossTenant += 1;
    }
    expect(fallbacks).toBe(plan.expected().personFallbacks);
    expect(fallbacks).toBeGreaterThan(0);
    expect(crossTenant).toBeGreaterThan(0);
    // Links to KPIs missing from the kpis table migrate too.
    expect(records.GoalKpiLink.some((r) => r.fate === 'migrated' && !owners.has(canonical(r.item.KpiId)!))).toBe(true);
  });
});

describe('messy-but-valid forms (contract §1) at 300 items', () => {
  const { records } = recordsOf(300, 1);
  const valid = (entity: LegacyEntity) => records[entity].filter((r) => r.fate === 'migrated').map((r) => r.item);
  const values = (entities: LegacyEntity[], names: string[]) =>
    entities.flatMap((entity) => valid(entity).flatMap((item) => names.map((name) => item[name])));
  const numeric = values(['KpiMilestone', 'KpiActual', 'KpiReading', 'GoalKpiLink'], ['TargetValue', 'ActualValue', 'Value', 'OriginalValue', 'ThresholdPct', 'Weight']);
  const booleans = values(['GoalKpiLink', 'KpiActual'], ['IsPrimary', 'IsManualOverride', 'TriggersReplan', 'ReplanThresholdExceeded']);
  const timestamps = values(['GoalKpiLink', 'KpiMilestone', 'KpiActual', 'KpiReading'], ['CreatedAt', 'MilestoneDate', 'MeasurementDate', 'RecordedAt', 'ReadingDate', 'ReadAt', 'PeriodStart', 'UpdatedAt']);
  const guids = values([...LEGACY_ENTITIES], ['Id', 'TenantId', 'KpiId', 'GoalId', 'OwnerId', 'LinkedUserId', 'CreatedBy']);
  const enums = values(['GoalKpiLink', 'KpiActual', 'KpiReading'], ['LinkType', 'DataSource', 'Source']);

  const significantDigits = (n: string) => n.replace(/^-/, '').replace(/[eE].*$/, '').replace('.', '').replace(/^0+/, '').length;

  it.each<[string, (v: AttributeValue | undefined) => boolean, AttributeValue[] | (AttributeValue | undefined)[]]>([
    ['N with 38 significant digits', (v) => v?.N !== undefined && significantDigits(v.N) === 38, numeric],
    ['N in exponent form', (v) => v?.N !== undefined && /E[+-]\d+$/.test(v.N), numeric],
    ['the largest N DynamoDB takes', (v) => v?.N === '9.9999999999999999999999999999999999999E+125', numeric],
    ['numeric strings', (v) => v?.S !== undefined && /^-?\d+(\.\d+)?$/.test(v.S), numeric],
    ['numeric strings in exponent form', (v) => v?.S !== undefined && /^\d\.\d+e\d+$/.test(v.S), numeric],
    ['BOOL', (v) => v?.BOOL !== undefined, booleans],
    ['N 0/1 booleans', (v) => v?.N === '0' || v?.N === '1', booleans],
    ['"true"/"false" strings', (v) => v?.S === 'true' || v?.S === 'false', booleans],
    ['"TRUE"/"FALSE" strings', (v) => v?.S === 'TRUE' || v?.S === 'FALSE', booleans],
    ['"True"/"False" strings', (v) => v?.S === 'True' || v?.S === 'False', booleans],
    ['absent booleans', (v) => v === undefined, booleans],
    ['ISO timestamps with Z', (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/.test(v?.S ?? ''), timestamps],
    ['ISO timestamps with an offset', (v) => /[+-]\d\d:\d\d$/.test(v?.S ?? ''), timestamps],
    ['dates alone', (v) => /^\d{4}-\d\d-\d\d$/.test(v?.S ?? ''), timestamps],
    ['epoch milliseconds as N', (v) => /^\d{13}$/.test(v?.N ?? ''), timestamps],
    ['seven fractional digits', (v) => /\.\d{7}(Z|[+-]\d\d:\d\d)$/.test(v?.S ?? ''), timestamps],
    ['uppercase GUIDs', (v) => /^[0-9A-F-]{36}$/.test(v?.S ?? '') && /[A-F]/.test(v?.S ?? ''), guids],
    ['braced GUIDs', (v) => /^\{[0-9a-fA-F-]{36}\}$/.test(v?.S ?? ''), guids],
    ['mixed-case GUIDs', (v) => /[a-f]/.test(v?.S ?? '') && /[A-F]/.test(v?.S ?? '') && canonical(v) !== null, guids],
    ['enums in upper case', (v) => /^[A-Z]{5,}$/.test(v?.S ?? ''), enums],
    ['enums in lower case', (v) => /^[a-z]{5,}$/.test(v?.S ?? ''), enums],
    ['absent enums', (v) => v === undefined, enums],
  ])('%s', (_name, test, pool) => {
    expect(pool.some(test)).toBe(true);
  });

  it('has NULL and empty-string optionals', () => {
    const optional = values(['KpiMilestone', 'KpiActual', 'KpiReading', 'GoalKpiLink', 'Kpi', 'Person'], ['Label', 'Notes', 'OwnerId', 'LinkedUserId', 'UpdatedAt', 'ConfidenceLevel', 'DataSource', 'PeriodStart']);
    expect(optional.some((v) => v?.NULL === true)).toBe(true);
    expect(optional.some((v) => v?.S === '')).toBe(true);
  });

  it('has attributes the mapping does not know, of every DynamoDB type', () => {
    const known = new Set(['Id', 'TenantId', 'Name', 'OwnerId', 'DisplayName', 'LinkedUserId', 'GoalId', 'KpiId', 'ThresholdPct', 'LinkType', 'Weight', 'DisplayOrder', 'IsPrimary', 'CreatedBy', 'CreatedAt', 'UpdatedBy', 'UpdatedAt', 'TargetValue', 'MilestoneDate', 'Label', 'ConfidenceLevel', 'Rationale', 'ActualValue', 'MeasurementDate', 'OriginalValue', 'IsManualOverride', 'OverrideComment', 'DataSource', 'SourceReferenceId', 'TriggersReplan', 'ReplanThresholdExceeded', 'AutoAdjustmentApplied', 'RecordedBy', 'RecordedAt', 'Value', 'ReadingDate', 'PeriodStart', 'Source', 'ExternalRef', 'Notes', 'ReadBy', 'ReadAt']);
    const unknown = LEGACY_ENTITIES.flatMap((entity) => valid(entity).flatMap((item) => Object.entries(item).filter(([name]) => !known.has(name)).map(([, v]) => v)));
    const types = new Set(unknown.flatMap((v) => Object.keys(v)));
    expect([...types].sort()).toEqual(['B', 'BOOL', 'BS', 'L', 'M', 'N', 'NS', 'NULL', 'S', 'SS']);
    expect(unknown.some((v) => v.M && Object.values(v.M).some((inner) => inner.M !== undefined))).toBe(true);
  });

  it('has text that COPY and JSON must escape, and text outside ASCII', () => {
    const texts = [...attributes(LEGACY_ENTITIES.flatMap(valid))].map(([, v]) => v.S ?? '');
    for (const needle of ['\t', '\n', '\r\n', '\\', '"', '\\N']) expect(texts.some((t) => t.includes(needle)), JSON.stringify(needle)).toBe(true);
    expect(texts.some((t) => /[^\u0000-\u007f]/.test(t))).toBe(true);
  });

  it('has ConfidenceLevel and DisplayOrder at the edges of their ranges', () => {
    const displayOrders = values(['GoalKpiLink'], ['DisplayOrder']);
    expect(displayOrders.some((v) => v?.N === '2147483647')).toBe(true);
    expect(displayOrders.some((v) => v?.N === '-2147483648')).toBe(true);
    const levels = values(['KpiMilestone'], ['ConfidenceLevel']).flatMap((v) => (v?.N ?? v?.S ?? '') || []);
    expect(levels.filter((l) => l !== '').every((l) => /^[1-5]$/.test(l))).toBe(true);
  });
});
