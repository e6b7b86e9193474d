import { describe, expect, test } from 'vitest';
import { mapKpiActual } from '../../src/transform/kpi-actual.js';
import { mapKpiMilestone } from '../../src/transform/kpi-milestone.js';
import { mapKpiReading } from '../../src/transform/kpi-reading.js';
import { LegacySet, type LegacyItem } from '../../src/model/legacy-value.js';
import { LinkIndex } from '../../src/transform/link-index.js';
import type { MappingResult } from '../../src/model/reject.js';
import type { KpiDataRow } from '../../src/model/rows.js';
import { KPI_DATA_ID_NAMESPACE, uuidV5 } from '../../src/transform/uuid-v5.js';
import {
  actualItem,
  CREATOR_USER,
  KPI,
  LINK_A,
  LINK_B,
  LINK_C,
  milestoneItem,
  N,
  OTHER_TENANT,
  readingItem,
  RECORD_ID,
  TENANT,
} from './legacy-items.js';

function indexOf(...links: [id: string, isPrimary: boolean][]): LinkIndex {
  const index = new LinkIndex();
  for (const [id, isPrimary] of links) index.add({ id, tenantId: TENANT, kpiId: KPI, isPrimary, sourceId: id });
  return index;
}

function rowsOf(result: MappingResult<KpiDataRow>): KpiDataRow[] {
  if (!result.ok) throw new Error(`${result.reject.reason}: ${result.reject.message}`);
  return result.rows;
}

const oneLink = () => indexOf([LINK_A, true]);

describe('KpiMilestone → target rows', () => {
  test('maps every column; actual-only columns are null', () => {
    expect(rowsOf(mapKpiMilestone(milestoneItem(), oneLink()))).toEqual([
      {
        id: RECORD_ID,
        kpi_link_id: LINK_A,
        data_category: 'target',
        target_subtype: 'expected',
        actual_subtype: null,
        post_value: '1000.5',
        post_date: '2024-12-31T00:00:00.000000Z',
        measured_period_start_date: null,
        label: 'Year end',
        confidence_level: 4,
        rationale: 'Plan',
        original_value: null,
        is_manual_override: null,
        override_comment: null,
        data_source: null,
        source_reference_id: null,
        triggers_replan: null,
        replan_threshold_exceeded: null,
        auto_adjustment_applied: null,
        recorded_by: null,
        recorded_at: null,
        created_by: CREATOR_USER,
        created_at: '2024-01-02T03:04:05.000000Z',
        updated_by: 'system',
        updated_at: '2024-02-03T03:05:06.000000Z',
        source_entity: 'KpiMilestone',
        source_id: RECORD_ID,
        legacy_extra: '{}',
      },
    ]);
  });

  test('optional attributes absent, NULL or empty are null', () => {
    const item = milestoneItem({ Label: '', ConfidenceLevel: null, UpdatedBy: '', UpdatedAt: null });
    delete item.Rationale;
    expect(rowsOf(mapKpiMilestone(item, oneLink()))[0]).toMatchObject({
      label: null,
      confidence_level: null,
      rationale: null,
      updated_by: null,
      updated_at: null,
    });
  });
});

describe('KpiActual → actual rows', () => {
  test('maps every column; RecordedBy/At are also created_by/at', () => {
    expect(rowsOf(mapKpiActual(actualItem(), oneLink()))).toEqual([
      {
        id: RECORD_ID,
        kpi_link_id: LINK_A,
        data_category: 'actual',
        target_subtype: null,
        actual_subtype: 'measured',
        post_value: '987.654',
        post_date: '2024-03-31T00:00:00.000000Z',
        measured_period_start_date: null,
        label: null,
        confidence_level: null,
        rationale: null,
        original_value: '900',
        is_manual_override: true,
        override_comment: 'corrected',
        data_source: 'integration',
        source_reference_id: 'ERP-42',
        triggers_replan: true,
        replan_threshold_exceeded: false,
        auto_adjustment_applied: 'true',
        recorded_by: CREATOR_USER,
        recorded_at: '2024-03-31T00:00:00.000000Z',
        created_by: CREATOR_USER,
        created_at: '2024-03-31T00:00:00.000000Z',
        updated_by: null,
        updated_at: null,
        source_entity: 'KpiActual',
        source_id: RECORD_ID,
        legacy_extra: '{}',
      },
    ]);
  });

  test('absent flags are false, absent DataSource is manual, absent AutoAdjustmentApplied is null', () => {
    const item = actualItem({ TriggersReplan: null, ReplanThresholdExceeded: '', DataSource: null });
    delete item.IsManualOverride;
    delete item.AutoAdjustmentApplied;
    expect(rowsOf(mapKpiActual(item, oneLink()))[0]).toMatchObject({
      is_manual_override: false,
      triggers_replan: false,
      replan_threshold_exceeded: false,
      data_source: 'manual',
      auto_adjustment_applied: null,
    });
  });

  test('a non-GUID recorder is kept as text', () => {
    expect(rowsOf(mapKpiActual(actualItem({ RecordedBy: 'etl-job' }), oneLink()))[0]).toMatchObject({
      recorded_by: 'etl-job',
      created_by: 'etl-job',
    });
  });
});

