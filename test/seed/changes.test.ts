import { describe, expect, it } from 'vitest';
import { deriveChangedState, EXPECTED_CHANGES } from '../../src/seed/changes.js';
import { planLegacyData, type AttributeMap } from '../../src/seed/index.js';
import { canonicalTenantOf } from '../../src/transform/tenant.js';
import { fromAttributeMap } from '../../src/extract/dynamodb-json.js';
import { LEGACY_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';

const DATA = { items: 1500, seed: 9, tenants: 3 } as const;

type Tables = Record<LegacyEntity, AttributeMap[]>;

function tablesOf(plan: ReturnType<typeof planLegacyData>): Tables {
  return Object.fromEntries(LEGACY_ENTITIES.map((e) => [e, [...plan.tableItems(e)]])) as Tables;
}

/** Per table, the items of `after` that are not in `before` (changed or new) and the Ids of those gone. */
function delta(before: Tables, after: Tables): { entity: LegacyEntity; item: AttributeMap; how: 'new' | 'gone' }[] {
  const out: { entity: LegacyEntity; item: AttributeMap; how: 'new' | 'gone' }[] = [];
  for (const entity of LEGACY_ENTITIES) {
    const text = (items: AttributeMap[]) => new Set(items.map((i) => JSON.stringify(i)));
    const [a, b] = [text(before[entity]), text(after[entity])];
    for (const item of after[entity]) if (!a.has(JSON.stringify(item))) out.push({ entity, item, how: 'new' });
    for (const item of before[entity]) if (!b.has(JSON.stringify(item))) out.push({ entity, item, how: 'gone' });
  }
  return out;
}

describe('deriveChangedState (a later state of a generated source)', () => {
  const plan = planLegacyData(DATA);
  const a = tablesOf(plan);

  it('is deterministic, and leaves state A as the plan renders it', () => {
    const first = deriveChangedState(plan, { seed: 99 });
    const second = deriveChangedState(planLegacyData(DATA), { seed: 99 });
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    expect(JSON.stringify(tablesOf(plan))).toBe(JSON.stringify(a));
    expect(JSON.stringify(deriveChangedState(plan, { seed: 100 }).tables)).not.toBe(JSON.stringify(first.tables));
  });

  it('makes every kind of change on the whole source, each with records that witness it', () => {
    const { changes, tables } = deriveChangedState(plan, { seed: 99 });
    const kinds = new Set(changes.map((c) => `${c.kind} ${c.entity}`));
    expect(EXPECTED_CHANGES.map(({ kind, entity }) => `${kind} ${entity}`).filter((k) => !kinds.has(k))).toEqual([]);
    for (const change of changes) expect(change.witnesses.length, `${change.kind} ${change.id}`).toBeGreaterThan(0);
    // Every change is a real difference of the tables.
    expect(delta(a, tables).length).toBeGreaterThanOrEqual(changes.length);
  });

  it('scoped: tablesInScope is A with only the scoped tenant’s changes, the rest of B only the other tenants’', () => {
    const state = deriveChangedState(plan, { seed: 99, scopeTenant: -1 });
    const scope = state.scopeTenant!;
    const tenantOf = (item: AttributeMap) => canonicalTenantOf(fromAttributeMap(item));
    const inScope = delta(a, state.tablesInScope!);
    expect(inScope.length).toBeGreaterThan(30);
    // A record changed in scope is of that tenant in A or in B (a fixed record's A TenantId may be the broken attribute).
    const scopedIds = new Set(inScope.map((d) => `${d.entity} ${d.item.Id?.S}`));
    for (const id of scopedIds) {
      const versions = inScope.filter((d) => `${d.entity} ${d.item.Id?.S}` === id).map((d) => tenantOf(d.item));
      expect(versions, id).toContain(scope);
    }
    for (const d of delta(state.tablesInScope!, state.tables)) {
      expect(tenantOf(d.item), `${d.how} ${d.entity} ${d.item.Id?.S}`).not.toBe(scope);
    }
    expect(state.changes.filter((c) => c.tenant === scope).length).toBeGreaterThan(30);
    expect(state.changes.filter((c) => c.tenant !== scope).length).toBeGreaterThan(30);
  });
});
