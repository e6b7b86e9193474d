import { coerceActor, coerceConfidenceLevel, coerceDecimal, coerceGuid, coerceText, coerceTimestamp } from './coerce.js';
import { dataEntityMapping, type DataRowContent } from './data-rows.js';
import type { z } from 'zod';
import { attribute, legacyRecord, optionalAttribute } from './legacy-record.js';

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

const milestoneMapping = dataEntityMapping('KpiMilestone', kpiMilestoneSchema, milestoneContent);

/** A milestone → one 'target'/'expected' kpi_data row per link of its KPI. */
export const mapKpiMilestone = milestoneMapping.map;

/** The fast path of mapKpiMilestone (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiMilestone. */
export const typedKpiMilestone = milestoneMapping.typed;

function milestoneContent(milestone: z.output<typeof kpiMilestoneSchema.schema>, sourceId: string, legacyExtra: string): DataRowContent {
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
