import { LEGACY_ENTITIES, type LegacyEntity } from '../model/entities.js';
import { MigrateError } from '../errors.js';
import { defaultTenantCount, planPopulation, type Fate, type Population } from './population.js';
import { factTarget, fateOf, planFacts, type FactPlans } from './facts.js';
import { TableRenderer, type AttributeMap } from './render.js';
import { computeExpectedOutcome, linkFindsPerson, type ExpectedOutcome } from './expected.js';

export type { AttributeMap } from './render.js';
export type { ExpectedOutcome, TableOutcome } from './expected.js';
export type { Fate } from './population.js';

export interface GenerateOptions {
  /**
   * Fact records (milestones + actuals + readings ≈ 30/40/30); KPIs, people and links scale with
   * it. Every reject reason appears from about 25 items, every messy form by a few hundred;
   * bad records are about 4% once every table is past a few hundred records.
   */
  items: number;
  seed: number;
  /** Number of tenants; by default 3–16, growing with `items`. */
  tenants?: number;
  /**
   * Whether the db_error records (a NUL in a text attribute) are generated; default true.
   * A kv_store source cannot hold them (jsonb refuses \u0000): its form leaves them out.
   */
  nulInText?: boolean;
}

/** One generated item and what the generator meant by it. */
export interface GeneratedRecord {
  entity: LegacyEntity;
  /** Position in the plan (stable across runs of the same seed). */
  index: number;
  item: AttributeMap;
  /** 'migrated' for lookups (Kpi, Person) too. */
  fate: Fate;
  /** kpi_data rows if it migrates (facts only; 0 otherwise). */
  fanOut: number;
  /** For migrated links: person_id falls back to the user GUID. */
  personFallback?: boolean;
}

/**
 * A data set planned but not rendered: each table is produced on demand, item by item, so a
 * million items never sit in memory; only the lookups' and links' plan does.
 */
export interface LegacyDataPlan {
  readonly options: Required<GenerateOptions>;
  readonly population: Population;
  readonly facts: FactPlans;
  /** Items a table will yield. */
  itemCount(entity: LegacyEntity): number;
  /** The items of one table, in order, with their intended fates. Deterministic for a seed. */
  records(entity: LegacyEntity): Generator<GeneratedRecord>;
  /** The items of one table, in order, as DynamoDB attribute maps. */
  tableItems(entity: LegacyEntity): Generator<AttributeMap>;
  expected(): ExpectedOutcome;
}

export function planLegacyData(options: GenerateOptions): LegacyDataPlan {
  const resolved = resolveOptions(options);
  const population = planPopulation(resolved);
  const facts = planFacts(resolved.items, resolved.seed);
  let expected: ExpectedOutcome | undefined;

  function* records(entity: LegacyEntity): Generator<GeneratedRecord> {
    const renderer = new TableRenderer(population, facts);
    if (entity === 'Kpi') {
      for (let i = 0; i < population.kpis.length; i++) {
        if (!population.kpis[i]!.ghost) yield { entity, index: i, item: renderer.kpi(i), fate: 'migrated', fanOut: 0 };
      }
    } else if (entity === 'Person') {
      for (let i = 0; i < population.people.length; i++) {
        yield { entity, index: i, item: renderer.person(i), fate: 'migrated', fanOut: 0 };
      }
    } else if (entity === 'GoalKpiLink') {
      for (let i = 0; i < population.links.length; i++) {
        const fate = population.links[i]!.fate;
        const record: GeneratedRecord = { entity, index: i, item: renderer.link(i), fate, fanOut: 0 };
        if (fate === 'migrated') record.personFallback = !linkFindsPerson(population, i);
        yield record;
      }
    } else {
      const plan = facts[entity];
      for (let i = 0; i < plan.count; i++) {
        const fate = fateOf(plan, i);
        if (fate === 'db_error' && !resolved.nulInText) continue;
        const fanOut = fate === 'migrated' ? factTarget(population, resolved.seed, entity, i, fate).fanOut : 0;
        yield { entity, index: i, item: renderer.fact(entity, i), fate, fanOut };
      }
    }
  }

  const plan: LegacyDataPlan = {
    options: resolved,
    population,
    facts,
    itemCount(entity) {
      return plan.expected().tables[entity].read;
    },
    records,
    *tableItems(entity) {
      for (const record of records(entity)) yield record.item;
    },
    expected() {
      expected ??= computeExpectedOutcome(population, facts, resolved);
      return expected;
    },
  };
  return plan;
}

/** A whole data set in memory (for tests and small fixtures): the six tables and the expected outcome. */
export function generateLegacyData(options: GenerateOptions): {
  tables: Record<LegacyEntity, AttributeMap[]>;
  expected: ExpectedOutcome;
} {
  const plan = planLegacyData(options);
  const tables = Object.fromEntries(LEGACY_ENTITIES.map((entity) => [entity, [...plan.tableItems(entity)]])) as Record<
    LegacyEntity,
    AttributeMap[]
  >;
  return { tables, expected: plan.expected() };
}

function resolveOptions(options: GenerateOptions): Required<GenerateOptions> {
  const problems: string[] = [];
  if (!Number.isSafeInteger(options.items) || options.items < 0) problems.push(`items must be a whole number ≥ 0 (got ${options.items})`);
  if (!Number.isSafeInteger(options.seed)) problems.push(`seed must be a whole number (got ${options.seed})`);
  if (options.tenants !== undefined && (!Number.isSafeInteger(options.tenants) || options.tenants < 1 || options.tenants > 65535)) {
    problems.push(`tenants must be a whole number from 1 to 65535 (got ${options.tenants})`);
  }
  if (problems.length > 0) throw new MigrateError('USAGE', problems.join('; '));
  return {
    items: options.items,
    seed: options.seed,
    tenants: options.tenants ?? defaultTenantCount(options.items),
    nulInText: options.nulInText ?? true,
  };
}
