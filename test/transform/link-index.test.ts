import { expect, test } from 'vitest';
import { LinkIndex, migratedLinkOf, type MigratedLink } from '../../src/transform/link-index.js';
import { KPI, LINK_A, LINK_B, LINK_C, OTHER_TENANT, TENANT } from './legacy-items.js';

const link = (id: string, isPrimary: boolean, extra: Partial<MigratedLink> = {}): MigratedLink => ({
  id,
  tenantId: TENANT,
  kpiId: KPI,
  isPrimary,
  sourceId: id,
  ...extra,
});

const idsOf = (index: LinkIndex, tenantId = TENANT) => index.linksOf(tenantId, KPI).map((entry) => entry.id);

test('links come in fan-out order (is_primary desc, id asc) whatever the order they were added in', () => {
  const links = [link(LINK_B, false), link(LINK_C, true), link(LINK_A, false)];
  for (const order of [links, [...links].reverse(), [links[1]!, links[0]!, links[2]!]]) {
    const index = new LinkIndex();
    for (const entry of order) index.add(entry);
    expect(idsOf(index)).toEqual([LINK_C, LINK_A, LINK_B]);
  }
});

test('a link is found only under its own tenant and KPI', () => {
  const index = new LinkIndex();
  index.add(link(LINK_A, true, { tenantId: OTHER_TENANT }));
  expect(idsOf(index)).toEqual([]);
  expect(idsOf(index, OTHER_TENANT)).toEqual([LINK_A]);
});

test('remove by source id forgets a link the load stage rejected', () => {
  const index = new LinkIndex();
  index.add(link(LINK_A, true, { sourceId: `{${LINK_A.toUpperCase()}}` }));
  index.add(link(LINK_B, false));
  expect(index.remove(LINK_A)).toBe(false);
  expect(index.remove(`{${LINK_A.toUpperCase()}}`)).toBe(true);
  expect(idsOf(index)).toEqual([LINK_B]);
  expect(index.remove(LINK_B)).toBe(true);
  expect(idsOf(index)).toEqual([]);
  expect(index.size).toBe(0);
});

test('the same source record added again replaces its earlier entry', () => {
  const index = new LinkIndex();
  index.add(link(LINK_A, false));
  index.add(link(LINK_A, true));
  expect(index.linksOf(TENANT, KPI)).toEqual([{ id: LINK_A, isPrimary: true, sourceId: LINK_A }]);
  expect(index.size).toBe(1);
});

test('a kpi_links row gives the link the index keeps', () => {
  expect(
    migratedLinkOf({ id: LINK_A, tenant_id: TENANT, kpi_id: KPI, is_primary: true, source_id: LINK_A.toUpperCase() }),
  ).toEqual({ id: LINK_A, tenantId: TENANT, kpiId: KPI, isPrimary: true, sourceId: LINK_A.toUpperCase() });
});

test('an index crosses to another thread whole: the same links in the same order, and it goes on taking and forgetting links as the original does', () => {
  const guid = (n: number) => `${n.toString(16).padStart(8, '0')}-0000-4000-8000-${(n * 7919).toString(16).padStart(12, '0')}`;
  const tenants = [TENANT, OTHER_TENANT];
  const kpis = [KPI, guid(900001), guid(900002)];
  let seed = 7;
  const random = (below: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % below;
  };
  const made = (n: number): MigratedLink => {
    const id = random(10) === 0 ? `not-a-guid-${n}` : guid(n);
    return {
      id,
      tenantId: tenants[random(tenants.length)]!,
      kpiId: kpis[random(kpis.length)]!,
      isPrimary: random(4) === 0,
      sourceId: random(5) === 0 ? `{${id.toUpperCase()}}` : id,
    };
  };
  const original = new LinkIndex();
  const added: MigratedLink[] = [];
  for (let n = 1; n <= 3000; n++) {
    // Now and then the same record again (it replaces its entry), or one forgotten.
    const entry = n % 97 === 0 ? { ...added[random(added.length)]!, isPrimary: true } : made(n);
    original.add(entry);
    added.push(entry);
    if (n % 53 === 0) original.remove(added[random(added.length)]!.sourceId);
  }
  const crossed = LinkIndex.fromWire(structuredClone(original.toWire()));
  const everyKpi = (index: LinkIndex) => tenants.flatMap((tenant) => kpis.map((kpi) => index.linksOf(tenant, kpi)));
  expect(crossed.size).toBe(original.size);
  expect(everyKpi(crossed)).toEqual(everyKpi(original));
  expect(everyKpi(original).flat().length).toBeGreaterThan(2000);

  for (let n = 3001; n <= 3400; n++) {
    const entry = made(n);
    const forgotten = added[random(added.length)]!.sourceId;
    for (const index of [original, crossed]) {
      index.add(entry);
      index.remove(forgotten);
    }
    added.push(entry);
  }
  expect(crossed.size).toBe(original.size);
  expect(everyKpi(crossed)).toEqual(everyKpi(original));
});
