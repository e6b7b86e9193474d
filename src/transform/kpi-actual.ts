import {
  coerceActor,
  coerceBoolean,
  coerceDataSource,
  coerceDecimal,
  coerceFlagText,
  coerceGuid,
  coerceText,
  coerceTimestamp,
} from './coerce.js';
import { fanOut, type DataRecordKey, type DataRowContent, type TypedDataRecord } from './data-rows.js';
import type { z } from 'zod';
import { attribute, legacyRecord, optionalAttribute, type TypedItem } from './legacy-record.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { LinkIndex } from './link-index.js';
import type { MappingResult } from '../model/reject.js';
import type { KpiDataRow } from '../model/rows.js';

/** `purposepath-kpi-actuals` (contract §1), attributes in contract order. */
export const kpiActualSchema = legacyRecord('KpiActual', {
  Id: attribute(coerceGuid),
  TenantId: attribute(coerceGuid),
  KpiId: attribute(coerceGuid),
  ActualValue: attribute(coerceDecimal),
  MeasurementDate: attribute(coerceTimestamp),
  OriginalValue: optionalAttribute(coerceDecimal),
  IsManualOverride: attribute(coerceBoolean),
  OverrideComment: optionalAttribute(coerceText),
  DataSource: attribute(coerceDataSource),
  SourceReferenceId: optionalAttribute(coerceText),
  TriggersReplan: attribute(coerceBoolean),
  ReplanThresholdExceeded: attribute(coerceBoolean),
  AutoAdjustmentApplied: optionalAttribute(coerceFlagText),
  RecordedBy: attribute(coerceActor),
  RecordedAt: attribute(coerceTimestamp),
});

/** An actual → one 'actual'/'measured' kpi_data row per link of its KPI; its recorder is its creator. */
export function mapKpiActual(item: LegacyItem, links: LinkIndex): MappingResult<KpiDataRow> {
  const parsed = kpiActualSchema.parse(item);
  if (!parsed.ok) return { ok: false, reject: parsed.reject };
  return fanOut('KpiActual', item, keyOf(parsed.record), actualContent(parsed.record, item.Id as string, parsed.legacyExtra), links);
}

/** The fast path of mapKpiActual (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiActual. */
export function typedKpiActual(typed: TypedItem): TypedDataRecord | undefined {
  const parsed = kpiActualSchema.parseTyped(typed);
  if (parsed === undefined) return undefined;
  return { key: keyOf(parsed.record), content: actualContent(parsed.record, (typed.Id as { S: string }).S, parsed.legacyExtra) };
}

type Parsed = z.output<typeof kpiActualSchema.schema>;

function keyOf(actual: Parsed): DataRecordKey {
  return { id: actual.Id, tenantId: actual.TenantId, kpiId: actual.KpiId };
}

function actualContent(actual: Parsed, sourceId: string, legacyExtra: string): DataRowContent {
  return {
    data_category: 'actual',
    target_subtype: null,
    actual_subtype: 'measured',
    post_value: actual.ActualValue,
    post_date: actual.MeasurementDate.text,
    measured_period_start_date: null,
    label: null,
    confidence_level: null,
    rationale: null,
    original_value: actual.OriginalValue,
    is_manual_override: actual.IsManualOverride,
    override_comment: actual.OverrideComment,
    data_source: actual.DataSource,
    source_reference_id: actual.SourceReferenceId,
    triggers_replan: actual.TriggersReplan,
    replan_threshold_exceeded: actual.ReplanThresholdExceeded,
    auto_adjustment_applied: actual.AutoAdjustmentApplied,
    recorded_by: actual.RecordedBy,
    recorded_at: actual.RecordedAt.text,
    created_by: actual.RecordedBy,
    created_at: actual.RecordedAt.text,
    updated_by: null,
    updated_at: null,
    source_entity: 'KpiActual',
    source_id: sourceId,
    legacy_extra: legacyExtra,
  };
}
