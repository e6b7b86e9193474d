import { REJECT_REASONS, type RejectReason } from '../model/reject.js';
import { randomGuid, rngFor } from './prng.js';

/**
 * The lookups and links of a generated data set, planned before any item is written: tenants,
 * users, people, KPIs and links with each link's intended fate. This is the small state the
 * generator keeps in memory (about one entry per KPI, person and link); fact records are
 * rebuilt from their index alone.
 */

/** 'migrated', or the reason the record is meant to be rejected for. */
export type Fate = 'migrated' | RejectReason;

/** Fates as bytes, so a million fact records cost a megabyte. */
export const FATE_CODES: readonly Fate[] = ['migrated', ...REJECT_REASONS];
export function fateCode(fate: Fate): number {
  return FATE_CODES.indexOf(fate);
}

export interface KpiPlan {
  id: string;
  tenant: number;
  /** The owner's user GUID, or null when the KPI has none. */
  owner: string | null;
  /** Referenced by links and facts but absent from the kpis table. */
  ghost: boolean;
}

export interface PersonPlan {
  id: string;
  tenant: number;
  linkedUser: string | null;
}

export interface LinkPlan {
  id: string;
  kpi: number;
  tenant: number;
  createdBy: string;
  goal: string;
  fate: Fate;
}

/** Where a fact record can point: a KPI in a tenant, and how many migrated links it fans out to. */
export interface LinkedTarget {
  kpi: number;
  tenant: number;
  fanOut: number;
}

export interface Population {
  seed: number;
  tenants: string[];
  users: string[][];
  people: PersonPlan[];
  kpis: KpiPlan[];
  links: LinkPlan[];
  /** `${tenant}|${user}`: a person of that tenant is linked to that user. */
  personOfUser: Set<string>;
  /** Every (KPI, tenant) with at least one migrated link. */
  linkedTargets: LinkedTarget[];
  /** Migrated links per `${kpi}|${tenant}`. */
  fanOut: Map<string, number>;
  /** KPIs of the kpis table with no link at all. */
  kpisWithoutLinks: number[];
  /** (KPI, tenant) pairs whose links in that tenant are all rejected. */
  rejectedLinksOnly: { kpi: number; tenant: number }[];
}

export const LINK_REASONS: readonly RejectReason[] = ['missing_field', 'invalid_value', 'invalid_id', 'unknown_enum'];

/** The share of bad records aimed at when a table is big enough not to need every reason forced. */
export const BAD_SHARE = 0.04;

export function defaultTenantCount(items: number): number {
  return Math.min(16, 3 + Math.floor(Math.log2(1 + items / 100)));
}

/**
 * Positions of the records forced to each reason, spread over the table, so every reason
 * appears even in a small data set; the rest are bad with the probability that brings the
 * table's bad share to BAD_SHARE.
 */
export function forcedPositions(count: number, reasons: readonly RejectReason[]): Map<number, RejectReason> {
  const forced = new Map<number, RejectReason>();
  reasons.forEach((reason, j) => {
    if (j >= count) return;
    let position = count >= reasons.length ? Math.floor(((j + 0.5) * count) / reasons.length) : j;
    while (forced.has(position)) position = (position + 1) % count;
    forced.set(position, reason);
  });
  return forced;
}

export function randomBadShare(count: number, forced: number): number {
  return count > forced ? Math.max(0, (BAD_SHARE * count - forced) / (count - forced)) : 0;
}

const LINK_COUNT_WEIGHTS: readonly (readonly [number, number])[] = [
  [0, 15],
  [1, 35],
  [2, 25],
  [3, 15],
  [4, 10],
];

