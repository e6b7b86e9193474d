// The transform stage: legacy items → target rows or rejects. Pure: no I/O, no clock, no randomness.
export * from './coerce.js';
export { toPlainDecimal, integralValue } from '../model/decimal.js';
export { uuidV5, URL_NAMESPACE, KPI_DATA_ID_NAMESPACE } from './uuid-v5.js';
export { legacyExtraText } from './legacy-extra.js';
export {
  attribute,
  optionalAttribute,
  legacyRecord,
  rejectOf,
  type AttributeProblem,
  type LegacyRecordSchema,
  type ParsedRecord,
} from './legacy-record.js';
export { kpiSchema, parseKpi, type Kpi } from './kpi.js';
export { personSchema, parsePerson, type Person } from './person.js';
export { LinkLookups, type PersonResolution } from './lookups.js';
export { unreadableRecord, unreadableProblemOf, type UnreadableProblem } from '../model/unreadable.js';
export { canonicalTenantOf } from './tenant.js';
export { goalKpiLinkSchema, mapGoalKpiLink, type LinkMapping } from './goal-kpi-link.js';
export { LinkIndex, migratedLinkOf, type IndexedLink, type MigratedLink } from './link-index.js';
export { fanOut, kpiDataRowId, type DataRecordKey, type DataRowContent } from './data-rows.js';
export { kpiMilestoneSchema, mapKpiMilestone } from './kpi-milestone.js';
export { kpiActualSchema, mapKpiActual } from './kpi-actual.js';
export { kpiReadingSchema, mapKpiReading } from './kpi-reading.js';
export * from '../model/entities.js';
export * from '../model/legacy-value.js';
export * from '../model/reject.js';
export * from '../model/rows.js';
