import { coerceActor, coerceDataSource, coerceDecimal, coerceGuid, coerceText, coerceTimestamp } from './coerce.js';
import { dataEntityMapping, type DataColumnPlan } from './data-rows.js';
import type { z } from 'zod';
import { attribute, legacyRecord, optionalAttribute } from './legacy-record.js';

/** `purposepath-kpi-readings` (contract §1), attributes in contract order. */
export const kpiReadingSchema = legacyRecord('KpiReading', {
  Id: attribute(coerceGuid),
  TenantId: attribute(coerceGuid),
  KpiId: attribute(coerceGuid),
  Value: attribute(coerceDecimal),
  ReadingDate: attribute(coerceTimestamp),
  PeriodStart: optionalAttribute(coerceTimestamp),
  Source: attribute(coerceDataSource),
  ExternalRef: optionalAttribute(coerceText),
  Notes: optionalAttribute(coerceText),
  ReadBy: attribute(coerceActor),
  ReadAt: attribute(coerceTimestamp),
});

/** Where each shared column of a reading's rows comes from (contract §3). */
const READING_COLUMNS: DataColumnPlan<keyof z.output<typeof kpiReadingSchema.schema> & string> = {
  data_category: { constant: 'actual' },
  target_subtype: { constant: null },
  actual_subtype: { constant: 'measured' },
  post_value: { attribute: 'Value' },
  post_date: { attribute: 'ReadingDate' },
  measured_period_start_date: { attribute: 'PeriodStart' },
  label: { constant: null },
  confidence_level: { constant: null },
  rationale: { constant: null },
  original_value: { constant: null },
  is_manual_override: { constant: null },
  override_comment: { attribute: 'Notes' },
  data_source: { attribute: 'Source' },
  source_reference_id: { attribute: 'ExternalRef' },
  triggers_replan: { constant: null },
  replan_threshold_exceeded: { constant: null },
  auto_adjustment_applied: { constant: null },
  recorded_by: { attribute: 'ReadBy' },
  recorded_at: { attribute: 'ReadAt' },
  created_by: { attribute: 'ReadBy' },
  created_at: { attribute: 'ReadAt' },
  updated_by: { constant: null },
  updated_at: { constant: null },
  source_entity: { constant: 'KpiReading' },
  source_id: 'source id',
  legacy_extra: 'legacy extra',
};

const readingMapping = dataEntityMapping('KpiReading', kpiReadingSchema, READING_COLUMNS);

/**
 * A reading → one 'actual'/'measured' kpi_data row per link of its KPI, mapped as contract §3
 * says. Readings have no override or replan flags: those columns stay null.
 */
export const mapKpiReading = readingMapping.map;

/** The fast path of mapKpiReading (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiReading. */
export const typedKpiReading = readingMapping.typed;

/** The same fast path from attributes read flat (an export line as it stands). */
export const flatKpiReading = readingMapping.flat;
