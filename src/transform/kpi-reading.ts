import { coerceActor, coerceDataSource, coerceDecimal, coerceGuid, coerceText, coerceTimestamp } from './coerce.js';
import { fanOut, type DataRecordKey, type DataRowContent, type TypedDataRecord } from './data-rows.js';
import type { z } from 'zod';
import { attribute, legacyRecord, optionalAttribute, type TypedItem } from './legacy-record.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { LinkIndex } from './link-index.js';
import type { MappingResult } from '../model/reject.js';
import type { KpiDataRow } from '../model/rows.js';

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

/**
 * A reading → one 'actual'/'measured' kpi_data row per link of its KPI, mapped as contract §3
 * says. Readings have no override or replan flags: those columns stay null.
 */
export function mapKpiReading(item: LegacyItem, links: LinkIndex): MappingResult<KpiDataRow> {
  const parsed = kpiReadingSchema.parse(item);
  if (!parsed.ok) return { ok: false, reject: parsed.reject };
  return fanOut('KpiReading', item, keyOf(parsed.record), readingContent(parsed.record, item.Id as string, parsed.legacyExtra), links);
}

/** The fast path of mapKpiReading (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiReading. */
export function typedKpiReading(typed: TypedItem): TypedDataRecord | undefined {
  const parsed = kpiReadingSchema.parseTyped(typed);
  if (parsed === undefined) return undefined;
  return { key: keyOf(parsed.record), content: readingContent(parsed.record, (typed.Id as { S: string }).S, parsed.legacyExtra) };
}

type Parsed = z.output<typeof kpiReadingSchema.schema>;

function keyOf(reading: Parsed): DataRecordKey {
  return { id: reading.Id, tenantId: reading.TenantId, kpiId: reading.KpiId };
}

function readingContent(reading: Parsed, sourceId: string, legacyExtra: string): DataRowContent {
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
