import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MigratedEntity } from '../../src/model/entities.js';
import { SampleChooser } from '../../src/validate/samples.js';

const records = fc.uniqueArray(
  fc.record({ entity: fc.constantFrom<MigratedEntity>('GoalKpiLink', 'KpiMilestone', 'KpiActual', 'KpiReading'), sourceId: fc.uuid() }),
  { selector: (r) => `${r.entity} ${r.sourceId}`, minLength: 0, maxLength: 300 },
);

function choose(size: number, seed: number, offered: readonly { entity: MigratedEntity; sourceId: string }[]) {
  const chooser = new SampleChooser(size, seed);
  for (const record of offered) chooser.offer(record.entity, record.sourceId);
  return chooser.chosen();
}

describe('the sample of a validation', () => {
  it('depends on the seed and the records only, not on the order a parallel scan returns them in', () => {
    fc.assert(
      fc.property(records, fc.integer({ min: 0, max: 60 }), fc.integer(), (offered, size, seed) => {
        const forward = choose(size, seed, offered);
        const backward = choose(size, seed, [...offered].reverse());
        expect(backward).toEqual(forward);
        expect(forward).toHaveLength(Math.min(size, offered.length));
        expect(new Set(forward.map((r) => `${r.entity} ${r.sourceId}`)).size).toBe(forward.length);
      }),
    );
  });

  it('is the first records of the whole ordering, however many were passed over on the way', () => {
    const many = fc.array(fc.record({ entity: fc.constantFrom<MigratedEntity>('KpiActual', 'KpiReading'), sourceId: fc.integer({ min: 0, max: 2000 }).map((n) => `id-${n}`) }), { maxLength: 3000 });
    fc.assert(
      fc.property(many, fc.integer({ min: 1, max: 40 }), fc.integer(), (offered, size, seed) => {
        // Sized for everything, the chooser trims only once, at the end: the whole ordering.
        const whole = choose(offered.length + 1, seed, offered);
        expect(choose(size, seed, offered)).toEqual(whole.slice(0, size));
      }),
      { numRuns: 60 },
    );
  });

  it('holds no record that a chooser of some of the records says it could no longer choose', () => {
    fc.assert(
      fc.property(records, fc.integer({ min: 0, max: 60 }), fc.integer(), fc.integer({ min: 0, max: 300 }), (offered, size, seed, split) => {
        const some = new SampleChooser(size, seed);
        for (const record of offered.slice(0, split)) some.offer(record.entity, record.sourceId);
        const whole = choose(size, seed, offered);
        for (const entity of ['GoalKpiLink', 'KpiMilestone', 'KpiActual', 'KpiReading'] as const) {
          const could = some.couldChoose(entity);
          // Holding fewer than its size, it could still choose any record.
          if (could === undefined) {
            expect(size > 0 && Math.min(split, offered.length) < size).toBe(true);
            continue;
          }
          for (const record of whole) if (record.entity === entity) expect(could(record.sourceId)).toBe(true);
          // And it is a bound, not a yes to everything: past its size, most records are out.
          if (size === 0) expect(offered.some((record) => could(record.sourceId))).toBe(false);
        }
      }),
    );
  });

  it('takes a record read twice once, and another seed draws another sample', () => {
    const offered = Array.from({ length: 500 }, (_, i) => ({ entity: 'KpiActual' as const, sourceId: `id-${i}` }));
    expect(choose(10, 1, [...offered, ...offered])).toEqual(choose(10, 1, offered));
    expect(choose(10, 2, offered)).not.toEqual(choose(10, 1, offered));
  });
});
