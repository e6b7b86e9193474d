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
  type TypedItem,
  type TypedParse,
} from './legacy-record.js';
export { kpiSchema, parseKpi, typedKpi, type Kpi } from './kpi.js';
export { personSchema, parsePerson, typedPerson, type Person } from './person.js';
export { LinkLookups, type PersonResolution } from './lookups.js';
export { unreadableRecord, unreadableProblemOf, type UnreadableProblem } from '../model/unreadable.js';
export { canonicalTenantOf } from './tenant.js';
export { flatGoalKpiLink, goalKpiLinkSchema, mapGoalKpiLink, typedGoalKpiLink, type FlatLinkRecord, type LinkMapping } from './goal-kpi-link.js';
export { LinkIndex, migratedLinkOf, type IndexedLink, type LinkIndexWire, type MigratedLink } from './link-index.js';
export { dataRowsOf, fastDataRecord, fastLinkRecord, linkRowOf, sharedDataValues, type SharedDataValue } from './fast-data.js';
export { fanOut, fannedRowIds, kpiDataRowId, SHARED_DATA_COLUMNS, type DataRecordKey, type DataRowContent, type TypedDataRecord } from './data-rows.js';
export { flatKpiMilestone, kpiMilestoneSchema, mapKpiMilestone, typedKpiMilestone } from './kpi-milestone.js';
export { flatKpiActual, kpiActualSchema, mapKpiActual, typedKpiActual } from './kpi-actual.js';
export { flatKpiReading, kpiReadingSchema, mapKpiReading, typedKpiReading } from './kpi-reading.js';
export * from '../model/entities.js';
export * from '../model/legacy-value.js';
export * from '../model/reject.js';
export * from '../model/rows.js';
