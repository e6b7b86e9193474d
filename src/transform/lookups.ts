import { compareGuidWords, grownArray, guidToWords, ScopedGuidTable, wordsToGuid } from './guid-table.js';
import type { Kpi } from './kpi.js';
import type { Person } from './person.js';

/** A GUID value per entry: four words when canonical, the text itself otherwise. */
class GuidValues {
  #words = new Uint32Array(4 * 1024);
  /** 0: none, 1: in #words, 2: in #texts. */
  #state = new Uint8Array(1024);
  readonly #texts = new Map<number, string>();

  set(entry: number, value: string | null): void {
    this.#words = grownArray(this.#words, 4 * (entry + 1));
    this.#state = grownArray(this.#state, entry + 1);
    this.#texts.delete(entry);
    if (value === null) this.#state[entry] = 0;
    else if (guidToWords(value, this.#words, 4 * entry)) this.#state[entry] = 1;
    else {
      this.#state[entry] = 2;
      this.#texts.set(entry, value);
    }
  }

  get(entry: number): string | null {
    const state = this.#state[entry];
    return state === 1 ? wordsToGuid(this.#words, 4 * entry) : state === 2 ? this.#texts.get(entry)! : null;
  }

  /** Whether `value` orders before the entry's value (as text: canonical GUIDs order as their words). */
  precedes(value: string, entry: number, scratch: Uint32Array): boolean {
    if (this.#state[entry] === 1 && guidToWords(value, scratch, 0)) return compareGuidWords(scratch, 0, this.#words, 4 * entry) < 0;
    return value < (this.get(entry) ?? '');
  }
}

/** What a link's person resolution asks of the KPI and people tables (contract §3). Canonical GUIDs in. */
export interface PersonResolution {
  /** The KPI's owner GUID, null when it has none, undefined when the KPI is unknown. */
  kpiOwner(tenantId: string, kpiId: string): string | null | undefined;
  /** The person linked to a user in a tenant (the lowest Id when several are), undefined when there is none. */
  personFor(tenantId: string, userId: string): string | undefined;
}

/**
 * What a link's person resolution needs from the KPI and people tables, fed record by record.
 *
 * Memory: each KPI and each person with a LinkedUserId is one entry of a ScopedGuidTable (tenant,
 * id: 20 bytes of key, about 8 of hash slots) and a 16-byte GUID value with a state byte: about
 * 45 bytes an entry, so a million KPIs and a million people take about 90 MB. (Map entries keyed
 * by `tenant|id` text took about 270 bytes.)
 */
export class LinkLookups implements PersonResolution {
  /** (tenant, kpiId) → the owner's user GUID, or none. */
  readonly #kpis = new ScopedGuidTable();
  readonly #owners = new GuidValues();
  /** (tenant, linkedUserId) → the lowest person Id linked to that user. */
  readonly #people = new ScopedGuidTable();
  readonly #personIds = new GuidValues();
  readonly #scratch = new Uint32Array(4);

  addKpi(kpi: Pick<Kpi, 'id' | 'tenantId' | 'ownerId'>): void {
    const { entry } = this.#kpis.insert(kpi.tenantId, kpi.id);
    this.#owners.set(entry, kpi.ownerId ?? null);
  }

  addPerson(person: Pick<Person, 'id' | 'tenantId' | 'linkedUserId'>): void {
    if (person.linkedUserId === null) return;
    const { entry, created } = this.#people.insert(person.tenantId, person.linkedUserId);
    // Several people linked to one user: the lowest Id wins, whatever order they are read in.
    if (created || this.#personIds.precedes(person.id, entry, this.#scratch)) this.#personIds.set(entry, person.id);
  }

  /** The KPI's owner GUID, null when it has none, undefined when the KPI is unknown. Canonical GUIDs in. */
  kpiOwner(tenantId: string, kpiId: string): string | null | undefined {
    const entry = this.#kpis.find(tenantId, kpiId);
    return entry === -1 ? undefined : this.#owners.get(entry);
  }

  /** The person linked to a user in a tenant, undefined when there is none. */
  personFor(tenantId: string, userId: string): string | undefined {
    const entry = this.#people.find(tenantId, userId);
    return entry === -1 ? undefined : (this.#personIds.get(entry) ?? undefined);
  }

  get kpiCount(): number {
    return this.#kpis.size;
  }

  get linkedPersonCount(): number {
    return this.#people.size;
  }
}
