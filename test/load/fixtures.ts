import { createHash } from 'node:crypto';
import { startRun } from '../../src/load/ledger.js';
import type { BatchInput } from '../../src/load/batch-writer.js';
import type { RecordRows } from '../../src/load/prepare-record.js';
import type { SqlSession } from '../../src/db/sql-client.js';
import type { DataEntity } from '../../src/model/entities.js';
import { LegacyNumber, type LegacyItem } from '../../src/model/legacy-value.js';
import type { KpiDataRow, KpiLinkRow } from '../../src/model/rows.js';

/** A valid, readable uuid: `uuid(7)` → 00000000-0000-4000-8000-000000000007. */
export function uuid(n: number, group = 0): string {
  return `${group.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

export const TENANT = uuid(1, 0xaaaa);
export const KPI = uuid(2, 0xaaaa);
export const USER = uuid(3, 0xaaaa);

export function linkRecord(n: number, overrides: Partial<KpiLinkRow> = {}): RecordRows<KpiLinkRow> {
  const id = uuid(n, 0x1111);
  const row: KpiLinkRow = {
    id,
    tenant_id: TENANT,
    kpi_id: KPI,
    person_id: USER,
    goal_id: uuid(n, 0x2222),
    strategy_id: null,
    threshold_pct: '12.5',
    link_type: 'supporting',
    weight: '1',
    display_order: n,
    is_primary: n === 1,
    created_by: USER,
    created_at: '2024-01-02T03:04:05.000Z',
    updated_by: null,
    updated_at: null,
    source_entity: 'GoalKpiLink',
    source_id: id,
    legacy_extra: '{}',
    ...overrides,
  };
  return { sourceId: row.source_id, item: { Id: row.source_id, TenantId: TENANT, KpiId: KPI, CreatedBy: USER }, rows: [row] };
}

function derivedUuid(name: string): string {
  const hex = createHash('sha1').update(name).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A data record with one row per link id: the first row keeps the legacy Id, the others get
 * their own ids (the transform uses v5 uuids; any distinct valid uuid will do here).
 */
export function dataRecord(
  entity: DataEntity,
  legacyId: string,
  linkIds: readonly string[],
  overrides: Partial<KpiDataRow> = {},
  item: LegacyItem = { Id: legacyId, TenantId: TENANT, KpiId: KPI, Value: new LegacyNumber('42.10') },
): RecordRows<KpiDataRow> {
  const rows = linkIds.map((linkId, index): KpiDataRow => ({
    id: index === 0 ? legacyId.toLowerCase().replace(/[{}]/g, '') : derivedUuid(`${entity}:${legacyId}:${linkId}`),
    kpi_link_id: linkId,
    data_category: entity === 'KpiMilestone' ? 'target' : 'actual',
    target_subtype: entity === 'KpiMilestone' ? 'expected' : null,
    actual_subtype: entity === 'KpiMilestone' ? null : 'measured',
    post_value: '42.10',
    post_date: '2024-03-01T00:00:00.000Z',
    measured_period_start_date: null,
    label: `label of ${legacyId}`,
    confidence_level: entity === 'KpiMilestone' ? 3 : null,
    rationale: null,
    original_value: null,
    is_manual_override: entity === 'KpiActual' ? false : null,
    override_comment: null,
    data_source: entity === 'KpiMilestone' ? null : 'manual',
    source_reference_id: null,
    triggers_replan: null,
    replan_threshold_exceeded: null,
    auto_adjustment_applied: null,
    recorded_by: USER,
    recorded_at: '2024-03-01T10:00:00.000Z',
    created_by: USER,
    created_at: '2024-03-01T10:00:00.000Z',
    updated_by: null,
    updated_at: null,
    source_entity: entity,
    source_id: legacyId,
    legacy_extra: '{"Unknown": 1}',
    ...overrides,
  }));
  return { sourceId: legacyId, item, rows };
}

export async function newRun(sql: SqlSession, dryRun = false): Promise<string> {
  return startRun(sql, {
    environment: 'test',
    sourceKind: 'dynamodb',
    targetSchema: 'public',
    options: { batchRows: 100 },
    codeVersion: '0.0.0-test',
    configHash: 'test',
    dryRun,
  });
}

/** A batch input with the accounting filled in from its records and rejects. */
export function linkBatch(runId: string, links: RecordRows<KpiLinkRow>[], extra: Partial<BatchInput> = {}): BatchInput {
  return {
    runId,
    targetSchema: 'public',
    entity: 'GoalKpiLink',
    links,
    mappingRejects: [],
    read: links.length + (extra.mappingRejects?.length ?? 0) + (extra.skipped ?? 0),
    skipped: 0,
    personFallbacks: 0,
    checkpoints: [{ partition: 'segment-0-of-1', position: { Id: { S: 'last' } }, done: false }],
    ...extra,
  };
}

export function dataBatch(runId: string, entity: DataEntity, data: RecordRows<KpiDataRow>[], extra: Partial<BatchInput> = {}): BatchInput {
  return {
    runId,
    targetSchema: 'public',
    entity,
    data,
    mappingRejects: [],
    read: data.length + (extra.mappingRejects?.length ?? 0) + (extra.skipped ?? 0),
    skipped: 0,
    personFallbacks: 0,
    checkpoints: [{ partition: 'segment-0-of-1', position: { Id: { S: 'last' } }, done: false }],
    ...extra,
  };
}

export async function count(sql: SqlSession, text: string, params: readonly unknown[] = []): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(`select count(*)::text as n from (${text}) counted`, params);
  return Number(rows[0]!.n);
}
