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
import { dataEntityMapping, type DataColumnPlan } from './data-rows.js';
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

/** Where each shared column of an actual's rows comes from (contract §3). */
const ACTUAL_COLUMNS: DataColumnPlan<keyof z.output<typeof kpiActualSchema.schema> & string> = {
  data_category: { constant: 'actual' },
  target_subtype: { constant: null },
  actual_subtype: { constant: 'measured' },
  post_value: { attribute: 'ActualValue' },
  post_date: { attribute: 'MeasurementDate' },
  measured_period_start_date: { constant: null },
  label: { constant: null },
  confidence_level: { constant: null },
  rationale: { constant: null },
  original_value: { attribute: 'OriginalValue' },
  is_manual_override: { attribute: 'IsManualOverride' },
  override_comment: { attribute: 'OverrideComment' },
  data_source: { attribute: 'DataSource' },
  source_reference_id: { attribute: 'SourceReferenceId' },
  triggers_replan: { attribute: 'TriggersReplan' },
  replan_threshold_exceeded: { attribute: 'ReplanThresholdExceeded' },
  auto_adjustment_applied: { attribute: 'AutoAdjustmentApplied' },
  recorded_by: { attribute: 'RecordedBy' },
  recorded_at: { attribute: 'RecordedAt' },
  created_by: { attribute: 'RecordedBy' },
  created_at: { attribute: 'RecordedAt' },
  updated_by: { constant: null },
  updated_at: { constant: null },
  source_entity: { constant: 'KpiActual' },
  source_id: 'source id',
  legacy_extra: 'legacy extra',
};

const actualMapping = dataEntityMapping('KpiActual', kpiActualSchema, ACTUAL_COLUMNS);

/** An actual → one 'actual'/'measured' kpi_data row per link of its KPI; its recorder is its creator. */
export const mapKpiActual = actualMapping.map;

/** The fast path of mapKpiActual (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiActual. */
export const typedKpiActual = actualMapping.typed;

/** The same fast path from attributes read flat (an export line as it stands). */
export const flatKpiActual = actualMapping.flat;
