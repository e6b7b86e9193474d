import type { LegacySource, NextRead } from '../model/source.js';
import type { LegacyItem } from '../model/legacy-value.js';
import type { Reject } from '../model/reject.js';
import {
  LinkIndex,
  LinkLookups,
  canonicalTenantOf,
  fastLinkRecord,
  linkRowOf,
  mapGoalKpiLink,
  parseKpi,
  parsePerson,
  typedKpi,
  typedPerson,
  type LinkMapping,
} from '../transform/index.js';
import { itemsOf, typedItemsOf } from './read-all.js';
import { FlatItem } from '../model/dynamodb-json.js';

/** What reading one lookup table gave: read = used + rejects.length. */
export interface LookupOutcome {
  entity: 'Kpi' | 'Person';
  read: number;
  used: number;
  rejects: Reject[];
}

export interface LookupReading {
  /** Called every `every` items and once at the end of each table. */
  onProgress?: (entity: 'Kpi' | 'Person', read: number, done: boolean) => void;
  every?: number;
  /** What this source reads after the lookups (its first pages may be asked for meanwhile). */
  next?: NextRead;
}

/**
 * The KPIs and people, read whole into the lookups a link's person resolution needs (contract
 * §3). The runner and the validator both build them this way, so they resolve the same persons.
 * Memory: see LinkLookups; the rejects of both tables are kept too (they are few, and reported).
 */
export async function readLinkLookups(
  source: LegacySource,
  reading: LookupReading = {},
): Promise<{ lookups: LinkLookups; outcomes: LookupOutcome[] }> {
  const lookups = new LinkLookups();
  const every = reading.every ?? 10_000;
  const outcomes: LookupOutcome[] = [];
  for (const [entity, parseTyped, parse, add, next] of [
    ['Kpi', typedKpi, parseKpi, (value: never) => lookups.addKpi(value), { entity: 'Person' } as NextRead],
    ['Person', typedPerson, parsePerson, (value: never) => lookups.addPerson(value), reading.next],
  ] as const) {
    const outcome: LookupOutcome = { entity, read: 0, used: 0, rejects: [] };
    for await (const { typed, item } of typedItemsOf(source, entity, next)) {
      outcome.read += 1;
      // The fast path where it vouches for the record; the full parse decides every reject.
      const fast = typed === undefined ? undefined : parseTyped(typed);
      const parsed = fast === undefined ? parse(item()) : ({ ok: true, value: fast } as const);
      if (parsed.ok) {
        add(parsed.value as never);
        outcome.used += 1;
      } else {
        outcome.rejects.push(parsed.reject);
      }
      if (outcome.read % every === 0) reading.onProgress?.(entity, outcome.read, false);
    }
    reading.onProgress?.(entity, outcome.read, true);
    outcomes.push(outcome);
  }
  return { lookups, outcomes };
}

export interface LinkIndexReading {
  /** Only this tenant's links (canonical GUID); the others are passed to `onLink` as 'skipped'. */
  tenant?: string;
  /** Source ids of links the database refused (id_conflict, db_error): they get no fan-out. */
  refusedSourceIds?: Iterable<string>;
  /** Every link record as read: its Id as read (null when it has none that is text), and what the mapping made of it. */
  onLink?: (sourceId: string | null, mapping: LinkMapping | 'skipped') => void;
}

/**
 * The migrated links of every KPI, in fan-out order, from the links table and the lookups: each
 * link the mapping accepts, less those the database refused. The runner and the validator both
 * build it this way, so a fact fans out to the same links in both. A link the fast path vouches
 * for is read flat, as a run's reader reads it; any other goes the full way, which decides its reject.
 */
export async function readLinkIndex(source: LegacySource, lookups: LinkLookups, reading: LinkIndexReading = {}): Promise<LinkIndex> {
  const index = new LinkIndex();
  const take = (item: LegacyItem): void => {
    const sourceId = typeof item.Id === 'string' ? item.Id : null;
    if (reading.tenant !== undefined && canonicalTenantOf(item) !== reading.tenant) {
      reading.onLink?.(sourceId, 'skipped');
      return;
    }
    const mapped = mapGoalKpiLink(item, lookups);
    reading.onLink?.(sourceId, mapped);
    if (!mapped.ok) return;
    for (const row of mapped.rows) {
      index.add({ id: row.id, tenantId: row.tenant_id, kpiId: row.kpi_id, isPrimary: row.is_primary, sourceId: row.source_id });
    }
  };
  if (reading.tenant === undefined && source.readTypedTable !== undefined) {
    const flat = new FlatItem();
    for await (const page of source.readTypedTable('GoalKpiLink')) {
      for (let at = 0; at < page.count; at++) {
        const record = fastLinkRecord(page, at, flat, lookups);
        if (record === undefined) {
          take(page.item(at));
          continue;
        }
        index.add(record.link);
        reading.onLink?.(record.sourceId, { ok: true, rows: [linkRowOf(record)], personFallback: record.personFallback, kpiKnown: record.kpiKnown });
      }
    }
  } else {
    for await (const item of itemsOf(source, 'GoalKpiLink')) take(item);
  }
  for (const sourceId of reading.refusedSourceIds ?? []) index.remove(sourceId);
  return index;
}
