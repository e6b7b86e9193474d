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
import { dataEntityMapping, type DataRowContent } from './data-rows.js';
import type { z } from 'zod';
import { attribute, legacyRecord, optionalAttribute } from './legacy-record.js';

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

const actualMapping = dataEntityMapping('KpiActual', kpiActualSchema, actualContent);

/** An actual → one 'actual'/'measured' kpi_data row per link of its KPI; its recorder is its creator. */
export const mapKpiActual = actualMapping.map;

/** The fast path of mapKpiActual (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiActual. */
export const typedKpiActual = actualMapping.typed;

function actualContent(actual: z.output<typeof kpiActualSchema.schema>, sourceId: string, legacyExtra: string): DataRowContent {
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