describe('KpiReading → actual rows (contract §3 mapping)', () => {
  test('maps every column; flags of actuals are null', () => {
    expect(rowsOf(mapKpiReading(readingItem(), oneLink()))).toEqual([
      {
        id: RECORD_ID,
        kpi_link_id: LINK_A,
        data_category: 'actual',
        target_subtype: null,
        actual_subtype: 'measured',
        post_value: '42',
        post_date: '2024-04-01T12:00:00.000000Z',
        measured_period_start_date: '2024-03-01T00:00:00.000000Z',
        label: null,
        confidence_level: null,
        rationale: null,
        original_value: null,
        is_manual_override: null,
        override_comment: 'monthly',
        data_source: 'import',
        source_reference_id: 'sheet-7',
        triggers_replan: null,
        replan_threshold_exceeded: null,
        auto_adjustment_applied: null,
        recorded_by: CREATOR_USER,
        recorded_at: '2024-04-01T12:30:00.500000Z',
        created_by: CREATOR_USER,
        created_at: '2024-04-01T12:30:00.500000Z',
        updated_by: null,
        updated_at: null,
        source_entity: 'KpiReading',
        source_id: RECORD_ID,
        legacy_extra: '{}',
      },
    ]);
  });

  test('absent Source is manual, absent PeriodStart null', () => {
    const item = readingItem({ PeriodStart: null });
    delete item.Source;
    expect(rowsOf(mapKpiReading(item, oneLink()))[0]).toMatchObject({ data_source: 'manual', measured_period_start_date: null });
  });
});

describe('fan-out: one row per link of the KPI', () => {
  const mappers = { KpiMilestone: mapKpiMilestone, KpiActual: mapKpiActual, KpiReading: mapKpiReading } as const;
  const items = { KpiMilestone: milestoneItem, KpiActual: actualItem, KpiReading: readingItem } as const;

  test.each(Object.keys(mappers) as (keyof typeof mappers)[])('%s with 0 links is a no_kpi_link reject', (entity) => {
    const result = mappers[entity](items[entity](), new LinkIndex());
    expect(result.ok ? null : result.reject).toMatchObject({ reason: 'no_kpi_link', sourceEntity: entity, sourceId: RECORD_ID });
  });

  test.each(Object.keys(mappers) as (keyof typeof mappers)[])('%s with 1 link keeps the legacy Id', (entity) => {
    const rows = rowsOf(mappers[entity](items[entity](), indexOf([LINK_B, false])));
    expect(rows.map((row) => [row.id, row.kpi_link_id])).toEqual([[RECORD_ID, LINK_B]]);
  });

  test.each(Object.keys(mappers) as (keyof typeof mappers)[])(
    '%s with 3 links: the primary link first keeps the legacy Id, the others get v5 ids',
    (entity) => {
      const rows = rowsOf(mappers[entity](items[entity](), indexOf([LINK_A, false], [LINK_B, false], [LINK_C, true])));
      expect(rows.map((row) => row.kpi_link_id)).toEqual([LINK_C, LINK_A, LINK_B]);
      expect(rows.map((row) => row.id)).toEqual([
        RECORD_ID,
        uuidV5(KPI_DATA_ID_NAMESPACE, `${entity}:${RECORD_ID}:${LINK_A}`),
        uuidV5(KPI_DATA_ID_NAMESPACE, `${entity}:${RECORD_ID}:${LINK_B}`),
      ]);
      expect(new Set(rows.map((row) => row.id)).size).toBe(3);
      const { id: _id, kpi_link_id: _link, ...shared } = rows[0]!;
      for (const row of rows) expect(row).toMatchObject(shared);
    },
  );

  test('without a primary link, the lowest link id comes first', () => {
    const rows = rowsOf(mapKpiActual(actualItem(), indexOf([LINK_C, false], [LINK_B, false])));
    expect(rows.map((row) => [row.kpi_link_id, row.id === RECORD_ID])).toEqual([
      [LINK_B, true],
      [LINK_C, false],
    ]);
  });

  test('v5 ids are deterministic: the same input gives the same ids on every run', () => {
    const first = rowsOf(mapKpiReading(readingItem(), indexOf([LINK_A, true], [LINK_B, false])));
    const again = rowsOf(mapKpiReading(readingItem(), indexOf([LINK_B, false], [LINK_A, true])));
    expect(again).toEqual(first);
  });

  test('the same legacy Id in two entities: equal first-row ids (an id_conflict to detect), different v5 ids', () => {
    const links = indexOf([LINK_A, true], [LINK_B, false]);
    const milestone = rowsOf(mapKpiMilestone(milestoneItem(), links));
    const actual = rowsOf(mapKpiActual(actualItem(), links));
    expect(milestone[0]!.id).toBe(actual[0]!.id);
    expect(milestone[1]!.id).not.toBe(actual[1]!.id);
  });

  test('v5 ids are built from the canonical legacy Id', () => {
    const links = indexOf([LINK_A, true], [LINK_B, false]);
    const braced = rowsOf(mapKpiActual(actualItem({ Id: `{${RECORD_ID.toUpperCase()}}` }), links));
    const plain = rowsOf(mapKpiActual(actualItem(), links));
    expect(braced.map((row) => row.id)).toEqual(plain.map((row) => row.id));
  });

  test("another tenant's links of the same KPI id are not used", () => {
    const index = new LinkIndex();
    index.add({ id: LINK_A, tenantId: OTHER_TENANT, kpiId: KPI, isPrimary: true, sourceId: LINK_A });
    const result = mapKpiMilestone(milestoneItem(), index);
    expect(result.ok ? 'rows' : result.reject.reason).toBe('no_kpi_link');
  });

  test('a link the load stage rejected and removed no longer receives rows', () => {
    const index = indexOf([LINK_A, true], [LINK_B, false]);
    index.remove(LINK_A);
    expect(rowsOf(mapKpiMilestone(milestoneItem(), index)).map((row) => [row.id, row.kpi_link_id])).toEqual([[RECORD_ID, LINK_B]]);
  });
});

