import { DATA_ENTITIES, LEGACY_ENTITIES, type DataEntity, type LegacyEntity, type MigratedEntity } from '../model/entities.js';
import { boolOf } from './forms.js';
import { randomGuid, rngFor, type Rng } from './prng.js';
import { factTarget, fateOf, type FactPlans, type FactTarget } from './facts.js';
import { TableRenderer, type AttributeMap } from './render.js';
import { fateCode, type Fate, type Population } from './population.js';
import type { LegacyDataPlan } from './generate.js';

/**
 * A later state of a generated source: state A (a plan's tables) with records deleted, changed,
 * broken, fixed and inserted so that every kind of change contract §5 names reaches the target
 * (a record gone or now failing, the fan-out of a KPI re-derived by a link inserted, deleted or
 * changed, person_id re-derived by an owner or a person, a no_kpi_link fact gaining a link, an
 * id_conflict winner gone). Convergence tests migrate A, then B, and compare with a fresh run of B.
 */

export type ChangeKind =
  // fact records, in each data entity
  | 'fact_deleted'
  | 'fact_updated'
  | 'fact_inserted'
  | 'fact_broken'
  | 'fact_fixed'
  | 'fact_moved'
  | 'no_kpi_link_gains_link'
  | 'conflict_winner_gone'
  | 'new_conflict_winner'
  // links
  | 'link_deleted'
  | 'primary_link_deleted'
  | 'last_link_deleted'
  | 'link_inserted'
  | 'primary_link_inserted'
  | 'link_primary_set'
  | 'link_primary_cleared'
  | 'link_kpi_changed'
  | 'link_tenant_changed'
  | 'link_broken'
  | 'link_fixed'
  | 'link_updated'
  // KPIs and people (person_id of links)
  | 'kpi_owner_changed'
  | 'kpi_owner_removed'
  | 'kpi_owner_added'
  | 'kpi_deleted'
  | 'kpi_inserted'
  | 'person_linked_user_changed'
  | 'person_deleted'
  | 'person_inserted';

/** A record whose target rows or reject a change must alter: the legacy Id as the item spells it. */
export interface Witness {
  entity: MigratedEntity;
  id: string;
}

export interface SourceChange {
  kind: ChangeKind;
  /** The entity the change is about (for no_kpi_link_gains_link the fact's, for new_conflict_winner the loser's). */
  entity: LegacyEntity;
  /** The table changed. */
  table: LegacyEntity;
  /** The legacy Id (as the item spells it) of the record deleted, changed or inserted. */
  id: string;
  /** Canonical tenant of the record changed. */
  tenant: string;
  /** Records whose rows (or reject) a fresh run of B differs in from a run of A because of this change. */
  witnesses: Witness[];
  note: string;
}

/** The kinds every derived state holds, with the entity each applies to (fact kinds per data entity where they apply). */
export const EXPECTED_CHANGES: readonly { kind: ChangeKind; entity: LegacyEntity }[] = [
  ...DATA_ENTITIES.flatMap((entity) =>
    (['fact_deleted', 'fact_updated', 'fact_inserted', 'fact_broken', 'fact_fixed', 'fact_moved', 'no_kpi_link_gains_link'] as const).map((kind) => ({ kind, entity })),
  ),
  // The winner gone is a milestone or an actual; the new winner is a milestone taking an actual's or a reading's Id.
  { kind: 'conflict_winner_gone', entity: 'KpiMilestone' },
  { kind: 'conflict_winner_gone', entity: 'KpiActual' },
  { kind: 'new_conflict_winner', entity: 'KpiActual' },
  { kind: 'new_conflict_winner', entity: 'KpiReading' },
  ...(
    [
      'link_deleted',
      'primary_link_deleted',
      'last_link_deleted',
      'link_inserted',
      'primary_link_inserted',
      'link_primary_set',
      'link_primary_cleared',
      'link_kpi_changed',
      'link_tenant_changed',
      'link_broken',
      'link_fixed',
      'link_updated',
    ] as const
  ).map((kind) => ({ kind, entity: 'GoalKpiLink' as const })),
  ...(['kpi_owner_changed', 'kpi_owner_removed', 'kpi_owner_added', 'kpi_deleted', 'kpi_inserted'] as const).map((kind) => ({ kind, entity: 'Kpi' as const })),
  ...(['person_linked_user_changed', 'person_deleted', 'person_inserted'] as const).map((kind) => ({ kind, entity: 'Person' as const })),
];

export interface ChangeOptions {
  /** Seeds the choice of the records changed and the new Ids. */
  seed: number;
  /**
   * For tenant-scoped runs: every change is made once in this tenant (index in the population;
   * -1: choose one) and once in the others, and no change crosses into or out of it (a link's
   * TenantId moves between two other tenants).
   */
  scopeTenant?: number;
}

export interface ChangedState {
  tables: Record<LegacyEntity, AttributeMap[]>;
  changes: SourceChange[];
  /** With `scopeTenant`: the tenant (canonical GUID) the changes were doubled in. */
  scopeTenant?: string;
  /**
   * With `scopeTenant`: state A with only that tenant's changes. What a run scoped to the tenant
   * on `tables` must leave is what a whole run of this state leaves.
   */
  tablesInScope?: Record<LegacyEntity, AttributeMap[]>;
}

