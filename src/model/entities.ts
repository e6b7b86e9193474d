/** The six legacy tables, in the order a run reads them: lookups, then links, then facts. */
export const LEGACY_ENTITIES = [
  'Kpi',
  'Person',
  'GoalKpiLink',
  'KpiMilestone',
  'KpiActual',
  'KpiReading',
] as const;
export type LegacyEntity = (typeof LEGACY_ENTITIES)[number];

/** Entities whose records become kpi_data rows; earlier in this list wins an id_conflict (contract §3). */
export const DATA_ENTITIES = ['KpiMilestone', 'KpiActual', 'KpiReading'] as const;
export type DataEntity = (typeof DATA_ENTITIES)[number];

/** Entities that are migrated and accounted for (read = migrated + rejected + skipped). */
export const MIGRATED_ENTITIES = ['GoalKpiLink', ...DATA_ENTITIES] as const;
export type MigratedEntity = (typeof MIGRATED_ENTITIES)[number];

/** Default legacy table names without the prefix (contract §1). */
export const DEFAULT_TABLE_SUFFIX: Record<LegacyEntity, string> = {
  Kpi: 'kpis',
  Person: 'people',
  GoalKpiLink: 'goal-kpi-links',
  KpiMilestone: 'kpi-milestones',
  KpiActual: 'kpi-actuals',
  KpiReading: 'kpi-readings',
};
export const DEFAULT_TABLE_PREFIX = 'purposepath-';

/** Default key prefixes of the kv_store pattern: key = `<prefix>:<Id>` (contract §1). */
export const DEFAULT_KV_PREFIX: Record<LegacyEntity, string> = {
  Kpi: 'kpi',
  Person: 'person',
  GoalKpiLink: 'goal_kpi_link',
  KpiMilestone: 'kpi_milestone',
  KpiActual: 'kpi_actual',
  KpiReading: 'kpi_reading',
};

export type TableNames = Record<LegacyEntity, string>;

export function defaultTableNames(
  prefix: string = DEFAULT_TABLE_PREFIX,
  overrides: Partial<TableNames> = {},
): TableNames {
  const names = {} as TableNames;
  for (const entity of Object.keys(DEFAULT_TABLE_SUFFIX) as LegacyEntity[]) {
    names[entity] = overrides[entity] ?? `${prefix}${DEFAULT_TABLE_SUFFIX[entity]}`;
  }
  return names;
}
