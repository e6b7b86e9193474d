import { describe, expect, it } from 'vitest';
import { ConflictLosers } from '../../src/pipeline/sync-state.js';

describe('ConflictLosers: the id_conflict losers a sync batch re-derives, by the row ids they claim', () => {
  it('finds the losers claiming any of the ids, each once', () => {
    const losers = new ConflictLosers<string>();
    losers.set('a', 'A', ['1', '2']);
    losers.set('b', 'B', ['2']);
    losers.set('c', 'C', ['9']);
    expect(losers.at(['2', '1']).sort()).toEqual(['A', 'B']);
    expect(losers.at(['3'])).toEqual([]);
  });

  it('forgets a record that won, and moves one whose claim changed', () => {
    const losers = new ConflictLosers<string>();
    losers.set('a', 'A', ['1']);
    losers.set('b', 'B', ['1']);
    losers.set('a', 'A', undefined);
    losers.set('b', 'B', ['5']);
    expect(losers.at(['1'])).toEqual([]);
    expect(losers.at(['5'])).toEqual(['B']);
  });
});