const VALUE_ATTRIBUTE: Record<DataEntity, string> = { KpiMilestone: 'TargetValue', KpiActual: 'ActualValue', KpiReading: 'Value' };

interface FactRecord {
  entity: DataEntity;
  index: number;
  fate: Fate;
  target: FactTarget;
}

/** A (KPI, tenant) pair: the scope of a fan-out. */
type GroupKey = string;
const groupKey = (kpi: number | string, tenant: number): GroupKey => `${kpi}|${tenant}`;

/**
 * Derives state B from state A (the plan's tables) by changes of every kind in EXPECTED_CHANGES;
 * a kind with no candidate in a small data set is left out (the caller checks `changes`). Each
 * change touches records and KPIs no other change touches, so its effect is its own.
 */
export function deriveChangedState(plan: LegacyDataPlan, options: ChangeOptions): ChangedState {
  return new ChangeBuilder(plan, options).build();
}

class ChangeBuilder {
  private readonly population: Population;
  private readonly facts: FactPlans;
  private readonly seedNumber: number;
  /** State B, per table: slots of state A's items (null once deleted), then inserted items. */
  private readonly slots = {} as Record<LegacyEntity, (AttributeMap | null)[]>;
  /** Slot of each plan index (Kpi skips ghosts, facts may skip db_error records). */
  private readonly slotOf = {} as Record<LegacyEntity, Map<number, number>>;
  private readonly changes: SourceChange[] = [];
  private readonly usedGroups = new Set<GroupKey>();
  private readonly usedRecords = new Set<string>();
  private readonly usedKpis = new Set<number>();
  private readonly usedUsers = new Set<string>();
  /** Migrated links per group, in fan-out order (is_primary desc, id asc). */
  private readonly linksOfGroup = new Map<GroupKey, { index: number; id: string; primary: boolean }[]>();
  private readonly factRecords = {} as Record<DataEntity, FactRecord[]>;
  /** Migrated facts per group. */
  private readonly factsOfGroup = new Map<GroupKey, FactRecord[]>();
  private counter = 0;
  private scopeTenant: number | undefined;
  /** The tenants the current pass may change. */
  private inScope: (tenant: number) => boolean = () => true;

  constructor(
    plan: LegacyDataPlan,
    private readonly options: ChangeOptions,
  ) {
    this.population = plan.population;
    this.facts = plan.facts;
    this.seedNumber = plan.options.seed;
    for (const entity of LEGACY_ENTITIES) {
      this.slots[entity] = [];
      this.slotOf[entity] = new Map();
      for (const record of plan.records(entity)) {
        this.slotOf[entity].set(record.index, this.slots[entity].length);
        this.slots[entity].push(record.item);
      }
    }
    this.population.links.forEach((link, index) => {
      if (link.fate !== 'migrated') return;
      const key = groupKey(link.kpi, link.tenant);
      const group = this.linksOfGroup.get(key) ?? [];
      group.push({ index, id: link.id, primary: boolOf(this.itemOf('GoalKpiLink', index).IsPrimary) });
      this.linksOfGroup.set(key, group);
    });
    for (const group of this.linksOfGroup.values()) group.sort(fanOutOrder);
    for (const entity of DATA_ENTITIES) {
      this.factRecords[entity] = [];
      for (let index = 0; index < this.facts[entity].count; index++) {
        if (!this.slotOf[entity].has(index)) continue;
        const fate = fateOf(this.facts[entity], index);
        const record: FactRecord = { entity, index, fate, target: factTarget(this.population, this.seedNumber, entity, index, fate) };
        this.factRecords[entity].push(record);
        if (fate === 'migrated') {
          const key = groupKey(record.target.kpi, record.target.tenant);
          this.factsOfGroup.set(key, [...(this.factsOfGroup.get(key) ?? []), record]);
        }
      }
    }
  }

  build(): ChangedState {
    const tables = () =>
      Object.fromEntries(
        LEGACY_ENTITIES.map((entity) => [entity, this.slots[entity].filter((item): item is AttributeMap => item !== null)]),
      ) as Record<LegacyEntity, AttributeMap[]>;
    if (this.options.scopeTenant === undefined) {
      this.pass();
      return { tables: tables(), changes: this.changes };
    }
    const scope = this.options.scopeTenant >= 0 ? this.options.scopeTenant : this.tenantWithMostFacts();
    this.scopeTenant = scope;
    // The scoped tenant's changes first, so that the state after them is A with only those.
    this.inScope = (tenant) => tenant === scope;
    this.pass();
    const tablesInScope = tables();
    this.inScope = (tenant) => tenant !== scope;
    this.pass();
    return { tables: tables(), changes: this.changes, scopeTenant: this.population.tenants[scope]!, tablesInScope };
  }

  private tenantWithMostFacts(): number {
    const facts = this.population.tenants.map(() => 0);
    for (const entity of DATA_ENTITIES) for (const r of this.factRecords[entity]) facts[r.target.tenant]! += 1;
    return facts.indexOf(Math.max(...facts));
  }

  private pass(): void {
    // Link, KPI and person changes first: they claim whole groups, which fact changes then avoid.
    this.linkChanges();
    this.kpiChanges();
    this.personChanges();
    for (const entity of DATA_ENTITIES) this.factChanges(entity);
    this.conflictChanges();
  }

  // ---- facts ---------------------------------------------------------------------------------

