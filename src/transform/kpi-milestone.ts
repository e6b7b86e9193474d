import { coerceActor, coerceConfidenceLevel, coerceDecimal, coerceGuid, coerceText, coerceTimestamp } from './coerce.js';
import { fanOut, type DataRecordKey, type DataRowContent, type TypedDataRecord } from './data-rows.js';
import type { z } from 'zod';
import { attribute, legacyRecord, optionalAttribute, type TypedItem } from './legacy-record.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { LinkIndex } from './link-index.js';
import type { MappingResult } from '../model/reject.js';
import type { KpiDataRow } from '../model/rows.js';

/** `purposepath-kpi-milestones` (contract §1), attributes in contract order. */
export const kpiMilestoneSchema = legacyRecord('KpiMilestone', {
  Id: attribute(coerceGuid),
  TenantId: attribute(coerceGuid),
  KpiId: attribute(coerceGuid),
  TargetValue: attribute(coerceDecimal),
  MilestoneDate: attribute(coerceTimestamp),
  Label: optionalAttribute(coerceText),
  ConfidenceLevel: optionalAttribute(coerceConfidenceLevel),
  Rationale: optionalAttribute(coerceText),
  CreatedBy: attribute(coerceActor),
  CreatedAt: attribute(coerceTimestamp),
  UpdatedBy: optionalAttribute(coerceActor),
  UpdatedAt: optionalAttribute(coerceTimestamp),
});

/** A milestone → one 'target'/'expected' kpi_data row per link of its KPI. */
export function mapKpiMilestone(item: LegacyItem, links: LinkIndex): MappingResult<KpiDataRow> {
  const parsed = kpiMilestoneSchema.parse(item);
  if (!parsed.ok) return { ok: false, reject: parsed.reject };
  return fanOut('KpiMilestone', item, keyOf(parsed.record), milestoneContent(parsed.record, item.Id as string, parsed.legacyExtra), links);
}

/** The fast path of mapKpiMilestone (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiMilestone. */
export function typedKpiMilestone(typed: TypedItem): TypedDataRecord | undefined {
  const parsed = kpiMilestoneSchema.parseTyped(typed);
  if (parsed === undefined) return undefined;
  return { key: keyOf(parsed.record), content: milestoneContent(parsed.record, (typed.Id as { S: string }).S, parsed.legacyExtra) };
}

type Parsed = z.output<typeof kpiMilestoneSchema.schema>;

function keyOf(milestone: Parsed): DataRecordKey {
  return { id: milestone.Id, tenantId: milestone.TenantId, kpiId: milestone.KpiId };
}

function milestoneContent(milestone: Parsed, sourceId: string, legacyExtra: string): DataRowContent {
  return {
    data_category: 'target',
    target_subtype: 'expected',
    actual_subtype: null,
    post_value: milestone.TargetValue,
    post_date: milestone.MilestoneDate.text,
    measured_period_start_date: null,
    label: milestone.Label,
    confidence_level: milestone.ConfidenceLevel,
    rationale: milestone.Rationale,
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
    created_by: milestone.CreatedBy,
    created_at: milestone.CreatedAt.text,
    updated_by: milestone.UpdatedBy,
    updated_at: milestone.UpdatedAt?.text ?? null,
    source_entity: 'KpiMilestone',
    source_id: sourceId,
    legacy_extra: legacyExtra,
  };
}
