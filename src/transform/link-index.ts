import { detachedText } from '../model/dynamodb-json.js';
import { canonicalGuid } from './coerce.js';
import { compareGuidWords, grownArray, guidToWords, ScopedGuidTable, wordsToGuid, type ScopedGuidTableWire } from './guid-table.js';
import type { KpiLinkRow } from '../model/rows.js';

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

const NO_LINKS: readonly IndexedLink[] = Object.freeze([]);

export function migratedLinkOf(row: Pick<KpiLinkRow, 'id' | 'tenant_id' | 'kpi_id' | 'is_primary' | 'source_id'>): MigratedLink {
  return { id: row.id, tenantId: row.tenant_id, kpiId: row.kpi_id, isPrimary: row.is_primary, sourceId: row.source_id };
}

/** A LinkIndex's contents as plain data, for another thread (structured clone carries typed arrays and Maps as they are). */
export interface LinkIndexWire {
  ids: Uint32Array<ArrayBuffer>;
  flags: Uint8Array<ArrayBuffer>;
  next: Int32Array<ArrayBuffer>;
  groupOf: Int32Array<ArrayBuffer>;
  sameId: Int32Array<ArrayBuffer>;
  texts: Map<number, string>;
  sourceIds: Map<number, string>;
  count: number;
  live: number;
  groups: ScopedGuidTableWire;
  heads: Int32Array<ArrayBuffer>;
  byId: ScopedGuidTableWire;
  firstWithId: Int32Array<ArrayBuffer>;
}

const PRIMARY = 1;
const REMOVED = 2;
/** The source id differs from the id's canonical text (braces, upper case): it is kept apart. */
const OWN_SOURCE_ID = 4;
/** The id is no canonical GUID (the transform makes sure it is): it is kept as text. */
const TEXT_ID = 8;
const END = -1;

/**
 * The migrated links of every KPI, in fan-out order.
 *
 * Links are numbered as they come and kept in typed arrays: the id as four 32-bit words, a flag
 * byte, the next link of the same KPI, the link's KPI and the next link with the same id. The
 * KPIs (tenant, kpi) and the ids each have a ScopedGuidTable. About 90 bytes a link, where a
 * Map of objects keyed by `tenant|kpi` text took about 350; a source id spelled otherwise than
 * the id (braces, upper case) adds a Map entry. Removed links leave their numbers unused.
 */
export class LinkIndex {
  #ids = new Uint32Array(4 * 1024);
  #flags = new Uint8Array(1024);
  /** Next link of the same KPI in fan-out order. */
  #next = new Int32Array(1024);
  /** The KPI (group entry) of each link. */
  #groupOf = new Int32Array(1024);
  /** Next link with the same canonical id (two source records may spell one id). */
  #sameId = new Int32Array(1024);
  readonly #texts = new Map<number, string>();
  readonly #sourceIds = new Map<number, string>();
  #count = 0;
  #live = 0;
  #groups = new ScopedGuidTable();
  #heads = new Int32Array(1024);
  #byId = new ScopedGuidTable();
  #firstWithId = new Int32Array(1024);

