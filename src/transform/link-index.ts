import type { KpiLinkRow } from './rows.js';

/** A link that made it into kpi_links, as the fan-out of kpi_data needs it. Canonical GUIDs. */
export interface MigratedLink {
  id: string;
  tenantId: string;
  kpiId: string;
  isPrimary: boolean;
  /** The legacy `Id` as read: how the load stage names a link it rejected. */
  sourceId: string;
}

export interface IndexedLink {
  readonly id: string;
  readonly isPrimary: boolean;
  readonly sourceId: string;
}

interface KpiLinks {
  readonly key: string;
  /** Kept in fan-out order: is_primary desc, id asc. */
  readonly links: IndexedLink[];
}

const NO_LINKS: readonly IndexedLink[] = Object.freeze([]);

export function migratedLinkOf(row: Pick<KpiLinkRow, 'id' | 'tenant_id' | 'kpi_id' | 'is_primary' | 'source_id'>): MigratedLink {
  return { id: row.id, tenantId: row.tenant_id, kpiId: row.kpi_id, isPrimary: row.is_primary, sourceId: row.source_id };
}

/**
 * The migrated links of every KPI, in fan-out order.
 *
 * Memory per link: a three-field object (about 40 bytes) holding the 36-character id (about
 * 56 bytes; the source id shares it when it is already canonical), its array slot (8 bytes) and
 * an entry in the by-source-id Map (about 40 bytes): roughly 150 bytes. Each KPI with links
 * adds its 73-character key and array, about 150 bytes more.
 */
export class LinkIndex {
  readonly #byKpi = new Map<string, KpiLinks>();
  readonly #bySourceId = new Map<string, KpiLinks>();

  /** Adds a link; a link with the same source id (the same record read again) replaces it. */
  add(link: MigratedLink): void {
    this.remove(link.sourceId);
    const key = `${link.tenantId}|${link.kpiId}`;
    let group = this.#byKpi.get(key);
    if (group === undefined) {
      group = { key, links: [] };
      this.#byKpi.set(key, group);
    }
    const entry: IndexedLink = {
      id: link.id,
      isPrimary: link.isPrimary,
      sourceId: link.sourceId === link.id ? link.id : link.sourceId,
    };
    const at = group.links.findIndex((other) => compareFanOutOrder(entry, other) < 0);
    group.links.splice(at === -1 ? group.links.length : at, 0, entry);
    this.#bySourceId.set(entry.sourceId, group);
  }

  /** Forgets a link the load stage rejected. Returns whether it was there. */
  remove(sourceId: string): boolean {
    const group = this.#bySourceId.get(sourceId);
    if (group === undefined) return false;
    this.#bySourceId.delete(sourceId);
    const at = group.links.findIndex((link) => link.sourceId === sourceId);
    if (at !== -1) group.links.splice(at, 1);
    if (group.links.length === 0) this.#byKpi.delete(group.key);
    return true;
  }

  /** The links of a KPI in a tenant, is_primary desc then id asc (contract §3). Do not modify. */
  linksOf(tenantId: string, kpiId: string): readonly IndexedLink[] {
    return this.#byKpi.get(`${tenantId}|${kpiId}`)?.links ?? NO_LINKS;
  }

  get size(): number {
    return this.#bySourceId.size;
  }
}

function compareFanOutOrder(a: IndexedLink, b: IndexedLink): number {
  if (a.isPrimary !== b.isPrimary) return a.isPrimary ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  // Two source records with one canonical id (the load stage rejects one): still independent of read order.
  return a.sourceId < b.sourceId ? -1 : a.sourceId > b.sourceId ? 1 : 0;
}
