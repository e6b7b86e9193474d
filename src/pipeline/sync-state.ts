import type { LegacyEntity } from '../model/entities.js';
import {
  LinkIndex,
  canonicalGuid,
  migratedLinkOf,
  parseKpi,
  parsePerson,
  type KpiLinkRow,
  type LegacyItem,
  type MigratedLink,
  type PersonResolution,
} from '../transform/index.js';

/** A (tenant, KPI) pair, canonical GUIDs. */
export interface KpiKey {
  tenantId: string;
  kpiId: string;
}

const pairKey = (tenantId: string, id: string): string => `${tenantId}|${id}`;

/**
 * The KPIs and people as a sync keeps them: like LinkLookups, but a record can leave (deleted,
 * changed, now unreadable), so each entry is kept by the record that made it.
 */
export class SyncLookups implements PersonResolution {
  readonly #kpiBySource = new Map<string, { key: string; owner: string | null }>();
  readonly #owners = new Map<string, { sourceId: string; owner: string | null }>();
  readonly #personBySource = new Map<string, { key: string; id: string }>();
  /** (tenant, linked user) → the ids of the people linked to it. */
  readonly #people = new Map<string, Set<string>>();

  /** Sets the KPI record's entry (or removes it: deleted, or no longer a KPI the mapping reads). Returns the pairs whose links it concerns. */
  setKpi(sourceId: string, item: LegacyItem | null): KpiKey[] {
    const touched: KpiKey[] = [];
    const previous = this.#kpiBySource.get(sourceId);
    if (previous !== undefined) {
      this.#kpiBySource.delete(sourceId);
      if (this.#owners.get(previous.key)?.sourceId === sourceId) this.#owners.delete(previous.key);
      touched.push(keyPair(previous.key));
    }
    const parsed = item === null ? undefined : parseKpi(item);
    if (parsed?.ok) {
      const key = pairKey(parsed.value.tenantId, parsed.value.id);
      this.#kpiBySource.set(sourceId, { key, owner: parsed.value.ownerId });
      // Two records spelling one KPI: the latest read wins, as in a run's lookups.
      this.#owners.set(key, { sourceId, owner: parsed.value.ownerId });
      // Touched even when the entry is as it was: the lookups start from the image, which may be
      // newer than what the target was derived from, so "unchanged" proves nothing about the target.
      touched.push(keyPair(key));
    }
    return touched;
  }

  /** Sets the person record's entry; returns the tenants whose links it concerns. */
  setPerson(sourceId: string, item: LegacyItem | null): string[] {
    const tenants: string[] = [];
    const previous = this.#personBySource.get(sourceId);
    if (previous !== undefined) {
      this.#personBySource.delete(sourceId);
      const ids = this.#people.get(previous.key);
      ids?.delete(previous.id);
      if (ids?.size === 0) this.#people.delete(previous.key);
      tenants.push(keyPair(previous.key).tenantId);
    }
    const parsed = item === null ? undefined : parsePerson(item);
    if (parsed?.ok && parsed.value.linkedUserId !== null) {
      const key = pairKey(parsed.value.tenantId, parsed.value.linkedUserId);
      this.#personBySource.set(sourceId, { key, id: parsed.value.id });
      const ids = this.#people.get(key) ?? new Set<string>();
      ids.add(parsed.value.id);
      this.#people.set(key, ids);
      tenants.push(parsed.value.tenantId);
    }
    return tenants;
  }

  kpiOwner(tenantId: string, kpiId: string): string | null | undefined {
    return this.#owners.get(pairKey(tenantId, kpiId))?.owner;
  }

  personFor(tenantId: string, userId: string): string | undefined {
    const ids = this.#people.get(pairKey(tenantId, userId));
    if (ids === undefined) return undefined;
    // Several people linked to one user: the lowest Id wins (as LinkLookups decides).
    let lowest: string | undefined;
    for (const id of ids) if (lowest === undefined || id < lowest) lowest = id;
    return lowest;
  }
}

function keyPair(key: string): KpiKey {
  const at = key.indexOf('|');
  return { tenantId: key.slice(0, at), kpiId: key.slice(at + 1) };
}

/**
 * The links facts fan out to, as the target holds them (not as the image says: the image may be
 * newer): the link index, and each migrated link's state by source id, so that a sync sees when
 * a link's fan-out changes (gone, moved to another KPI, primary flipped).
 */
export class SyncLinks {
  readonly index = new LinkIndex();
  readonly #migrated = new Map<string, MigratedLink>();

  /** Sets a link record's migrated state (undefined: it has no row); returns the KPIs whose fan-out changed. */
  set(sourceId: string, row: Pick<KpiLinkRow, 'id' | 'tenant_id' | 'kpi_id' | 'is_primary' | 'source_id'> | undefined): KpiKey[] {
    const previous = this.#migrated.get(sourceId);
    const next = row === undefined ? undefined : migratedLinkOf(row);
    if (sameLink(previous, next)) return [];
    const touched: KpiKey[] = [];
    if (previous !== undefined) {
      this.index.remove(sourceId);
      this.#migrated.delete(sourceId);
      touched.push({ tenantId: previous.tenantId, kpiId: previous.kpiId });
    }
    if (next !== undefined) {
      this.index.add(next);
      this.#migrated.set(sourceId, next);
      touched.push({ tenantId: next.tenantId, kpiId: next.kpiId });
    }
    return touched;
  }
}

function sameLink(a: MigratedLink | undefined, b: MigratedLink | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.id === b.id && a.tenantId === b.tenantId && a.kpiId === b.kpiId && a.isPrimary === b.isPrimary && a.sourceId === b.sourceId;
}

/** The canonical tenant and KPI a record names (what the image indexes it by), when it names them. */
export function imageKeysOf(entity: LegacyEntity, item: LegacyItem): { tenantId: string | null; kpiId: string | null } {
  const guid = (value: unknown): string | null => (typeof value === 'string' ? (canonicalGuid(value) ?? null) : null);
  return { tenantId: guid(item.TenantId), kpiId: entity === 'Kpi' ? guid(item.Id) : guid(item.KpiId) };
}

/**
 * The run's id_conflict losers of one table, by the row ids they claim. A loser's outcome changes
 * only when the record holding (or now claiming) one of those ids changes: a batch re-derives the
 * losers at the ids its records held or claim, not every loser of the run.
 */
export class ConflictLosers<Key> {
  readonly #claims = new Map<string, { key: Key; rowIds: readonly string[] }>();
  readonly #byRow = new Map<string, Set<string>>();

  /** Records `key` (named `text`) as a loser claiming `rowIds`, or (undefined) as no loser. */
  set(text: string, key: Key, rowIds: readonly string[] | undefined): void {
    for (const id of this.#claims.get(text)?.rowIds ?? []) {
      const holders = this.#byRow.get(id);
      holders?.delete(text);
      if (holders?.size === 0) this.#byRow.delete(id);
    }
    this.#claims.delete(text);
    if (rowIds === undefined) return;
    this.#claims.set(text, { key, rowIds });
    for (const id of rowIds) {
      let holders = this.#byRow.get(id);
      if (holders === undefined) this.#byRow.set(id, (holders = new Set()));
      holders.add(text);
    }
  }

  /** The losers claiming any of these row ids. */
  at(rowIds: Iterable<string>): Key[] {
    const found = new Set<string>();
    for (const id of rowIds) for (const text of this.#byRow.get(id) ?? []) found.add(text);
    return [...found].map((text) => this.#claims.get(text)!.key);
  }
}