  private factChanges(entity: DataEntity): void {
    const value = VALUE_ATTRIBUTE[entity];
    const migrated = (): FactRecord | undefined =>
      this.pickFact(entity, (r) => r.fate === 'migrated' && !this.usedGroups.has(groupKey(r.target.kpi, r.target.tenant)));

    const deleted = migrated();
    if (deleted) {
      const id = this.rawId(entity, deleted.index);
      this.deleteItem(entity, deleted.index);
      this.record('fact_deleted', entity, id, deleted.target.tenant, [{ entity, id }], 'a migrated record gone: its rows go');
    }

    const updated = migrated();
    if (updated) {
      const id = this.rawId(entity, updated.index);
      this.setAttributes(entity, updated.index, { [value]: { N: this.newNumber() } });
      this.record('fact_updated', entity, id, updated.target.tenant, [{ entity, id }], `${value} changed: its rows are updated`);
    }

    const copied = migrated();
    if (copied) {
      const id = this.newGuid('fact_inserted');
      this.insertItem(entity, { ...this.itemOf(entity, copied.index), Id: { S: id }, [value]: { N: this.newNumber() } });
      this.record('fact_inserted', entity, id, copied.target.tenant, [{ entity, id }], `a new record (a copy of ${this.rawId(entity, copied.index)}): its rows are inserted`);
    }

    const broken = migrated();
    if (broken) {
      const id = this.rawId(entity, broken.index);
      this.setAttributes(entity, broken.index, { [value]: { S: 'twelve and a half' } });
      this.record('fact_broken', entity, id, broken.target.tenant, [{ entity, id }], `${value} no longer a number: its rows go, rejected invalid_value`);
    }

    const fixable = this.pickFact(entity, (r) => !['migrated', 'no_kpi_link', 'id_conflict'].includes(r.fate) && !this.usedGroups.has(groupKey(r.target.kpi, r.target.tenant)));
    if (fixable) {
      const before = this.rawId(entity, fixable.index);
      const renderer = new TableRenderer(this.population, this.factPlansWith(entity, fixable.index, 'migrated'));
      const item = renderer.fact(entity, fixable.index);
      this.replaceItem(entity, fixable.index, item);
      const after = idOf(item);
      const witnesses: Witness[] = [{ entity, id: before }];
      if (after !== before) witnesses.push({ entity, id: after });
      this.record('fact_fixed', entity, after, fixable.target.tenant, witnesses, `a record rejected ${fixable.fate} written again without its fault: it migrates`);
    }

    const moved = migrated();
    if (moved) {
      const from = groupKey(moved.target.kpi, moved.target.tenant);
      const fromLinks = this.linksOfGroup.get(from)!.map((l) => l.id).join();
      const to = this.pickGroup(
        (key, tenant) => tenant === moved.target.tenant && key !== from && this.factsOfGroup.has(key) && this.linksOfGroup.get(key)!.map((l) => l.id).join() !== fromLinks,
      );
      if (to) {
        const id = this.rawId(entity, moved.index);
        this.setAttributes(entity, moved.index, { KpiId: { S: this.kpiIdOf(to.kpi) } });
        this.record('fact_moved', entity, id, moved.target.tenant, [{ entity, id }], `KpiId changed to the KPI of group ${to.key}: its rows move to that KPI's links`);
      }
    }

    const unlinked = this.pickFact(entity, (r) => r.fate === 'no_kpi_link' && !this.usedGroups.has(groupKey(r.target.kpi, r.target.tenant)));
    if (unlinked) {
      const id = this.rawId(entity, unlinked.index);
      const link = this.newLinkItem('no_kpi_link_gains_link', unlinked.target.tenant, this.kpiIdOf(unlinked.target.kpi), false);
      this.usedGroups.add(groupKey(unlinked.target.kpi, unlinked.target.tenant));
      this.insertItem('GoalKpiLink', link);
      this.record('no_kpi_link_gains_link', 'GoalKpiLink', idOf(link), unlinked.target.tenant, [{ entity, id }, { entity: 'GoalKpiLink', id: idOf(link) }], `${entity} ${id} (rejected no_kpi_link, ${unlinked.target.noLink}) gains a link: it migrates`, entity);
    }
  }

