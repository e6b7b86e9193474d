/**
 * Target rows as the load stage writes them. Values are already in PostgreSQL's text input
 * form: numerics as exact decimal text, timestamps as ISO-8601 UTC text, uuids canonical
 * (lowercase, no braces), `legacy_extra` as JSON text. `null` is SQL NULL.
 */
export interface KpiLinkRow {
  id: string;
  tenant_id: string;
  kpi_id: string;
  person_id: string;
  goal_id: string | null;
  strategy_id: string | null;
  threshold_pct: string | null;
  link_type: 'primary' | 'supporting' | 'monitoring';
  weight: string | null;
  display_order: number | null;
  is_primary: boolean;
  created_by: string;
  created_at: string;
  updated_by: string | null;
  updated_at: string | null;
  source_entity: 'GoalKpiLink';
  source_id: string;
  legacy_extra: string;
}

export interface KpiDataRow {
  id: string;
  kpi_link_id: string;
  data_category: 'target' | 'actual';
  target_subtype: 'expected' | null;
  actual_subtype: 'measured' | null;
  post_value: string;
  post_date: string;
  measured_period_start_date: string | null;
  label: string | null;
  confidence_level: number | null;
  rationale: string | null;
  original_value: string | null;
  is_manual_override: boolean | null;
  override_comment: string | null;
  data_source: 'manual' | 'integration' | 'import' | 'calculated' | null;
  source_reference_id: string | null;
  triggers_replan: boolean | null;
  replan_threshold_exceeded: boolean | null;
  auto_adjustment_applied: string | null;
  recorded_by: string | null;
  recorded_at: string | null;
  created_by: string | null;
  created_at: string | null;
  updated_by: string | null;
  updated_at: string | null;
  source_entity: 'KpiMilestone' | 'KpiActual' | 'KpiReading';
  source_id: string;
  legacy_extra: string;
}

/** Column order of each target table as the writer sends it (COPY and staging share it). */
export const KPI_LINK_COLUMNS = [
  'id', 'tenant_id', 'kpi_id', 'person_id', 'goal_id', 'strategy_id', 'threshold_pct',
  'link_type', 'weight', 'display_order', 'is_primary', 'created_by', 'created_at',
  'updated_by', 'updated_at', 'source_entity', 'source_id', 'legacy_extra',
] as const satisfies readonly (keyof KpiLinkRow)[];

export const KPI_DATA_COLUMNS = [
  'id', 'kpi_link_id', 'data_category', 'target_subtype', 'actual_subtype', 'post_value',
  'post_date', 'measured_period_start_date', 'label', 'confidence_level', 'rationale',
  'original_value', 'is_manual_override', 'override_comment', 'data_source',
  'source_reference_id', 'triggers_replan', 'replan_threshold_exceeded',
  'auto_adjustment_applied', 'recorded_by', 'recorded_at', 'created_by', 'created_at',
  'updated_by', 'updated_at', 'source_entity', 'source_id', 'legacy_extra',
] as const satisfies readonly (keyof KpiDataRow)[];
