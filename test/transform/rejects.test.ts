import { describe, expect, test } from 'vitest';
import { mapGoalKpiLink } from '../../src/transform/goal-kpi-link.js';
import { mapKpiActual } from '../../src/transform/kpi-actual.js';
import { mapKpiMilestone } from '../../src/transform/kpi-milestone.js';
import { mapKpiReading } from '../../src/transform/kpi-reading.js';
import type { LegacyItem } from '../../src/model/legacy-value.js';
import { LinkIndex } from '../../src/transform/link-index.js';
import { LinkLookups } from '../../src/transform/lookups.js';
import type { MappingResult, Reject } from '../../src/model/reject.js';
import { actualItem, KPI, LINK_A, linkItem, milestoneItem, N, readingItem, RECORD_ID, TENANT } from './legacy-items.js';

function linkedIndex(): LinkIndex {
  const links = new LinkIndex();
  links.add({ id: LINK_A, tenantId: TENANT, kpiId: KPI, isPrimary: true, sourceId: LINK_A });
  return links;
}

function rejectOf(result: MappingResult<unknown>): Reject {
  if (result.ok) throw new Error(`expected a reject, got ${result.rows.length} rows`);
  return result.reject;
}

const milestoneReject = (item: LegacyItem) => rejectOf(mapKpiMilestone(item, linkedIndex()));

describe('each reject reason the transform produces', () => {
  test('missing_field: a required attribute absent, NULL or empty', () => {
    const absentItem = milestoneItem();
    delete absentItem.TargetValue;
    for (const item of [absentItem, milestoneItem({ TargetValue: null }), milestoneItem({ TargetValue: '' })]) {
      const reject = milestoneReject(item);
      expect(reject).toMatchObject({ reason: 'missing_field', attribute: 'TargetValue', sourceEntity: 'KpiMilestone' });
      expect(reject.message).toContain('TargetValue');
    }
  });

  test('missing_field: GoalId is required on a link', () => {
    const item = linkItem();
    delete item.GoalId;
    expect(rejectOf(mapGoalKpiLink(item, new LinkLookups()))).toMatchObject({ reason: 'missing_field', attribute: 'GoalId' });
  });

  test('invalid_value: a number that is not one, an impossible date, a map where text belongs', () => {
    expect(milestoneReject(milestoneItem({ TargetValue: 'NaN' }))).toMatchObject({ reason: 'invalid_value', attribute: 'TargetValue' });
    expect(milestoneReject(milestoneItem({ MilestoneDate: '2024-02-30' }))).toMatchObject({ reason: 'invalid_value', attribute: 'MilestoneDate' });
    expect(milestoneReject(milestoneItem({ Label: { M: 'x' } }))).toMatchObject({ reason: 'invalid_value', attribute: 'Label' });
    expect(milestoneReject(milestoneItem({ ConfidenceLevel: N('6') }))).toMatchObject({ reason: 'invalid_value', attribute: 'ConfidenceLevel' });
  });

  test('invalid_id: a GUID attribute that is not a GUID', () => {
    const reject = rejectOf(mapKpiReading(readingItem({ KpiId: 'kpi-7' }), linkedIndex()));
    expect(reject).toMatchObject({ reason: 'invalid_id', attribute: 'KpiId' });
    expect(reject.message).toContain('kpi-7');
  });

  test('unknown_enum: an enum word outside its set', () => {
    expect(rejectOf(mapGoalKpiLink(linkItem({ LinkType: 'Secondary' }), new LinkLookups()))).toMatchObject({
      reason: 'unknown_enum',
      attribute: 'LinkType',
    });
    expect(rejectOf(mapKpiActual(actualItem({ DataSource: 'api' }), linkedIndex()))).toMatchObject({
      reason: 'unknown_enum',
      attribute: 'DataSource',
    });
  });

  test('no_kpi_link: a fact whose KPI has no migrated link in its tenant', () => {
    const reject = rejectOf(mapKpiActual(actualItem(), new LinkIndex()));
    expect(reject).toMatchObject({ reason: 'no_kpi_link', attribute: 'KpiId', sourceId: RECORD_ID, sourceEntity: 'KpiActual' });
    expect(reject.message).toContain(KPI);
  });
});

describe('one reject per record', () => {
  test('the reason is the first problem in contract attribute order, whatever order the item has', () => {
    const item: LegacyItem = { CreatedAt: 'soon', TargetValue: 'lots', KpiId: 'nope', Id: RECORD_ID, TenantId: TENANT, MilestoneDate: '2024-01-01', CreatedBy: 'x' };
    const reject = milestoneReject(item);
    expect(reject.reason).toBe('invalid_id');
    expect(reject.attribute).toBe('KpiId');
    const named = ['KpiId', 'TargetValue', 'CreatedAt'].map((name) => reject.message.indexOf(name));
    expect(named.every((at) => at >= 0)).toBe(true);
    expect(named).toEqual([...named].sort((a, b) => a - b));
    expect(reject.message).toContain('[invalid_value]');
  });

  test('Id comes first: a bad Id decides the reason even when later attributes are missing', () => {
    const reject = milestoneReject({ Id: 'legacy-7', TenantId: TENANT });
    expect(reject).toMatchObject({ reason: 'invalid_id', attribute: 'Id', sourceId: 'legacy-7' });
    for (const name of ['KpiId', 'TargetValue', 'MilestoneDate', 'CreatedBy', 'CreatedAt']) expect(reject.message).toContain(name);
  });

  test('sourceId is the raw Id when it is a string, else null; item is the raw item', () => {
    const braced = milestoneItem({ Id: `{${RECORD_ID.toUpperCase()}}`, TargetValue: 'x' });
    expect(milestoneReject(braced)).toMatchObject({ sourceId: `{${RECORD_ID.toUpperCase()}}`, item: braced });
    expect(milestoneReject(braced).item).toBe(braced);
    const numericId = milestoneItem({ Id: N('17') });
    expect(milestoneReject(numericId)).toMatchObject({ sourceId: null, reason: 'invalid_value', attribute: 'Id' });
    const noId = milestoneItem();
    delete noId.Id;
    expect(milestoneReject(noId)).toMatchObject({ sourceId: null, reason: 'missing_field', attribute: 'Id' });
  });

  test('an item that is not a map at all is one invalid_value reject, not an exception', () => {
    const notAnItem = ['not', 'a', 'map'] as unknown as LegacyItem;
    expect(milestoneReject(notAnItem)).toMatchObject({ reason: 'invalid_value', sourceId: null, item: notAnItem });
  });

  test('mappings report canonical row ids, so the load stage can detect an id_conflict', () => {
    const links = linkedIndex();
    const braced = mapKpiMilestone(milestoneItem({ Id: `{${RECORD_ID.toUpperCase()}}` }), links);
    const plain = mapKpiActual(actualItem({ Id: RECORD_ID }), links);
    if (!braced.ok || !plain.ok) throw new Error('both should map');
    expect(braced.rows[0]!.id).toBe(RECORD_ID);
    expect(braced.rows[0]!.source_id).toBe(`{${RECORD_ID.toUpperCase()}}`);
    expect(plain.rows[0]!.id).toBe(braced.rows[0]!.id);
    const link = mapGoalKpiLink(linkItem({ Id: LINK_A.toUpperCase() }), new LinkLookups());
    expect(link.ok && link.rows[0]!.id).toBe(LINK_A);
  });
});