  private conflictChanges(): void {
    // The winner gone: a milestone's, then an actual's.
    for (const winnerEntity of ['KpiMilestone', 'KpiActual'] as const) {
      let done = false;
      for (const loserEntity of DATA_ENTITIES) {
        for (const [loser, winner] of this.facts[loserEntity].conflicts) {
          if (done || winner.entity !== winnerEntity) continue;
          const loserRecord = this.factRecords[loserEntity].find((r) => r.index === loser);
          const winnerRecord = this.factRecords[winnerEntity].find((r) => r.index === winner.index);
          if (!loserRecord || !winnerRecord || !this.inScope(loserRecord.target.tenant) || !this.inScope(winnerRecord.target.tenant)) continue;
          if (this.usedRecords.has(`${loserEntity}:${loser}`) || this.usedRecords.has(`${winnerEntity}:${winner.index}`)) continue;
          this.usedRecords.add(`${loserEntity}:${loser}`).add(`${winnerEntity}:${winner.index}`);
          const winnerId = this.rawId(winnerEntity, winner.index);
          const loserId = this.rawId(loserEntity, loser);
          this.deleteItem(winnerEntity, winner.index);
          this.record('conflict_winner_gone', winnerEntity, winnerId, winnerRecord.target.tenant, [{ entity: winnerEntity, id: winnerId }, { entity: loserEntity, id: loserId }], `the id_conflict winner is gone: ${loserEntity} ${loserId} takes the row`);
          done = true;
        }
      }
    }
    // A new milestone taking the Id of a migrated actual, then of a reading: that record loses its rows.
    for (const loserEntity of ['KpiActual', 'KpiReading'] as const) {
      const loser = this.pickFact(loserEntity, (r) => r.fate === 'migrated' && !this.usedGroups.has(groupKey(r.target.kpi, r.target.tenant)));
      const template = this.pickFact('KpiMilestone', (r) => r.fate === 'migrated', false);
      if (!loser || !template) continue;
      const loserId = this.rawId(loserEntity, loser.index);
      const loserItem = this.itemOf(loserEntity, loser.index);
      const milestone: AttributeMap = { ...this.itemOf('KpiMilestone', template.index), Id: { S: loserId }, TenantId: loserItem.TenantId!, KpiId: loserItem.KpiId! };
      this.insertItem('KpiMilestone', milestone);
      this.record('new_conflict_winner', 'KpiMilestone', loserId, loser.target.tenant, [{ entity: 'KpiMilestone', id: loserId }, { entity: loserEntity, id: loserId }], `a new milestone with the Id of ${loserEntity} ${loserId}: the milestone takes the row, the ${loserEntity} is rejected id_conflict`, loserEntity);
    }
  }

  // ---- links ---------------------------------------------------------------------------------

  private linkChanges(): void {
    const withFacts = (key: GroupKey) => this.factsOfGroup.has(key);
    const witnessOf = (key: GroupKey): Witness[] => {
      const fact = this.factsOfGroup.get(key)![0]!;
      return [{ entity: fact.entity, id: this.rawId(fact.entity, fact.index) }];
    };
    const linksOf = (key: GroupKey) => this.linksOfGroup.get(key)!;

    const several = this.pickGroup((key) => withFacts(key) && linksOf(key).length >= 2);
    if (several) {
      const link = linksOf(several.key).at(-1)!;
      this.deleteLink(link.index, 'link_deleted', witnessOf(several.key), 'a link that is not the first of its KPI gone: the facts of the KPI lose the rows on it');
    }

    const primary = this.pickGroup((key) => withFacts(key) && linksOf(key).length >= 2);
    if (primary) {
      const link = linksOf(primary.key)[0]!;
      this.deleteLink(link.index, 'primary_link_deleted', witnessOf(primary.key), 'the first link of its KPI gone: the next link takes the rows with the legacy Ids');
    }

    const last = this.pickGroup((key) => withFacts(key) && linksOf(key).length === 1);
    if (last) {
      const link = linksOf(last.key)[0]!;
      this.deleteLink(link.index, 'last_link_deleted', witnessOf(last.key), 'the only link of its KPI gone: the facts lose their rows, rejected no_kpi_link');
    }

    for (const [kind, first] of [
      ['link_inserted', false],
      ['primary_link_inserted', true],
    ] as const) {
      const group = this.pickGroup(withFacts);
      if (!group) continue;
      const link = this.newLinkItem(kind, group.tenant, this.kpiIdOf(group.kpi), first);
      this.insertItem('GoalKpiLink', link);
      this.record(kind, 'GoalKpiLink', idOf(link), group.tenant, [...witnessOf(group.key), { entity: 'GoalKpiLink', id: idOf(link) }], first ? 'a new primary link with the lowest id: the rows with the legacy Ids move to it' : 'a new link last in fan-out order: every fact of the KPI gains a row');
    }

    // IsPrimary set on a link that then comes first.
    const promotable = this.pickGroup((key) => {
      const links = linksOf(key);
      return withFacts(key) && links.length >= 2 && links.slice(1).some((l) => fanOutOrder({ ...l, primary: true }, links[0]!) < 0);
    });
    if (promotable) {
      const links = linksOf(promotable.key);
      const link = links.slice(1).find((l) => fanOutOrder({ ...l, primary: true }, links[0]!) < 0)!;
      this.changeLink(link.index, 'link_primary_set', { IsPrimary: { BOOL: true } }, witnessOf(promotable.key), 'IsPrimary set: the link comes first, the rows with the legacy Ids move to it');
    }

    // IsPrimary cleared on the first link, which then no longer comes first.
    const demotable = this.pickGroup((key) => {
      const links = linksOf(key);
      return withFacts(key) && links.length >= 2 && links[0]!.primary && links.slice(1).some((l) => fanOutOrder(l, { ...links[0]!, primary: false }) < 0);
    });
    if (demotable) {
      const link = linksOf(demotable.key)[0]!;
      this.changeLink(link.index, 'link_primary_cleared', { IsPrimary: { BOOL: false } }, witnessOf(demotable.key), 'IsPrimary cleared on the first link: another link comes first');
    }

    const leaving = this.pickGroup((key) => withFacts(key) && linksOf(key).length >= 2);
    if (leaving) {
      const arriving = this.pickGroup((key, tenant) => tenant === leaving.tenant && withFacts(key));
      if (arriving) {
        const link = linksOf(leaving.key).at(-1)!;
        this.changeLink(link.index, 'link_kpi_changed', { KpiId: { S: this.kpiIdOf(arriving.kpi) } }, [...witnessOf(leaving.key), ...witnessOf(arriving.key)], `KpiId changed to the KPI of ${arriving.key}: both KPIs' facts re-derive their rows`);
      } else {
        this.usedGroups.delete(leaving.key);
      }
    }

    this.linkTenantChange(linksOf, witnessOf);

    const breakable = this.pickGroup(withFacts);
    if (breakable) {
      const link = linksOf(breakable.key)[0]!;
      const id = this.rawId('GoalKpiLink', link.index);
      this.changeLink(link.index, 'link_broken', { LinkType: { S: 'Sideways' } }, [...witnessOf(breakable.key), { entity: 'GoalKpiLink', id }], 'LinkType unknown: the link is rejected unknown_enum, its rows and the facts\u2019 rows on it go');
    }

    this.linkFix();

    const reweighted = this.pickGroup(() => true);
    if (reweighted) {
      const link = linksOf(reweighted.key)[0]!;
      const id = this.rawId('GoalKpiLink', link.index);
      this.changeLink(link.index, 'link_updated', { Weight: { N: this.newNumber() } }, [{ entity: 'GoalKpiLink', id }], 'Weight changed: the link row is updated');
    }
  }

