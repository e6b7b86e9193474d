import { coerceActor, coerceDataSource, coerceDecimal, coerceGuid, coerceText, coerceTimestamp } from './coerce.js';
import { dataEntityMapping, type DataRowContent } from './data-rows.js';
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

const readingMapping = dataEntityMapping('KpiReading', kpiReadingSchema, readingContent);

/**
 * A reading → one 'actual'/'measured' kpi_data row per link of its KPI, mapped as contract §3
 * says. Readings have no override or replan flags: those columns stay null.
 */
export const mapKpiReading = readingMapping.map;

/** The fast path of mapKpiReading (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiReading. */
export const typedKpiReading = readingMapping.typed;

function readingContent(reading: z.output<typeof kpiReadingSchema.schema>, sourceId: string, legacyExtra: string): DataRowContent {
  return {
    data_category: 'actual',
    target_subtype: null,
    actual_subtype: 'measured',
    post_value: reading.Value,
    post_date: reading.ReadingDate.text,
    measured_period_start_date: reading.PeriodStart?.text ?? null,
    label: null,
    confidence_level: null,
    rationale: null,
    original_value: null,
    is_manual_override: null,
    override_comment: reading.Notes,
    data_source: reading.Source,
    source_reference_id: reading.ExternalRef,
    triggers_replan: null,
    replan_threshold_exceeded: null,
    auto_adjustment_applied: null,
    recorded_by: reading.ReadBy,
    recorded_at: reading.ReadAt.text,
    created_by: reading.ReadBy,
    created_at: reading.ReadAt.text,
    updated_by: null,
    updated_at: null,
    source_entity: 'KpiReading',
    source_id: sourceId,
    legacy_extra: legacyExtra,
  };
}
