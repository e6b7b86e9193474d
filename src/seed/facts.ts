import { DATA_ENTITIES, type DataEntity } from '../model/entities.js';
import type { RejectReason } from '../model/reject.js';
import { randomGuid, rngFor } from './prng.js';
import {
  FATE_CODES,
  fateCode,
  forcedPositions,
  randomBadShare,
  type Fate,
  type Population,
} from './population.js';

/**
 * The fates of the fact records (milestones, actuals, readings): one byte per record, plus the
 * few records that reuse an earlier entity's Id. Everything else about a record is rebuilt
 * from its index, so a table can be written or counted without holding it.
 */

export const FACT_REASONS: Record<DataEntity, readonly RejectReason[]> = {
  // Milestones have no enum, and come first: they win every id conflict.
  KpiMilestone: ['missing_field', 'invalid_value', 'invalid_id', 'no_kpi_link', 'db_error'],
  KpiActual: ['missing_field', 'invalid_value', 'invalid_id', 'unknown_enum', 'no_kpi_link', 'id_conflict', 'db_error'],
  KpiReading: ['missing_field', 'invalid_value', 'invalid_id', 'unknown_enum', 'no_kpi_link', 'id_conflict', 'db_error'],
};

export interface FactRef {
  entity: DataEntity;
  index: number;
}

export interface FactPlan {
  entity: DataEntity;
  count: number;
  fates: Uint8Array;
  /** id_conflict records → the migrated record of an earlier entity whose Id they reuse. */
  conflicts: Map<number, FactRef>;
}

export type FactPlans = Record<DataEntity, FactPlan>;

/** Milestones, actuals, readings ≈ 30/40/30 of `items`. */
export function factCounts(items: number): Record<DataEntity, number> {
  const milestones = Math.floor(items * 0.3);
  const actuals = Math.floor(items * 0.4);
  return { KpiMilestone: milestones, KpiActual: actuals, KpiReading: items - milestones - actuals };
}

export function fateOf(plan: FactPlan, index: number): Fate {
  return FATE_CODES[plan.fates[index]!]!;
}

/** A fact record's own Id (canonical), fresh for every record that does not reuse another's. */
export function factId(seed: number, entity: DataEntity, index: number): string {
  return randomGuid(rngFor(seed, entity, index, 'id'));
}

export function planFacts(items: number, seed: number): FactPlans {
  const counts = factCounts(items);
  const plans = {} as FactPlans;
  for (const entity of DATA_ENTITIES) {
    const count = counts[entity];
    const reasons = FACT_REASONS[entity];
    const forced = forcedPositions(count, reasons);
    const share = randomBadShare(count, forced.size);
    const fates = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const rng = rngFor(seed, entity, i, 'fate');
      fates[i] = fateCode(forced.get(i) ?? (rng.chance(share) ? rng.pick(reasons) : 'migrated'));
    }
    plans[entity] = { entity, count, fates, conflicts: new Map() };
  }
  assignConflicts(plans, seed);
  return plans;
}

/**
 * Every id_conflict record takes the Id of a distinct migrated record of an earlier entity; if
 * there is none left, it becomes an ordinary migrated record.
 */
function assignConflicts(plans: FactPlans, seed: number): void {
  const taken = new Set<string>();
  const conflictCode = fateCode('id_conflict');
  const migratedCode = fateCode('migrated');
  DATA_ENTITIES.forEach((entity, order) => {
    const plan = plans[entity];
    const earlier = DATA_ENTITIES.slice(0, order).filter((e) => plans[e].count > 0);
    for (let i = 0; i < plan.count; i++) {
      if (plan.fates[i] !== conflictCode) continue;
      const rng = rngFor(seed, entity, i, 'conflict');
      const candidates = earlier.length > 1 && rng.chance(0.5) ? [...earlier].reverse() : earlier;
      let target: FactRef | undefined;
      for (const other of candidates) {
        const otherPlan = plans[other];
        const start = rng.int(otherPlan.count);
        for (let step = 0; step < otherPlan.count && !target; step++) {
          const index = (start + step) % otherPlan.count;
          if (otherPlan.fates[index] === migratedCode && !taken.has(`${other}:${index}`)) target = { entity: other, index };
        }
        if (target) break;
      }
      if (target) {
        taken.add(`${target.entity}:${target.index}`);
        plan.conflicts.set(i, target);
      } else plan.fates[i] = migratedCode;
    }
  });
}

/** How a no_kpi_link record misses its link. */
export type NoLinkVariant = 'kpi-without-links' | 'links-all-rejected' | 'links-in-other-tenant' | 'unknown-kpi';

export interface FactTarget {
  /** KPI index in the population, or a GUID of no KPI at all. */
  kpi: number | string;
  tenant: number;
  /** kpi_data rows the record yields if it migrates. */
  fanOut: number;
  noLink?: NoLinkVariant;
}

/**
 * The KPI and tenant a fact record points to. A no_kpi_link record points where no migrated
 * link is; every other record points to a (KPI, tenant) with at least one migrated link, so a
 * record with a bad attribute would have produced rows had the attribute been good.
 */
export function factTarget(population: Population, seed: number, entity: DataEntity, index: number, fate: Fate): FactTarget {
  const rng = rngFor(seed, entity, index, 'target');
  if (fate !== 'no_kpi_link') {
    const target = rng.pick(population.linkedTargets);
    return { kpi: target.kpi, tenant: target.tenant, fanOut: target.fanOut };
  }
  const variants: NoLinkVariant[] = ['unknown-kpi'];
  if (population.kpisWithoutLinks.length > 0) variants.push('kpi-without-links');
  if (population.rejectedLinksOnly.length > 0) variants.push('links-all-rejected');
  if (population.tenants.length > 1) variants.push('links-in-other-tenant');
  const noLink = rng.pick(variants);
  switch (noLink) {
    case 'kpi-without-links': {
      const kpi = rng.pick(population.kpisWithoutLinks);
      return { kpi, tenant: population.kpis[kpi]!.tenant, fanOut: 0, noLink };
    }
    case 'links-all-rejected': {
      const pair = rng.pick(population.rejectedLinksOnly);
      return { kpi: pair.kpi, tenant: pair.tenant, fanOut: 0, noLink };
    }
    case 'links-in-other-tenant': {
      const linked = rng.pick(population.linkedTargets);
      const tenants = population.tenants.length;
      for (let step = 1; step < tenants; step++) {
        const tenant = (linked.tenant + step) % tenants;
        if (!population.fanOut.has(`${linked.kpi}|${tenant}`)) return { kpi: linked.kpi, tenant, fanOut: 0, noLink };
      }
      break;
    }
    case 'unknown-kpi':
      break;
  }
  return { kpi: randomGuid(rng), tenant: rng.int(population.tenants.length), fanOut: 0, noLink: 'unknown-kpi' };
}