  /** A link moved to another tenant where its KPI has facts that had no link there (or had links). */
  private linkTenantChange(linksOf: (key: GroupKey) => { index: number }[], witnessOf: (key: GroupKey) => Witness[]): void {
    const unlinkedElsewhere = DATA_ENTITIES.flatMap((entity) => this.factRecords[entity]).filter(
      (r) => r.fate === 'no_kpi_link' && r.target.noLink === 'links-in-other-tenant',
    );
    const candidates: { from: GroupKey; tenant: number; witnesses: Witness[] }[] = [];
    for (const fact of unlinkedElsewhere) {
      if (typeof fact.target.kpi !== 'number' || !this.inScope(fact.target.tenant) || this.usedGroups.has(groupKey(fact.target.kpi, fact.target.tenant))) continue;
      for (let t = 0; t < this.population.tenants.length; t++) {
        const from = groupKey(fact.target.kpi, t);
        if (t !== fact.target.tenant && this.inScope(t) && this.linksOfGroup.has(from) && this.factsOfGroup.has(from) && !this.usedGroups.has(from)) {
          candidates.push({ from, tenant: fact.target.tenant, witnesses: [...witnessOf(from), { entity: fact.entity, id: this.rawId(fact.entity, fact.index) }] });
        }
      }
    }
    if (this.scopeTenant !== undefined && this.inScope(this.scopeTenant)) return; // never across the scoped tenant's border
    if (candidates.length === 0) {
      // No such fact: a link moved to any other tenant, where its KPI's facts (if any) gain it.
      for (const [from] of this.linksOfGroup) {
        const [kpi, tenant] = from.split('|').map(Number) as [number, number];
        if (!this.inScope(tenant) || !this.factsOfGroup.has(from) || this.usedGroups.has(from) || this.usedKpis.has(kpi)) continue;
        for (let t = 0; t < this.population.tenants.length; t++) {
          if (t !== tenant && this.inScope(t) && !this.usedGroups.has(groupKey(kpi, t))) candidates.push({ from, tenant: t, witnesses: witnessOf(from) });
        }
      }
    }
    const chosen = candidates.length > 0 ? this.rng('link_tenant_changed').pick(candidates) : undefined;
    if (!chosen) return;
    this.usedGroups.add(chosen.from).add(groupKey(chosen.from.split('|')[0]!, chosen.tenant));
    const link = linksOf(chosen.from).at(-1)!;
    this.changeLink(link.index, 'link_tenant_changed', { TenantId: { S: this.population.tenants[chosen.tenant]! } }, chosen.witnesses, `TenantId changed from ${chosen.from} to tenant ${chosen.tenant}: its KPI's facts lose their rows on it, and its KPI's facts in tenant ${chosen.tenant} gain them`);
  }

  private linkFix(): void {
    // KPI 2's only link is rejected: its facts (if any) are no_kpi_link, and migrate once it is fixed.
    const candidates = this.population.links
      .map((link, index) => ({ link, index }))
      .filter(({ link, index }) => link.fate !== 'migrated' && this.inScope(link.tenant) && !this.usedGroups.has(groupKey(link.kpi, link.tenant)) && this.slotOf.GoalKpiLink.has(index));
    if (candidates.length === 0) return;
    const preferred = candidates.find(({ link }) => link.kpi === 2) ?? this.rng('link_fixed').pick(candidates);
    const { link, index } = preferred;
    const key = groupKey(link.kpi, link.tenant);
    this.usedGroups.add(key);
    const before = this.rawId('GoalKpiLink', index);
    const population: Population = { ...this.population, links: this.population.links.map((l, i) => (i === index ? { ...l, fate: 'migrated' } : l)) };
    const item = new TableRenderer(population, this.facts).link(index);
    this.replaceItem('GoalKpiLink', index, item);
    const after = idOf(item);
    const witnesses: Witness[] = [{ entity: 'GoalKpiLink', id: before }];
    if (after !== before) witnesses.push({ entity: 'GoalKpiLink', id: after });
    const unlinked = DATA_ENTITIES.flatMap((entity) => this.factRecords[entity]).find(
      (r) => r.fate === 'no_kpi_link' && r.target.kpi === link.kpi && r.target.tenant === link.tenant,
    );
    if (unlinked) witnesses.push({ entity: unlinked.entity, id: this.rawId(unlinked.entity, unlinked.index) });
    this.record('link_fixed', 'GoalKpiLink', after, link.tenant, witnesses, `a link rejected ${link.fate} written again without its fault: it migrates${unlinked ? ', and so do facts rejected no_kpi_link' : ''}`);
  }

