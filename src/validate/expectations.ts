import type { LegacySource } from '../model/source.js';
import { itemsOf } from '../reading/read-all.js';
import { readLinkIndex } from '../reading/lookups.js';
import {
  canonicalGuid,
  canonicalTenantOf,
  dataRowsOf,
  fannedRowIds,
  fastDataRecord,
  kpiDataRowId,
  mapGoalKpiLink,
  mapKpiActual,
  mapKpiMilestone,
  mapKpiReading,
  type DataEntity,
  type LegacyItem,
  type LinkIndex,
  type LinkLookups,
  type LinkMapping,
  type MappingResult,
  type MigratedEntity,
  type TypedDataRecord,
} from '../transform/index.js';
import type { KpiDataRow, KpiLinkRow } from '../model/rows.js';
import { FlatItem } from '../model/dynamodb-json.js';
import type { LedgerPass, Accounted } from './reject-ledger.js';
import { bucketOf } from './row-digest.js';
import type { Difference } from './report.js';

/** What one source record should have left in the target, recomputed from the source alone. */
export interface RecordExpectation {
  entity: MigratedEntity;
  /** The legacy Id as read, null when the item has none that is text. */
  sourceId: string | null;
  outcome: Accounted | 'skipped';
  /** The rows it must have in the target: only when `migrated`. */
  rows: readonly (KpiLinkRow | KpiDataRow)[] | FannedRows;
  /** The record and the run's rejects disagree. */
  difference?: Difference;
  /** Links: person_id fell back to a user GUID. */
  personFallback?: boolean;
  /** Links: the KPI is in the source's kpis table. */
  kpiKnown?: boolean;
}

/**
 * The rows of a fact the fast path vouched for, as it gives them: the COPY fields they share and
 * each row's id and link. Iterated, they are the rows the full path maps (dataRowsOf builds
 * them); the row digests read the shared fields once per record instead (RowReconciliation.addFanned).
 */
export class FannedRows implements Iterable<KpiDataRow> {
  constructor(
    readonly record: TypedDataRecord,
    readonly ids: readonly { id: string; linkId: string }[],
  ) {}

  get length(): number {
    return this.ids.length;
  }

  [Symbol.iterator](): Iterator<KpiDataRow> {
    return dataRowsOf(this.record, this.ids)[Symbol.iterator]();
  }
}

export type ExpectationVisitor = (expectation: RecordExpectation) => void;

const DATA_MAPPERS: Record<DataEntity, (item: LegacyItem, links: LinkIndex) => MappingResult<KpiDataRow>> = {
  KpiMilestone: mapKpiMilestone,
  KpiActual: mapKpiActual,
  KpiReading: mapKpiReading,
};

function sourceIdOf(item: LegacyItem): string | null {
  return typeof item.Id === 'string' ? item.Id : null;
}

function expectationOf(
  entity: MigratedEntity,
  sourceId: string | null,
  mapped: MappingResult<KpiLinkRow | KpiDataRow> | { ok: true; rows: FannedRows } | 'skipped',
  pass: LedgerPass,
): RecordExpectation {
  if (mapped === 'skipped') return { entity, sourceId, outcome: 'skipped', rows: [] };
  const accounting = mapped.ok
    ? pass.take(entity, sourceId, { rows: mapped.rows.length })
    : pass.take(entity, sourceId, { reason: mapped.reject.reason, message: mapped.reject.message });
  return {
    entity,
    sourceId,
    outcome: accounting.accounted,
    rows: mapped.ok && accounting.accounted === 'migrated' ? mapped.rows : [],
    ...(accounting.difference === undefined ? {} : { difference: accounting.difference }),
  };
}

/**
 * Streams the links table through the transform as the runner does, and returns the link index
 * the facts fan out over (less the links the run's database refused).
 */
