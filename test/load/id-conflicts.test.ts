import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalUuid, resolveIdConflicts, type ClaimingRecord, type RowHolder } from '../../src/load/id-conflicts.js';

const record = (sourceEntity: ClaimingRecord['sourceEntity'], sourceId: string, rowIds: string[], content = ''): ClaimingRecord => ({
  sourceEntity,
  sourceId,
  rowIds,
  contentKey: () => content,
});

describe('resolveIdConflicts', () => {
  it('lets every record win when no row id is shared', () => {
    expect(resolveIdConflicts([record('KpiActual', 'a', ['1', '2']), record('KpiActual', 'b', ['3'])], new Map())).toEqual({ winners: [0, 1], losers: [] });
  });

  it('gives a shared row to the earlier entity, then to the lower Id, and rejects the loser whole', () => {
    const records = [record('KpiReading', 'a', ['1']), record('KpiActual', 'z', ['1', '2']), record('KpiActual', 'b', ['2', '3'])];
    const { winners, losers } = resolveIdConflicts(records, new Map());
    // KpiActual b (lower Id) takes row 2 first; KpiActual z then loses row 2; so KpiReading a keeps row 1.
    expect(winners).toEqual([0, 2]);
    expect(losers).toEqual([{ record: 1, rowId: '2', message: expect.stringContaining('also produced by KpiActual b in the same batch') }]);
  });

  it('leaves a row with the record that holds it in the target', () => {
    const holders = new Map<string, RowHolder>([['1', { sourceEntity: 'KpiActual', sourceId: 'z', lastRunId: '4' }]]);
    const { winners, losers } = resolveIdConflicts([record('KpiMilestone', 'a', ['1']), record('KpiActual', 'z', ['1', '9'])], holders);
    expect(winners).toEqual([1]);
    expect(losers).toEqual([{ record: 0, rowId: '1', message: expect.stringContaining('already belongs to KpiActual z (last written by run 4)') }]);
  });

  it('keeps one of two copies of the same record, chosen by content, not by order', () => {
    const copies = [record('KpiActual', 'a', ['1'], 'B'), record('KpiActual', 'a', ['1'], 'A')];
    expect(resolveIdConflicts(copies, new Map()).winners).toEqual([1]);
    expect(resolveIdConflicts([copies[1]!, copies[0]!], new Map()).winners).toEqual([0]);
  });

  it('does not depend on the order of the batch (property)', () => {
    const claim = fc.record({
      sourceEntity: fc.constantFrom('KpiMilestone' as const, 'KpiActual' as const, 'KpiReading' as const),
      sourceId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      rowIds: fc.uniqueArray(fc.constantFrom('1', '2', '3', '4', '5'), { minLength: 1, maxLength: 3 }),
      content: fc.constantFrom('x', 'y'),
    });
    fc.assert(
      fc.property(fc.array(claim, { maxLength: 8 }).chain((claims) => fc.tuple(fc.constant(claims), fc.shuffledSubarray(claims.map((_, i) => i), { minLength: claims.length, maxLength: claims.length }))), ([claims, order]) => {
        // Two copies of one item map to the same rows: the rows are part of what the content decides.
        const asRecords = claims.map((c) => record(c.sourceEntity, c.sourceId, c.rowIds, `${c.content}/${c.rowIds.join()}`));
        const winnersOf = (records: ClaimingRecord[]) => resolveIdConflicts(records, new Map()).winners.map((i) => records[i]!).map((r) => `${r.sourceEntity}/${r.sourceId}/${r.contentKey()}/${r.rowIds.join()}`).sort();
        expect(winnersOf(order.map((i) => asRecords[i]!))).toEqual(winnersOf(asRecords));
      }),
      { numRuns: 300 },
    );
  });
});

describe('canonicalUuid', () => {
  it('accepts the spellings PostgreSQL accepts and writes them as it stores them', () => {
    const canonical = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    for (const spelling of [canonical, canonical.toUpperCase(), `{${canonical}}`, canonical.replaceAll('-', ''), 'a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11']) {
      expect(canonicalUuid(spelling)).toBe(canonical);
    }
    expect(canonicalUuid('not-a-uuid')).toBeUndefined();
    expect(canonicalUuid('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1')).toBeUndefined();
  });
});