  private deleteLink(index: number, kind: ChangeKind, witnesses: Witness[], note: string): void {
    const id = this.rawId('GoalKpiLink', index);
    this.deleteItem('GoalKpiLink', index);
    this.record(kind, 'GoalKpiLink', id, this.population.links[index]!.tenant, [...witnesses, { entity: 'GoalKpiLink', id }], note);
  }

  private changeLink(index: number, kind: ChangeKind, attributes: AttributeMap, witnesses: Witness[], note: string): void {
    const id = this.rawId('GoalKpiLink', index);
    this.setAttributes('GoalKpiLink', index, attributes);
    this.record(kind, 'GoalKpiLink', id, this.population.links[index]!.tenant, [...witnesses, { entity: 'GoalKpiLink', id }], note);
  }

  /** A valid link in canonical forms; `first`: primary, with an id before any other. */
  private newLinkItem(kind: ChangeKind, tenant: number, kpiId: string, first: boolean): AttributeMap {
    const guid = this.newGuid(kind);
    const id = `${first ? '00000000' : 'ffffffff'}${guid.slice(8)}`;
    const users = this.population.users[tenant]!;
    return {
      Id: { S: id },
      TenantId: { S: this.population.tenants[tenant]! },
      GoalId: { S: this.newGuid(`${kind} goal`) },
      KpiId: { S: kpiId },
      LinkType: { S: first ? 'Primary' : 'Supporting' },
      Weight: { N: '1.5' },
      DisplayOrder: { N: String(this.counter) },
      IsPrimary: { BOOL: first },
      CreatedBy: { S: users[this.counter % users.length]! },
      CreatedAt: { S: '2024-01-15T10:00:00Z' },
    };
  }

  // ---- KPIs and people -----------------------------------------------------------------------

  /** Links of a KPI in the KPI's own tenant (cross-tenant links do not see the KPI's owner). */
  private ownTenantLinks(kpi: number): { index: number; createdBy: string }[] {
    const tenant = this.population.kpis[kpi]!.tenant;
    return (this.linksOfGroup.get(groupKey(kpi, tenant)) ?? []).map((l) => ({ index: l.index, createdBy: this.population.links[l.index]!.createdBy }));
  }

  private pickKpi(kind: ChangeKind, accept: (kpi: number) => boolean): number | undefined {
    const candidates = this.population.kpis
      .map((kpi, k) => ({ kpi, k }))
      .filter(({ kpi, k }) => this.inScope(kpi.tenant) && !this.usedKpis.has(k) && !this.usedGroups.has(groupKey(k, kpi.tenant)) && this.ownTenantLinks(k).length > 0 && accept(k))
      .map(({ k }) => k);
    if (candidates.length === 0) return undefined;
    const k = this.rng(kind).pick(candidates);
    this.usedKpis.add(k);
    for (let t = 0; t < this.population.tenants.length; t++) this.usedGroups.add(groupKey(k, t));
    return k;
  }

  private personOf(tenant: number, user: string): string | undefined {
    return this.population.people.find((p) => p.tenant === tenant && p.linkedUser === user)?.id;
  }

