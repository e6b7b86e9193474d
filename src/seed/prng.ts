/**
 * The generator's own randomness: a seeded PRNG per record, so any record of any table can be
 * rebuilt on its own (streaming, random access for id conflicts) and a seed always gives the
 * same data. Never Math.random.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [min, max]. */
  between(min: number, max: number): number;
  chance(probability: number): boolean;
  pick<T>(values: readonly T[]): T;
  /** Picks by relative weight: `[[value, weight], …]`. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T;
  /** `count` decimal digits, the first one not zero when `leadingNonZero`. */
  digits(count: number, leadingNonZero?: boolean): string;
  hex(count: number): string;
}

export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const rng: Rng = {
    next,
    int,
    between: (min, max) => min + int(max - min + 1),
    chance: (probability) => next() < probability,
    pick<T>(values: readonly T[]): T {
      if (values.length === 0) throw new RangeError('pick from an empty list');
      return values[int(values.length)] as T;
    },
    weighted<T>(choices: readonly (readonly [T, number])[]): T {
      let roll = next() * totalWeight(choices);
      for (const [value, weight] of choices) {
        roll -= weight;
        if (roll < 0) return value;
      }
      return (choices[choices.length - 1] as readonly [T, number])[0];
    },
    digits(count, leadingNonZero = false) {
      let out = '';
      for (let i = 0; i < count; i++) out += String(i === 0 && leadingNonZero ? 1 + int(9) : int(10));
      return out;
    },
    hex(count) {
      let out = '';
      while (out.length < count) out += Math.floor(next() * 4294967296).toString(16).padStart(8, '0');
      return out.slice(0, count);
    },
  };
  return rng;
}

const totals = new WeakMap<object, number>();
function totalWeight(choices: readonly (readonly [unknown, number])[]): number {
  let total = totals.get(choices);
  if (total === undefined) {
    total = choices.reduce((sum, [, weight]) => sum + weight, 0);
    totals.set(choices, total);
  }
  return total;
}

/** A 32-bit seed from any labels (FNV-1a, then a murmur finaliser so near labels diverge). */
export function hashSeed(...parts: readonly (string | number)[]): number {
  let h = 0x811c9dc5;
  const text = parts.join('\u001f');
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function rngFor(...parts: readonly (string | number)[]): Rng {
  return mulberry32(hashSeed(...parts));
}

/** A random (version 4) GUID in canonical form: lowercase, no braces. */
export function randomGuid(rng: Rng): string {
  const hex = rng.hex(32);
  const variant = (8 + rng.int(4)).toString(16);
  // join() gives one flat string; a template of slices would keep a rope of nine pieces alive per GUID.
  return [hex.slice(0, 8), hex.slice(8, 12), `4${hex.slice(13, 16)}`, `${variant}${hex.slice(17, 20)}`, hex.slice(20, 32)].join('-');
}
