import { describe, expect, test } from 'vitest';
import { mapGoalKpiLink, type LinkMapping } from '../../src/transform/goal-kpi-link.js';
import { parseKpi } from '../../src/transform/kpi.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { LinkLookups } from '../../src/transform/lookups.js';
import { parsePerson } from '../../src/transform/person.js';
import type { KpiLinkRow } from '../../src/model/rows.js';
import {
  CREATOR_PERSON,
  CREATOR_USER,
  GOAL,
  KPI,
  kpiItem,
  LINK_A,
  linkItem,
  N,
  OTHER_TENANT,
  OWNER_PERSON,
  OWNER_USER,
  personItem,
  TENANT,
} from './legacy-items.js';

function lookupsOf(kpis: LegacyItem[], people: LegacyItem[]): LinkLookups {
  const lookups = new LinkLookups();
  for (const item of kpis) {
    const parsed = parseKpi(item);
    if (!parsed.ok) throw new Error(parsed.reject.message);
    lookups.addKpi(parsed.value);
  }
  for (const item of people) {
    const parsed = parsePerson(item);
    if (!parsed.ok) throw new Error(parsed.reject.message);
    lookups.addPerson(parsed.value);
  }
  return lookups;
}

function mapped(result: LinkMapping): { row: KpiLinkRow; personFallback: boolean; kpiKnown: boolean } {
  if (!result.ok) throw new Error(`${result.reject.reason}: ${result.reject.message}`);
  expect(result.rows).toHaveLength(1);
  return { row: result.rows[0]!, personFallback: result.personFallback, kpiKnown: result.kpiKnown };
}

const ownerPerson = personItem();
const creatorPerson = personItem({ Id: CREATOR_PERSON, LinkedUserId: CREATOR_USER, DisplayName: 'Grace' });

describe('GoalKpiLink → kpi_links row', () => {
  test('maps every column (contract §2)', () => {
    const { row } = mapped(mapGoalKpiLink(linkItem(), lookupsOf([kpiItem()], [ownerPerson])));
    expect(row).toEqual({
      id: LINK_A,
      tenant_id: TENANT,
      kpi_id: KPI,
      person_id: OWNER_PERSON,
      goal_id: GOAL,
      strategy_id: null,
      threshold_pct: '12.5',
      link_type: 'primary',
      weight: '0.75',
      display_order: 2,
      is_primary: true,
      created_by: CREATOR_USER,
      created_at: '2023-04-05T06:07:08.123000Z',
      updated_by: OWNER_USER,
      updated_at: '2023-05-06T07:08:09.000000Z',
      source_entity: 'GoalKpiLink',
      source_id: LINK_A,
      legacy_extra: '{}',
    });
  });

  test('absent optional attributes: link_type supporting, is_primary false, numbers and updates null', () => {
    const item = linkItem({ ThresholdPct: null, Weight: '', DisplayOrder: null, UpdatedBy: '', UpdatedAt: null });
    delete item.LinkType;
    delete item.IsPrimary;
    const { row } = mapped(mapGoalKpiLink(item, new LinkLookups()));
    expect(row).toMatchObject({
      link_type: 'supporting',
      is_primary: false,
      threshold_pct: null,
      weight: null,
      display_order: null,
      updated_by: null,
      updated_at: null,
      strategy_id: null,
    });
  });

  test('messy but valid input: GUIDs in braces and upper case, booleans as N or text, numbers as strings', () => {
    const item = linkItem({
      Id: `{${LINK_A.toUpperCase()}}`,
      KpiId: KPI.toUpperCase(),
      IsPrimary: 'FALSE',
      Weight: '+1.5E+1',
      DisplayOrder: '7',
      LinkType: 'MONITORING',
      CreatedAt: N('1680674828123'),
    });
    const { row } = mapped(mapGoalKpiLink(item, new LinkLookups()));
    expect(row).toMatchObject({
      id: LINK_A,
      kpi_id: KPI,
      is_primary: false,
      weight: '15',
      display_order: 7,
      link_type: 'monitoring',
      created_at: '2023-04-05T06:07:08.123000Z',
      source_id: `{${LINK_A.toUpperCase()}}`,
    });
  });
});