  private kpiChanges(): void {
    const { kpis, users } = this.population;
    const linkWitness = (k: number, differsFrom: string | null): Witness[] => {
      const link = this.ownTenantLinks(k).find((l) => l.createdBy !== differsFrom) ?? this.ownTenantLinks(k)[0]!;
      return [{ entity: 'GoalKpiLink', id: this.rawId('GoalKpiLink', link.index) }];
    };

    const changed = this.pickKpi('kpi_owner_changed', (k) => !kpis[k]!.ghost && kpis[k]!.owner !== null && this.slotOf.Kpi.has(k));
    if (changed !== undefined) {
      const kpi = kpis[changed]!;
      const owner = users[kpi.tenant]!.find((u) => u !== kpi.owner && this.personOf(kpi.tenant, u) !== undefined) ?? users[kpi.tenant]!.find((u) => u !== kpi.owner)!;
      this.setAttributes('Kpi', changed, { OwnerId: { S: owner } });
      this.record('kpi_owner_changed', 'Kpi', kpi.id, kpi.tenant, linkWitness(changed, null), 'OwnerId changed: person_id of its links re-derived');
    }

    const removed = this.pickKpi('kpi_owner_removed', (k) => !kpis[k]!.ghost && kpis[k]!.owner !== null && this.slotOf.Kpi.has(k) && this.ownTenantLinks(k).some((l) => l.createdBy !== kpis[k]!.owner));
    if (removed !== undefined) {
      const kpi = kpis[removed]!;
      const item = { ...this.itemOf('Kpi', removed) };
      delete item.OwnerId;
      this.replaceItem('Kpi', removed, item);
      this.record('kpi_owner_removed', 'Kpi', kpi.id, kpi.tenant, linkWitness(removed, kpi.owner), 'OwnerId removed: its links take the person of their CreatedBy');
    }

    const added = this.pickKpi('kpi_owner_added', (k) => !kpis[k]!.ghost && kpis[k]!.owner === null && this.slotOf.Kpi.has(k));
    if (added !== undefined && users[kpis[added]!.tenant]!.some((u) => !this.ownTenantLinks(added).some((l) => l.createdBy === u))) {
      const kpi = kpis[added]!;
      const creators = new Set(this.ownTenantLinks(added).map((l) => l.createdBy));
      const owner = users[kpi.tenant]!.find((u) => !creators.has(u));
      if (owner !== undefined) this.setAttributes('Kpi', added, { OwnerId: { S: owner } });
      this.record('kpi_owner_added', 'Kpi', kpi.id, kpi.tenant, linkWitness(added, null), 'OwnerId given: its links take the owner\u2019s person');
    }

    const deleted = this.pickKpi('kpi_deleted', (k) => !kpis[k]!.ghost && kpis[k]!.owner !== null && this.slotOf.Kpi.has(k) && this.ownTenantLinks(k).some((l) => l.createdBy !== kpis[k]!.owner));
    if (deleted !== undefined) {
      const kpi = kpis[deleted]!;
      this.deleteItem('Kpi', deleted);
      this.record('kpi_deleted', 'Kpi', kpi.id, kpi.tenant, linkWitness(deleted, kpi.owner), 'KPI gone: its links take the person of their CreatedBy');
    }

    const ghost = this.pickKpi('kpi_inserted', (k) => kpis[k]!.ghost);
    const ghostOwner = ghost === undefined ? undefined : users[kpis[ghost]!.tenant]!.find((u) => !this.ownTenantLinks(ghost).some((l) => l.createdBy === u));
    if (ghost !== undefined && ghostOwner !== undefined) {
      const kpi = kpis[ghost]!;
      const owner = ghostOwner;
      this.insertItem('Kpi', { Id: { S: kpi.id }, TenantId: { S: this.population.tenants[kpi.tenant]! }, Name: { S: 'Revenue per visit (new)' }, OwnerId: { S: owner } });
      this.record('kpi_inserted', 'Kpi', kpi.id, kpi.tenant, linkWitness(ghost, null), 'a KPI its links referred to appears, with an owner: they take the owner\u2019s person');
    }
  }

  /** Migrated links (index) whose person is looked up for `user` in `tenant`, in state A. */
  private linksResolvingTo(tenant: number, user: string): number[] {
    const out: number[] = [];
    for (const group of this.linksOfGroup.values()) {
      for (const { index } of group) {
        const link = this.population.links[index]!;
        if (link.tenant !== tenant || this.usedRecords.has(`GoalKpiLink:${index}`)) continue;
        const kpi = this.population.kpis[link.kpi]!;
        const ownerSeen = !kpi.ghost && kpi.owner !== null && kpi.tenant === link.tenant;
        if ((ownerSeen ? kpi.owner : link.createdBy) === user && !this.usedGroups.has(groupKey(link.kpi, link.tenant)) && !this.usedKpis.has(link.kpi)) out.push(index);
      }
    }
    return out;
  }

  private personChanges(): void {
    const { people, users } = this.population;
    const pickPerson = (kind: ChangeKind) => {
      const candidates = people
        .map((person, p) => ({ person, p }))
        .filter(({ person }) => person.linkedUser !== null && this.inScope(person.tenant) && !this.usedUsers.has(`${person.tenant}|${person.linkedUser}`))
        .filter(({ person }) => this.linksResolvingTo(person.tenant, person.linkedUser!).length > 0);
      if (candidates.length === 0) return undefined;
      const chosen = this.rng(kind).pick(candidates);
      this.usedUsers.add(`${chosen.person.tenant}|${chosen.person.linkedUser}`);
      return chosen;
    };
    const claimLinks = (indexes: number[]): Witness[] =>
      indexes.slice(0, 2).map((index) => {
        const link = this.population.links[index]!;
        this.usedGroups.add(groupKey(link.kpi, link.tenant));
        return { entity: 'GoalKpiLink', id: this.rawId('GoalKpiLink', index) };
      });

    const relinked = pickPerson('person_linked_user_changed');
    if (relinked) {
      const { person, p } = relinked;
      // User 1 of every tenant has no person: the person moves to that user.
      const newUser = users[person.tenant]![1]!;
      this.usedUsers.add(`${person.tenant}|${newUser}`);
      const witnesses = claimLinks([...this.linksResolvingTo(person.tenant, person.linkedUser!), ...this.linksResolvingTo(person.tenant, newUser)]);
      this.setAttributes('Person', p, { LinkedUserId: { S: newUser } });
      this.record('person_linked_user_changed', 'Person', person.id, person.tenant, witnesses, 'LinkedUserId changed: links of the old user fall back to it, links of the new user take this person');
    }

    const deleted = pickPerson('person_deleted');
    if (deleted) {
      const { person, p } = deleted;
      const witnesses = claimLinks(this.linksResolvingTo(person.tenant, person.linkedUser!));
      this.deleteItem('Person', p);
      this.record('person_deleted', 'Person', person.id, person.tenant, witnesses, 'person gone: links of its user fall back to the user GUID');
    }

    const lonely: { tenant: number; user: string }[] = [];
    users.forEach((tenantUsers, tenant) => {
      if (!this.inScope(tenant)) return;
      for (const user of tenantUsers) {
        if (!this.usedUsers.has(`${tenant}|${user}`) && this.personOf(tenant, user) === undefined && this.linksResolvingTo(tenant, user).length > 0) lonely.push({ tenant, user });
      }
    });
    if (lonely.length > 0) {
      const { tenant, user } = this.rng('person_inserted').pick(lonely);
      this.usedUsers.add(`${tenant}|${user}`);
      const witnesses = claimLinks(this.linksResolvingTo(tenant, user));
      const id = this.newGuid('person_inserted');
      this.insertItem('Person', { Id: { S: id }, TenantId: { S: this.population.tenants[tenant]! }, DisplayName: { S: 'New Colleague' }, LinkedUserId: { S: user } });
      this.record('person_inserted', 'Person', id, tenant, witnesses, 'a person for a user whose links fell back: they take this person');
    }
  }