export async function expectLinks(
  source: LegacySource,
  lookups: LinkLookups,
  pass: LedgerPass,
  scope: { tenant?: string; refusedLinks: readonly string[] },
  visit: ExpectationVisitor,
): Promise<LinkIndex> {
  return readLinkIndex(source, lookups, {
    tenant: scope.tenant,
    refusedSourceIds: scope.refusedLinks,
    onLink(sourceId, mapping: LinkMapping | 'skipped') {
      const expectation = expectationOf('GoalKpiLink', sourceId, mapping, pass);
      if (mapping !== 'skipped' && mapping.ok) {
        expectation.personFallback = mapping.personFallback;
        expectation.kpiKnown = mapping.kpiKnown;
      }
      visit(expectation);
    },
  });
}

/** Streams one fact table through the transform, fanned out over the link index. */
export async function expectData(
  source: LegacySource,
  entity: DataEntity,
  links: LinkIndex,
  pass: LedgerPass,
  tenant: string | undefined,
  visit: ExpectationVisitor,
  /** Items for which this says false are passed over unmapped (they cannot matter to the caller). */
  only?: (item: LegacyItem) => boolean,
): Promise<void> {
  const map = DATA_MAPPERS[entity];
  if (only === undefined && tenant === undefined && source.readTypedTable !== undefined) {
    // The run's own fast path: what it vouches for is read back from its COPY fields, the rest mapped the full way.
    const flat = new FlatItem();
    for await (const page of source.readTypedTable(entity)) {
      for (let index = 0; index < page.count; index++) {
        const record = fastDataRecord(entity, page, index, flat);
        const fanned = record === undefined ? [] : fannedRowIds(entity, record.key, links);
        if (record !== undefined && fanned.length > 0) {
          visit(expectationOf(entity, record.sourceId, { ok: true, rows: new FannedRows(record, fanned) }, pass));
        } else {
          const item = page.item(index);
          visit(expectationOf(entity, sourceIdOf(item), map(item, links), pass));
        }
      }
    }
    return;
  }
  for await (const item of itemsOf(source, entity)) {
    if (only !== undefined && !only(item)) continue;
    const skipped = tenant !== undefined && canonicalTenantOf(item) !== tenant;
    visit(expectationOf(entity, sourceIdOf(item), skipped ? 'skipped' : map(item, links), pass));
  }
}

/**
 * Whether a fact item could yield a row whose id falls in one of these buckets, found without
 * mapping it: its row ids are its canonical Id and name-based ids over its KPI's links. False
 * only when it cannot (an item that fails to map yields no row at all).
 */
export function mayYieldRowIn(entity: DataEntity, item: LegacyItem, links: LinkIndex, buckets: ReadonlySet<string>): boolean {
  const id = typeof item.Id === 'string' ? canonicalGuid(item.Id) : undefined;
  const tenant = canonicalTenantOf(item);
  const kpi = typeof item.KpiId === 'string' ? canonicalGuid(item.KpiId) : undefined;
  if (id === undefined || tenant === undefined || kpi === undefined) return false;
  const kpiLinks = links.linksOf(tenant, kpi);
  return kpiLinks.some((link, index) => buckets.has(bucketOf(kpiDataRowId(entity, id, link.id, index === 0))));
}

/** One record, read again by key, as the same expectation (without taking a reject: see samples). */
export function mapAgain(
  entity: MigratedEntity,
  item: LegacyItem,
  context: { lookups: LinkLookups; links: LinkIndex; tenant?: string },
): { skipped: true } | { skipped: false; mapped: MappingResult<KpiLinkRow | KpiDataRow> } {
  if (context.tenant !== undefined && canonicalTenantOf(item) !== context.tenant) return { skipped: true };
  if (entity !== 'GoalKpiLink') return { skipped: false, mapped: DATA_MAPPERS[entity](item, context.links) };
  const mapped = mapGoalKpiLink(item, context.lookups);
  return { skipped: false, mapped: mapped.ok ? { ok: true, rows: mapped.rows } : mapped };
}
