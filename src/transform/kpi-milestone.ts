import { coerceActor, coerceConfidenceLevel, coerceDecimal, coerceGuid, coerceText, coerceTimestamp } from './coerce.js';
import { dataEntityMapping, type DataColumnPlan } from './data-rows.js';
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

/** Where each shared column of a milestone's rows comes from (contract §3). */
const MILESTONE_COLUMNS: DataColumnPlan<keyof z.output<typeof kpiMilestoneSchema.schema> & string> = {
  data_category: { constant: 'target' },
  target_subtype: { constant: 'expected' },
  actual_subtype: { constant: null },
  post_value: { attribute: 'TargetValue' },
  post_date: { attribute: 'MilestoneDate' },
  measured_period_start_date: { constant: null },
  label: { attribute: 'Label' },
  confidence_level: { attribute: 'ConfidenceLevel' },
  rationale: { attribute: 'Rationale' },
  original_value: { constant: null },
  is_manual_override: { constant: null },
  override_comment: { constant: null },
  data_source: { constant: null },
  source_reference_id: { constant: null },
  triggers_replan: { constant: null },
  replan_threshold_exceeded: { constant: null },
  auto_adjustment_applied: { constant: null },
  recorded_by: { constant: null },
  recorded_at: { constant: null },
  created_by: { attribute: 'CreatedBy' },
  created_at: { attribute: 'CreatedAt' },
  updated_by: { attribute: 'UpdatedBy' },
  updated_at: { attribute: 'UpdatedAt' },
  source_entity: { constant: 'KpiMilestone' },
  source_id: 'source id',
  legacy_extra: 'legacy extra',
};

const milestoneMapping = dataEntityMapping('KpiMilestone', kpiMilestoneSchema, MILESTONE_COLUMNS);

/** A milestone → one 'target'/'expected' kpi_data row per link of its KPI. */
export const mapKpiMilestone = milestoneMapping.map;

/** The fast path of mapKpiMilestone (see LegacyRecordSchema.parseTyped): undefined sends the item through mapKpiMilestone. */
export const typedKpiMilestone = milestoneMapping.typed;

/** The same fast path from attributes read flat (an export line as it stands). */
export const flatKpiMilestone = milestoneMapping.flat;