  // ---- choosing ------------------------------------------------------------------------------

  private rng(kind: string): Rng {
    return rngFor(this.options.seed, 'changes', kind, this.changes.length);
  }

  /**
   * A fact of `entity` in scope, not used yet (marked used unless `claim` is false). Fact changes
   * share groups with each other, not with link, KPI and person changes (which come first).
   */
  private pickFact(entity: DataEntity, accept: (record: FactRecord) => boolean, claim = true): FactRecord | undefined {
    const candidates = this.factRecords[entity].filter(
      (r) => this.inScope(r.target.tenant) && !this.usedRecords.has(`${entity}:${r.index}`) && this.slots[entity][this.slotOf[entity].get(r.index)!] !== null && accept(r),
    );
    if (candidates.length === 0) return undefined;
    const chosen = this.rng(`${entity} fact`).pick(candidates);
    if (claim) this.usedRecords.add(`${entity}:${chosen.index}`);
    return chosen;
  }

  /** A group with migrated links, in scope and not used yet (marked used unless `claim` is false). */
  private pickGroup(accept: (key: GroupKey, tenant: number) => boolean, claim = true): { key: GroupKey; kpi: number; tenant: number } | undefined {
    const candidates = [...this.linksOfGroup.keys()].filter((key) => {
      const [kpi, tenant] = key.split('|').map(Number) as [number, number];
      return this.inScope(tenant) && !this.usedGroups.has(key) && !this.usedKpis.has(kpi) && accept(key, tenant);
    });
    if (candidates.length === 0) return undefined;
    const key = this.rng('group').pick(candidates.sort());
    if (claim) this.usedGroups.add(key);
    const [kpi, tenant] = key.split('|').map(Number) as [number, number];
    return { key, kpi, tenant };
  }

  private factPlansWith(entity: DataEntity, index: number, fate: Fate): FactPlans {
    const fates = new Uint8Array(this.facts[entity].fates);
    fates[index] = fateCode(fate);
    return { ...this.facts, [entity]: { ...this.facts[entity], fates } };
  }

  // ---- state B -------------------------------------------------------------------------------

  private slot(entity: LegacyEntity, index: number): number {
    const slot = this.slotOf[entity].get(index);
    if (slot === undefined) throw new Error(`${entity} ${index} is not in state A`);
    return slot;
  }

  private itemOf(entity: LegacyEntity, index: number): AttributeMap {
    const item = this.slots[entity][this.slot(entity, index)];
    if (!item) throw new Error(`${entity} ${index} was deleted already`);
    return item;
  }

  private rawId(entity: LegacyEntity, index: number): string {
    return idOf(this.itemOf(entity, index));
  }

  private kpiIdOf(kpi: number | string): string {
    return typeof kpi === 'number' ? this.population.kpis[kpi]!.id : kpi;
  }

  private deleteItem(entity: LegacyEntity, index: number): void {
    this.itemOf(entity, index);
    this.slots[entity][this.slot(entity, index)] = null;
    this.usedRecords.add(`${entity}:${index}`);
  }

  private replaceItem(entity: LegacyEntity, index: number, item: AttributeMap): void {
    this.itemOf(entity, index);
    this.slots[entity][this.slot(entity, index)] = item;
    this.usedRecords.add(`${entity}:${index}`);
  }

  private setAttributes(entity: LegacyEntity, index: number, attributes: AttributeMap): void {
    this.replaceItem(entity, index, { ...this.itemOf(entity, index), ...attributes });
  }

  private insertItem(entity: LegacyEntity, item: AttributeMap): void {
    this.slots[entity].push(item);
  }

  private newGuid(kind: string): string {
    return randomGuid(rngFor(this.options.seed, 'changes', 'new id', kind, this.counter++));
  }

  private newNumber(): string {
    return `${7000 + this.counter++}.25`;
  }

  private record(kind: ChangeKind, table: LegacyEntity, id: string, tenant: number, witnesses: Witness[], note: string, entity: LegacyEntity = table): void {
    this.changes.push({ kind, entity, table, id, tenant: this.population.tenants[tenant]!, witnesses, note });
  }
}

function fanOutOrder(a: { id: string; primary: boolean }, b: { id: string; primary: boolean }): number {
  if (a.primary !== b.primary) return a.primary ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function idOf(item: AttributeMap): string {
  const id = item.Id?.S;
  if (id === undefined) throw new Error('an item without a string Id');
  return id;
}
