import { describe, expect, it } from 'vitest';
import { positionFromJsonb, positionToJsonb, storableItemJson, storableJson, storableText } from '../../src/load/jsonb-text.js';
import { LegacyNumber } from '../../src/model/legacy-value.js';

describe('jsonb-safe text', () => {
  it('spells out U+0000 and unpaired surrogates, and leaves everything else', () => {
    expect(storableText('a\u0000b')).toBe('a\\u0000b');
    expect(storableText('x\uD800y\uDFFFz')).toBe('x\\ud800y\\udfffz');
    expect(storableText('🎉 é \\u0000 as text')).toBe('🎉 é \\u0000 as text');
  });

  it('stores an item exactly when it can, and says what it had to change when not', () => {
    expect(storableItemJson({ Id: 'x', N: new LegacyNumber('1.50') })).toEqual({ json: '{"Id":"x","N":1.50}', adjustments: [] });
    const adjusted = storableItemJson({ 'Key\u0000': ['a\u0000'], N: new LegacyNumber('+5') });
    expect(adjusted.json).toBe('{"Key\\\\u0000":["a\\\\u0000"],"N":"+5"}');
    expect(adjusted.adjustments).toHaveLength(2);
  });

  it('writes any value as storable JSON', () => {
    expect(storableJson({ m: 'nul\u0000', n: 10n })).toBe('{"m":"nul\\\\u0000","n":"10"}');
    expect(storableJson(undefined)).toBe('null');
  });

  it('round-trips positions, wrapping only those jsonb would refuse', () => {
    for (const position of [{ Id: { S: 'plain' } }, { Id: { S: 'has \u0000 nul' } }, { text: 'literal \\u0000 text' }, { lone: '\uDC00' }]) {
      expect(positionFromJsonb(positionToJsonb(position))).toEqual(position);
    }
    expect(positionToJsonb({ a: 1 })).toBe('{"a":1}');
    expect(positionFromJsonb(positionToJsonb(null))).toBeNull();
    expect(positionFromJsonb(null)).toBeNull();
    expect(() => positionToJsonb({ big: 1n })).toThrow(TypeError);
  });
});