describe('legacy_extra keeps every attribute the mapping did not consume', () => {
  test('unknown attributes of every kind, keys sorted at every depth, numbers digit for digit', () => {
    const item: LegacyItem = {
      ...milestoneItem(),
      Zeta: 'last',
      Alpha: { Nested: N('12345678901234567890123456789012345678'), Another: [true, null, { B: '2', A: '1' }] },
      Bytes: new Uint8Array([1, 2, 3]),
      Tags: new LegacySet('SS', ['x', 'y']),
    };
    const [row] = rowsOf(mapKpiMilestone(item, oneLink()));
    expect(row!.legacy_extra).toBe(
      '{"Alpha":{"Another":[true,null,{"A":"1","B":"2"}],"Nested":12345678901234567890123456789012345678},' +
        '"Bytes":"AQID","Tags":["x","y"],"Zeta":"last"}',
    );
  });

  test('a number is written in canonical plain form (whatever its text), one that is no number as a string', () => {
    const [row] = rowsOf(mapKpiMilestone(milestoneItem({ A: N('+1.50'), B: N('.5E1'), C: N('12abc'), D: N('-0.0') }), oneLink()));
    expect(row!.legacy_extra).toBe('{"A":1.5,"B":5,"C":"12abc","D":0}');
  });

  test('set members are listed in one order whatever order the source gave them in', () => {
    const texts = [
      [new LegacySet('NS', [N('2'), N('+10'), N('1')]), new LegacySet('SS', ['b', 'a'])],
      [new LegacySet('NS', [N('1'), N('2'), N('+10')]), new LegacySet('SS', ['a', 'b'])],
    ].map(([numbers, strings]) => rowsOf(mapKpiMilestone(milestoneItem({ Numbers: numbers!, Strings: strings! }), oneLink()))[0]!.legacy_extra);
    expect(texts[0]).toBe(texts[1]);
    expect(JSON.parse(texts[0]!)).toEqual({ Numbers: [1, 10, 2], Strings: ['a', 'b'] });
  });

  test('the original text of a timestamp rounded past the microsecond', () => {
    const [row] = rowsOf(mapKpiActual(actualItem({ MeasurementDate: '2024-03-31T10:11:12.9876543+02:00' }), oneLink()));
    expect(row!.post_date).toBe('2024-03-31T08:11:12.987654Z');
    expect(JSON.parse(row!.legacy_extra)).toEqual({ MeasurementDate: '2024-03-31T10:11:12.9876543+02:00' });
  });

  test('consumed attributes, even absent or empty ones, are not repeated', () => {
    const [row] = rowsOf(mapKpiReading(readingItem({ Notes: '', ExternalRef: null }), oneLink()));
    expect(row!.legacy_extra).toBe('{}');
  });
});