export function planPopulation(options: { items: number; seed: number; tenants?: number }): Population {
  const { items, seed } = options;
  const tenantCount = options.tenants ?? defaultTenantCount(items);
  const rng = rngFor(seed, 'population');

  const tenants = Array.from({ length: tenantCount }, () => randomGuid(rng));
  const realKpis = Math.max(12, Math.ceil(items / 10));
  const ghostKpis = Math.max(1, Math.round(realKpis * 0.03));
  const usersPerTenant = Math.max(3, Math.ceil((realKpis / tenantCount) * 0.6));

  const users: string[][] = [];
  const people: PersonPlan[] = [];
  const personOfUser = new Set<string>();
  for (let t = 0; t < tenantCount; t++) {
    const tenantUsers = Array.from({ length: usersPerTenant }, () => randomGuid(rng));
    users.push(tenantUsers);
    tenantUsers.forEach((user, u) => {
      // User 1 of every tenant never has a person: person_id fallbacks always occur.
      if (u === 1 || !rng.chance(0.85)) return;
      people.push({ id: randomGuid(rng), tenant: t, linkedUser: user });
      personOfUser.add(`${t}|${user}`);
    });
    const unlinked = Math.max(1, Math.ceil(usersPerTenant * 0.15));
    for (let i = 0; i < unlinked; i++) people.push({ id: randomGuid(rng), tenant: t, linkedUser: null });
  }

  const kpis: KpiPlan[] = [];
  for (let k = 0; k < realKpis + ghostKpis; k++) {
    const tenant = rng.int(tenantCount);
    const ghost = k >= realKpis;
    const owner = !ghost && rng.chance(0.75) ? rng.pick(users[tenant]!) : null;
    kpis.push({ id: randomGuid(rng), tenant, owner, ghost });
  }

  const links: LinkPlan[] = [];
  let soleRejectedLink = -1;
  kpis.forEach((kpi, k) => {
    // KPI 0 has no link, KPI 1 one link in its tenant and one in another, KPI 2 a single link
    // that is rejected: the no_kpi_link and cross-tenant cases exist at any size.
    let count = kpi.ghost ? 1 + rng.int(2) : rng.weighted(LINK_COUNT_WEIGHTS);
    if (k === 0) count = 0;
    if (k === 1) count = 2;
    if (k === 2) count = 1;
    for (let l = 0; l < count; l++) {
      const crossTenant = tenantCount > 1 && (k === 1 ? l === 1 : k !== 2 && rng.chance(0.08));
      const tenant = crossTenant ? (kpi.tenant + 1 + rng.int(tenantCount - 1)) % tenantCount : kpi.tenant;
      // A link in another tenant than its KPI is created by the KPI's owner when there is one, so
      // the person lookup has the same user whether or not "the KPI exists" is read per tenant.
      const createdBy = crossTenant && kpi.owner !== null ? kpi.owner : rng.pick(users[tenant]!);
      if (k === 2) soleRejectedLink = links.length;
      links.push({ id: randomGuid(rng), kpi: k, tenant, createdBy, goal: randomGuid(rng), fate: 'migrated' });
    }
  });

  assignLinkFates(links, seed, soleRejectedLink);

  const fanOut = new Map<string, number>();
  const linkedAnywhere = new Set<string>();
  for (const link of links) {
    const key = `${link.kpi}|${link.tenant}`;
    linkedAnywhere.add(key);
    if (link.fate === 'migrated') fanOut.set(key, (fanOut.get(key) ?? 0) + 1);
  }
  const linkedTargets: LinkedTarget[] = [];
  for (const [key, count] of fanOut) {
    const [kpi, tenant] = key.split('|').map(Number) as [number, number];
    linkedTargets.push({ kpi, tenant, fanOut: count });
  }
  linkedTargets.sort((a, b) => a.kpi - b.kpi || a.tenant - b.tenant);
  const rejectedLinksOnly = [...linkedAnywhere]
    .filter((key) => !fanOut.has(key))
    .map((key) => key.split('|').map(Number) as [number, number])
    .map(([kpi, tenant]) => ({ kpi, tenant }))
    .sort((a, b) => a.kpi - b.kpi || a.tenant - b.tenant);
  const withLinks = new Set(links.map((link) => link.kpi));
  const kpisWithoutLinks = kpis.flatMap((kpi, k) => (!kpi.ghost && !withLinks.has(k) ? [k] : []));

  return { seed, tenants, users, people, kpis, links, personOfUser, linkedTargets, fanOut, kpisWithoutLinks, rejectedLinksOnly };
}

function assignLinkFates(links: LinkPlan[], seed: number, soleRejectedLink: number): void {
  const forced = forcedPositions(links.length, LINK_REASONS);
  if (soleRejectedLink >= 0 && !forced.has(soleRejectedLink)) {
    // Move one forced reason onto KPI 2's only link, keeping every reason forced once.
    const [position, reason] = [...forced][0]!;
    forced.delete(position);
    forced.set(soleRejectedLink, reason);
  }
  const share = randomBadShare(links.length, forced.size);
  links.forEach((link, i) => {
    const rng = rngFor(seed, 'GoalKpiLink', i, 'fate');
    link.fate = forced.get(i) ?? (rng.chance(share) ? rng.pick(LINK_REASONS) : 'migrated');
  });
}
