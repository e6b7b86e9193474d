import type { Kpi } from './kpi.js';
import type { Person } from './person.js';

/**
 * What a link's person resolution needs from the KPI and people tables, fed record by record.
 *
 * Memory: one Map entry per KPI and one per person that has a LinkedUserId. An entry holds a
 * 73-character key (`tenant|id`, about 96 bytes), a 36-character GUID value (about 56 bytes,
 * none for a KPI without owner) and the Map's own slot (about 40 bytes): roughly 190 bytes,
 * so a million KPIs and a million people take about 380 MB.
 */
export class LinkLookups {
  /** `tenant|kpiId` → owner user GUID, or '' for a KPI without owner. */
  readonly #kpiOwners = new Map<string, string>();
  /** `tenant|linkedUserId` → the lowest person Id linked to that user. */
  readonly #peopleByUser = new Map<string, string>();

  addKpi(kpi: Pick<Kpi, 'id' | 'tenantId' | 'ownerId'>): void {
    this.#kpiOwners.set(`${kpi.tenantId}|${kpi.id}`, kpi.ownerId ?? '');
  }

  addPerson(person: Pick<Person, 'id' | 'tenantId' | 'linkedUserId'>): void {
    if (person.linkedUserId === null) return;
    const key = `${person.tenantId}|${person.linkedUserId}`;
    const current = this.#peopleByUser.get(key);
    // Several people linked to one user: the lowest Id wins, whatever order they are read in.
    if (current === undefined || person.id < current) this.#peopleByUser.set(key, person.id);
  }

  /** The KPI's owner GUID, null when it has none, undefined when the KPI is unknown. Canonical GUIDs in. */
  kpiOwner(tenantId: string, kpiId: string): string | null | undefined {
    const owner = this.#kpiOwners.get(`${tenantId}|${kpiId}`);
    return owner === undefined ? undefined : owner === '' ? null : owner;
  }

  /** The person linked to a user in a tenant, undefined when there is none. */
  personFor(tenantId: string, userId: string): string | undefined {
    return this.#peopleByUser.get(`${tenantId}|${userId}`);
  }

  get kpiCount(): number {
    return this.#kpiOwners.size;
  }

  get linkedPersonCount(): number {
    return this.#peopleByUser.size;
  }
}