describe('person resolution (contract §3)', () => {
  test("the KPI owner's person", () => {
    const result = mapped(mapGoalKpiLink(linkItem(), lookupsOf([kpiItem()], [ownerPerson, creatorPerson])));
    expect(result).toMatchObject({ personFallback: false, kpiKnown: true });
    expect(result.row.person_id).toBe(OWNER_PERSON);
  });

  test("a KPI without owner falls back to the link's CreatedBy person", () => {
    const result = mapped(mapGoalKpiLink(linkItem(), lookupsOf([kpiItem({ OwnerId: null })], [ownerPerson, creatorPerson])));
    expect(result).toMatchObject({ personFallback: false, kpiKnown: true });
    expect(result.row.person_id).toBe(CREATOR_PERSON);
  });

  test("an unknown KPI uses the CreatedBy person and says the KPI is unknown", () => {
    const result = mapped(mapGoalKpiLink(linkItem(), lookupsOf([], [ownerPerson, creatorPerson])));
    expect(result).toMatchObject({ personFallback: false, kpiKnown: false });
    expect(result.row.person_id).toBe(CREATOR_PERSON);
  });

  test('no person linked to the user: the user GUID itself, counted as a fallback', () => {
    const owned = mapped(mapGoalKpiLink(linkItem(), lookupsOf([kpiItem()], [creatorPerson])));
    expect(owned).toMatchObject({ personFallback: true, kpiKnown: true });
    expect(owned.row.person_id).toBe(OWNER_USER);
    const unknown = mapped(mapGoalKpiLink(linkItem(), new LinkLookups()));
    expect(unknown).toMatchObject({ personFallback: true, kpiKnown: false });
    expect(unknown.row.person_id).toBe(CREATOR_USER);
  });

  test("another tenant's KPI and people are not used", () => {
    const lookups = lookupsOf(
      [kpiItem({ TenantId: OTHER_TENANT })],
      [personItem({ TenantId: OTHER_TENANT }), personItem({ TenantId: OTHER_TENANT, Id: CREATOR_PERSON, LinkedUserId: CREATOR_USER })],
    );
    const result = mapped(mapGoalKpiLink(linkItem(), lookups));
    expect(result).toMatchObject({ personFallback: true, kpiKnown: false });
    expect(result.row.person_id).toBe(CREATOR_USER);
  });

  test('several people linked to one user: the lowest canonical Id wins, in any order', () => {
    const high = personItem({ Id: 'ffffffff-0000-4000-8000-000000000001' });
    const low = personItem({ Id: '{0000000A-0000-4000-8000-000000000001}' });
    for (const people of [[high, low], [low, high]]) {
      const result = mapped(mapGoalKpiLink(linkItem(), lookupsOf([kpiItem()], people)));
      expect(result.row.person_id).toBe('0000000a-0000-4000-8000-000000000001');
    }
  });
});

describe('KPI and person records', () => {
  test('parse into canonical lookups entries', () => {
    expect(parseKpi(kpiItem({ OwnerId: `{${OWNER_USER.toUpperCase()}}` }))).toEqual({
      ok: true,
      value: { id: KPI, tenantId: TENANT, name: 'Revenue', ownerId: OWNER_USER },
    });
    expect(parsePerson(personItem({ LinkedUserId: '' }))).toEqual({
      ok: true,
      value: { id: OWNER_PERSON, tenantId: TENANT, displayName: 'Ada', linkedUserId: null },
    });
  });

  test('are rejected like any record', () => {
    const kpi = parseKpi(kpiItem({ Name: null, OwnerId: 'bob' }));
    expect(kpi.ok ? null : kpi.reject).toMatchObject({ sourceEntity: 'Kpi', reason: 'missing_field', attribute: 'Name' });
    const person = parsePerson(personItem({ TenantId: 'acme' }));
    expect(person.ok ? null : person.reject).toMatchObject({ sourceEntity: 'Person', reason: 'invalid_id', attribute: 'TenantId' });
  });

  test('lookups answer undefined for an unknown KPI and null for a KPI without owner', () => {
    const lookups = lookupsOf([kpiItem({ OwnerId: null })], []);
    expect(lookups.kpiOwner(TENANT, KPI)).toBeNull();
    expect(lookups.kpiOwner(OTHER_TENANT, KPI)).toBeUndefined();
    expect(lookups.personFor(TENANT, OWNER_USER)).toBeUndefined();
  });
});
