/**
 * The outcome a correct migration of a generated data set must report, computed from what the
 * generator meant each record to be — never from src/transform's mapping, so the two check
 * each other.
 *
 * How the contract is read here (agreed with the transform side where marked *):
 * - Optional attributes absent, NULL or "" all mean absent.*  A required one absent, NULL or ""
 *   is `missing_field`.*  GoalId is required.*  The table key `Id` is never missing (DynamoDB
 *   and kv keys need one).
 * - A wrong type, an unparsable number/boolean/timestamp, ConfidenceLevel outside 1–5 or
 *   DisplayOrder outside int4 is `invalid_value`.*  The broken values used are unambiguous:
 *   "TBD", "1,234.50", BOOL/M where a number belongs; "yes", "Y", N 2 or -1 for booleans;
 *   "yesterday", "2023-13-01", "31/12/2023", BOOL for timestamps (Date.parse rejects them too).
 * - A malformed GUID in Id, TenantId, GoalId, KpiId, SourceReferenceId, or a link's CreatedBy
 *   (a uuid column) is `invalid_id`.*  A link's UpdatedBy is a uuid column the agreement does not
 *   name: it is always a GUID here. Facts' CreatedBy/UpdatedBy/RecordedBy/ReadBy are text
 *   columns: about 5% are service accounts ("system", "import-service"), valid.
 * - LinkType/DataSource/Source outside their values (any case) is `unknown_enum`.*
 * - A record with several problems is rejected for the first in the contract's attribute order
 *   (§1 table, Id first).*  About 30% of the rejected-for-an-attribute records carry a second,
 *   later problem to prove it.
 * - A fact whose KPI has no migrated link in the fact's tenant is `no_kpi_link`.*  The KPI need
 *   not be in the kpis table: a link to a KPI missing from it migrates (its person comes from
 *   CreatedBy) and facts of that KPI fan out to it. The no_kpi_link cases: a KPI with no link,
 *   a KPI whose links in the tenant were all rejected, a KPI linked only in other tenants, and
 *   a KpiId that is no KPI at all.
 * - A fact whose canonical Id equals the Id of a migrated fact of an earlier entity (order
 *   KpiMilestone, KpiActual, KpiReading) is `id_conflict`; the earlier keeps the row.*  Each
 *   conflicting record reuses a distinct migrated record's Id, in any GUID form; it is
 *   otherwise valid and linked.
 * - A fact with a NUL (\u0000) in a text attribute (Label, Rationale, OverrideComment, Notes,
 *   ExternalRef) maps but PostgreSQL refuses it: `db_error`, no row.*  A kv_store source cannot
 *   hold such records at all (jsonb refuses \u0000), so the kv form of a data set leaves them
 *   out: fewer reads, no db_error, the same rows.
 * - Attribute-level checks come before no_kpi_link, which comes before id_conflict and
 *   db_error; the generator never combines these, so the order between them never matters.
 * - Links: no link is ever a no_kpi_link, id_conflict or db_error (no free-text attribute).
 *   person_id is the person of the link's tenant whose LinkedUserId equals the KPI's OwnerId
 *   (if the KPI is in the kpis table and has one) else the link's CreatedBy, compared as
 *   canonical GUIDs; no such person → a fallback. A link in another tenant than its KPI is
 *   created by the KPI's owner (when there is one), so reading "the KPI exists" per tenant or
 *   not gives the same user. No two people of a tenant share a LinkedUserId.
 * - AutoAdjustmentApplied maps to a text column but reads like a boolean: it is only ever the
 *   strings "true"/"false" (any case), valid either way.
 * - Fan-out: a migrated fact yields one kpi_data row per migrated link of its KPI in the
 *   fact's tenant.*
 * - Kpi and Person are lookups: the generator makes no invalid ones, so for them
 *   migrated = read (every item was taken into the lookup) and nothing is rejected.
 * - `rejected` lists the reasons that occur (no zero entries); `skipped` is always 0 (no
 *   filter).
 */
import { DATA_ENTITIES, LEGACY_ENTITIES, type DataEntity, type LegacyEntity } from '../model/entities.js';
import { REJECT_REASONS, type RejectReason } from '../model/reject.js';
import type { Population } from './population.js';
import { factTarget, fateOf, type FactPlans } from './facts.js';

export interface TableOutcome {
  read: number;
  migrated: number;
  rejected: Partial<Record<RejectReason, number>>;
  skipped: number;
}

export interface ExpectedOutcome {
  seed: number;
  /** Fact records generated (before a kv_store form leaves out what jsonb cannot hold). */
  items: number;
  tables: Record<LegacyEntity, TableOutcome>;
  /** kpi_data rows per source entity: the sum of each migrated record's fan-out. */
  kpiDataRows: Record<DataEntity, number>;
  /** kpi_links rows (= migrated GoalKpiLink records). */
  kpiLinks: number;
  /** Migrated links whose person_id fell back to the user GUID itself. */
  personFallbacks: number;
}

/** Whether a migrated link finds a person (contract §3), from the plan. */
export function linkFindsPerson(population: Population, linkIndex: number): boolean {
  const link = population.links[linkIndex]!;
  const kpi = population.kpis[link.kpi]!;
  const user = !kpi.ghost && kpi.owner !== null ? kpi.owner : link.createdBy;
  return population.personOfUser.has(`${link.tenant}|${user}`);
}

export function computeExpectedOutcome(
  population: Population,
  facts: FactPlans,
  options: { items: number; seed: number; nulInText: boolean },
): ExpectedOutcome {
  const emptyTable = (): TableOutcome => ({ read: 0, migrated: 0, rejected: {}, skipped: 0 });
  const tables = Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, emptyTable()])) as Record<LegacyEntity, TableOutcome>;
  const count = (table: TableOutcome, fate: RejectReason | 'migrated') => {
    table.read += 1;
    if (fate === 'migrated') table.migrated += 1;
    else table.rejected[fate] = (table.rejected[fate] ?? 0) + 1;
  };

  for (const kpi of population.kpis) if (!kpi.ghost) count(tables.Kpi, 'migrated');
  for (let i = 0; i < population.people.length; i++) count(tables.Person, 'migrated');

  let personFallbacks = 0;
  population.links.forEach((link, i) => {
    count(tables.GoalKpiLink, link.fate);
    if (link.fate === 'migrated' && !linkFindsPerson(population, i)) personFallbacks += 1;
  });

  const kpiDataRows = { KpiMilestone: 0, KpiActual: 0, KpiReading: 0 } as Record<DataEntity, number>;
  for (const entity of DATA_ENTITIES) {
    const plan = facts[entity];
    for (let i = 0; i < plan.count; i++) {
      const fate = fateOf(plan, i);
      if (fate === 'db_error' && !options.nulInText) continue;
      count(tables[entity], fate);
      if (fate === 'migrated') kpiDataRows[entity] += factTarget(population, options.seed, entity, i, fate).fanOut;
    }
  }

  for (const table of Object.values(tables)) table.rejected = inReasonOrder(table.rejected);
  return {
    seed: options.seed,
    items: options.items,
    tables,
    kpiDataRows,
    kpiLinks: tables.GoalKpiLink.migrated,
    personFallbacks,
  };
}

function inReasonOrder(rejected: Partial<Record<RejectReason, number>>): Partial<Record<RejectReason, number>> {
  const ordered: Partial<Record<RejectReason, number>> = {};
  for (const reason of REJECT_REASONS) if (rejected[reason]) ordered[reason] = rejected[reason];
  return ordered;
}