  /** Adds a link; a link with the same source id (the same record read again) replaces it. */
  add(link: MigratedLink): void {
    this.remove(link.sourceId);
    const n = this.#count++;
    this.#ids = grownArray(this.#ids, 4 * (n + 1));
    this.#flags = grownArray(this.#flags, n + 1);
    this.#next = grownArray(this.#next, n + 1);
    this.#groupOf = grownArray(this.#groupOf, n + 1);
    this.#sameId = grownArray(this.#sameId, n + 1);
    let flags = link.isPrimary ? PRIMARY : 0;
    if (!guidToWords(link.id, this.#ids, 4 * n)) {
      flags |= TEXT_ID;
      this.#texts.set(n, detachedText(link.id));
    }
    if (link.sourceId !== link.id) {
      flags |= OWN_SOURCE_ID;
      this.#sourceIds.set(n, detachedText(link.sourceId));
    }
    this.#flags[n] = flags;

    const byId = this.#byId.insert('', link.id);
    this.#firstWithId = grownArray(this.#firstWithId, byId.entry + 1);
    this.#sameId[n] = byId.created ? END : this.#firstWithId[byId.entry]!;
    this.#firstWithId[byId.entry] = n;

    const group = this.#groups.insert(link.tenantId, link.kpiId);
    this.#heads = grownArray(this.#heads, group.entry + 1);
    if (group.created) this.#heads[group.entry] = END;
    this.#groupOf[n] = group.entry;
    let before = END;
    let at = this.#heads[group.entry]!;
    while (at !== END && this.#compare(at, n) <= 0) {
      before = at;
      at = this.#next[at]!;
    }
    this.#next[n] = at;
    if (before === END) this.#heads[group.entry] = n;
    else this.#next[before] = n;
    this.#live += 1;
  }

  /**
   * Its contents, copied (the used part of each array): a thread that needs the index another
   * has built takes it this way instead of reading the links table again.
   */
  toWire(): LinkIndexWire {
    const n = this.#count;
    return {
      ids: this.#ids.slice(0, 4 * n),
      flags: this.#flags.slice(0, n),
      next: this.#next.slice(0, n),
      groupOf: this.#groupOf.slice(0, n),
      sameId: this.#sameId.slice(0, n),
      texts: new Map(this.#texts),
      sourceIds: new Map(this.#sourceIds),
      count: n,
      live: this.#live,
      groups: this.#groups.toWire(),
      heads: this.#heads.slice(0, this.#groups.size),
      byId: this.#byId.toWire(),
      firstWithId: this.#firstWithId.slice(0, this.#byId.size),
    };
  }

  /** The index toWire gave: the same links in the same order, able to take and forget links again. */
  static fromWire(wire: LinkIndexWire): LinkIndex {
    const index = new LinkIndex();
    index.#ids = wire.ids;
    index.#flags = wire.flags;
    index.#next = wire.next;
    index.#groupOf = wire.groupOf;
    index.#sameId = wire.sameId;
    for (const [n, text] of wire.texts) index.#texts.set(n, text);
    for (const [n, text] of wire.sourceIds) index.#sourceIds.set(n, text);
    index.#count = wire.count;
    index.#live = wire.live;
    index.#groups = ScopedGuidTable.fromWire(wire.groups);
    index.#heads = wire.heads;
    index.#byId = ScopedGuidTable.fromWire(wire.byId);
    index.#firstWithId = wire.firstWithId;
    return index;
  }

  /** Forgets a link the load stage rejected. Returns whether it was there. */
  remove(sourceId: string): boolean {
    const n = this.#find(sourceId);
    if (n === END) return false;
    const group = this.#groupOf[n]!;
    let before = END;
    let at = this.#heads[group]!;
    while (at !== n) {
      before = at;
      at = this.#next[at]!;
    }
    if (before === END) this.#heads[group] = this.#next[n]!;
    else this.#next[before] = this.#next[n]!;
    this.#flags[n] = this.#flags[n]! | REMOVED;
    this.#texts.delete(n);
    this.#sourceIds.delete(n);
    this.#live -= 1;
    return true;
  }

  /** The links of a KPI in a tenant, is_primary desc then id asc (contract §3). */
  linksOf(tenantId: string, kpiId: string): readonly IndexedLink[] {
    const group = this.#groups.find(tenantId, kpiId);
    if (group === -1 || this.#heads[group] === END) return NO_LINKS;
    const links: IndexedLink[] = [];
    for (let at = this.#heads[group]!; at !== END; at = this.#next[at]!) {
      const id = this.#idOf(at);
      links.push({ id, isPrimary: (this.#flags[at]! & PRIMARY) !== 0, sourceId: this.#sourceIdOf(at, id) });
    }
    return links;
  }

  get size(): number {
    return this.#live;
  }

  #idOf(n: number): string {
    return (this.#flags[n]! & TEXT_ID) !== 0 ? this.#texts.get(n)! : wordsToGuid(this.#ids, 4 * n);
  }

  #sourceIdOf(n: number, id = this.#idOf(n)): string {
    return (this.#flags[n]! & OWN_SOURCE_ID) !== 0 ? this.#sourceIds.get(n)! : id;
  }

  /** The live link read from `sourceId`, or END. */
  #find(sourceId: string): number {
    const canonical = canonicalGuid(sourceId);
    const entry = canonical === undefined ? -1 : this.#byId.find('', canonical);
    if (entry !== -1) {
      for (let at = this.#firstWithId[entry]!; at !== END; at = this.#sameId[at]!) {
        if ((this.#flags[at]! & REMOVED) === 0 && this.#sourceIdOf(at) === sourceId) return at;
      }
    }
    // An id kept as text is found by its own spelling only.
    const byText = this.#byId.find('', sourceId);
    if (byText !== -1 && byText !== entry) {
      for (let at = this.#firstWithId[byText]!; at !== END; at = this.#sameId[at]!) {
        if ((this.#flags[at]! & REMOVED) === 0 && this.#sourceIdOf(at) === sourceId) return at;
      }
    }
    return END;
  }

  /** Fan-out order: is_primary desc, id asc, then the source id (independent of read order). */
  #compare(a: number, b: number): number {
    const primaryA = (this.#flags[a]! & PRIMARY) !== 0;
    const primaryB = (this.#flags[b]! & PRIMARY) !== 0;
    if (primaryA !== primaryB) return primaryA ? -1 : 1;
    const textIds = ((this.#flags[a]! | this.#flags[b]!) & TEXT_ID) !== 0;
    const byId = textIds ? compareText(this.#idOf(a), this.#idOf(b)) : compareGuidWords(this.#ids, 4 * a, this.#ids, 4 * b);
    return byId !== 0 ? byId : compareText(this.#sourceIdOf(a), this.#sourceIdOf(b));
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
