/**
 * Compact keys for the in-memory lookups and link index, which grow with the data: a canonical
 * GUID is kept as four 32-bit words (16 bytes) in typed arrays instead of a 36-character string
 * (about 56 bytes) plus a Map entry. Pure data structures, no I/O.
 */
import { detachedText } from '../model/dynamodb-json.js';

const DASH_AT = [8, 13, 18, 23];

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/**
 * Writes a canonical GUID (36 characters, lowercase hex, hyphens at 8-13-18-23) as four words
 * at `words[at..at+3]`; false, and nothing written, for any other text.
 */
export function guidToWords(text: string, words: Uint32Array, at: number): boolean {
  if (text.length !== 36) return false;
  for (const dash of DASH_AT) if (text.charCodeAt(dash) !== 45) return false;
  const w0 = hexWord(text, 0, 8);
  const w1 = hexWord(text, 9, 13) * 65536 + hexWord(text, 14, 18);
  const w2 = hexWord(text, 19, 23) * 65536 + hexWord(text, 24, 28);
  const w3 = hexWord(text, 28, 36);
  if (w0 < 0 || w1 < 0 || w2 < 0 || w3 < 0) return false;
  words[at] = w0;
  words[at + 1] = w1;
  words[at + 2] = w2;
  words[at + 3] = w3;
  return true;
}

/** The hex digits text[from..to) as a number; -Infinity when one is not a lowercase hex digit. */
function hexWord(text: string, from: number, to: number): number {
  let word = 0;
  for (let i = from; i < to; i++) {
    const value = hexValue(text.charCodeAt(i));
    if (value < 0) return -Infinity;
    word = word * 16 + value;
  }
  return word;
}

const HEX_DIGIT = Buffer.from('0123456789abcdef', 'latin1');
/** Where each of the 32 hex digits of a GUID goes in its 36 characters. */
const DIGIT_AT = Array.from({ length: 32 }, (_, digit) => digit + (digit >= 20 ? 4 : digit >= 16 ? 3 : digit >= 12 ? 2 : digit >= 8 ? 1 : 0));
const GUID_TEXT = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

/**
 * The canonical text of the 16 bytes at `bytes[at..at+15]` as a GUID. Written into one scratch
 * buffer and read out as one flat string: concatenated pieces would leave a rope per GUID.
 */
export function bytesToGuid(bytes: Uint8Array, at: number): string {
  for (let byte = 0; byte < 16; byte++) {
    const value = bytes[at + byte]!;
    GUID_TEXT[DIGIT_AT[2 * byte]!] = HEX_DIGIT[value >>> 4]!;
    GUID_TEXT[DIGIT_AT[2 * byte + 1]!] = HEX_DIGIT[value & 0x0f]!;
  }
  return GUID_TEXT.toString('latin1');
}

const WORD_BYTES = new Uint8Array(16);

/** The canonical text of the GUID at `words[at..at+3]`. */
export function wordsToGuid(words: Uint32Array, at: number): string {
  for (let w = 0; w < 4; w++) {
    const word = words[at + w]!;
    WORD_BYTES[4 * w] = word >>> 24;
    WORD_BYTES[4 * w + 1] = (word >>> 16) & 0xff;
    WORD_BYTES[4 * w + 2] = (word >>> 8) & 0xff;
    WORD_BYTES[4 * w + 3] = word & 0xff;
  }
  return bytesToGuid(WORD_BYTES, 0);
}

/** Orders two GUIDs as their canonical texts order (fixed-width lowercase hex: numerically). */
export function compareGuidWords(a: Uint32Array, at: number, b: Uint32Array, bt: number): number {
  for (let w = 0; w < 4; w++) {
    const x = a[at + w]!;
    const y = b[bt + w]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function grown<T extends Uint32Array | Int32Array | Uint8Array>(array: T, length: number): T {
  if (array.length >= length) return array;
  const bigger = new (array.constructor as new (length: number) => T)(Math.max(length, array.length * 2));
  bigger.set(array);
  return bigger;
}

export { grown as grownArray };

const KEY_WORDS = 5;
const EMPTY = 0;

/** A ScopedGuidTable's contents as plain data (typed arrays and Maps), which structured clone carries to another thread as they are. */
export interface ScopedGuidTableWire {
  scopes: Map<string, number>;
  keys: Uint32Array<ArrayBuffer>;
  slots: Int32Array<ArrayBuffer>;
  size: number;
  unusual: Map<string, number>;
}

/**
 * (scope, GUID) → a dense entry number (0, 1, 2… in insertion order), for callers that keep
 * their values in parallel typed arrays. A scope is any string (a tenant id): scopes are few and
 * numbered once. Memory per entry: 20 bytes of key and about 8 bytes of slots. Keys that are
 * not canonical GUIDs still work, through an ordinary Map (the transform canonicalises ids, so
 * there are none in practice).
 */
export class ScopedGuidTable {
  readonly #scopes = new Map<string, number>();
  #keys = new Uint32Array(KEY_WORDS * 1024);
  /** Entry number + 1 per slot; 0 is an empty slot. Open addressing, linear probing, ≤ 50% full. */
  #slots = new Int32Array(2048);
  #size = 0;
  readonly #unusual = new Map<string, number>();
  readonly #probe = new Uint32Array(4);

  get size(): number {
    return this.#size;
  }

  /** Its contents, copied: the keys in use, the slots as they are. */
  toWire(): ScopedGuidTableWire {
    return { scopes: new Map(this.#scopes), keys: this.#keys.slice(0, this.#size * KEY_WORDS), slots: this.#slots.slice(), size: this.#size, unusual: new Map(this.#unusual) };
  }

  /** The table toWire gave, the same entry for every (scope, guid), and able to grow again. */
  static fromWire(wire: ScopedGuidTableWire): ScopedGuidTable {
    const table = new ScopedGuidTable();
    for (const [scope, number] of wire.scopes) table.#scopes.set(scope, number);
    for (const [key, entry] of wire.unusual) table.#unusual.set(key, entry);
    table.#keys = wire.keys;
    table.#slots = wire.slots;
    table.#size = wire.size;
    return table;
  }

  /** The entry of (scope, guid), or -1. */
  find(scope: string, guid: string): number {
    const scopeNumber = this.#scopes.get(scope);
    if (scopeNumber === undefined) return -1;
    if (!guidToWords(guid, this.#probe, 0)) return this.#unusual.get(`${scopeNumber}\u0000${guid}`) ?? -1;
    const slot = this.#slotOf(scopeNumber, this.#probe);
    const entry = this.#slots[slot]!;
    return entry === EMPTY ? -1 : entry - 1;
  }

  /** The entry of (scope, guid), made if it was not there: `created` says which. */
  insert(scope: string, guid: string): { entry: number; created: boolean } {
    let scopeNumber = this.#scopes.get(scope);
    if (scopeNumber === undefined) {
      scopeNumber = this.#scopes.size;
      this.#scopes.set(detachedText(scope), scopeNumber);
    }
    if (!guidToWords(guid, this.#probe, 0)) {
      const key = `${scopeNumber}\u0000${guid}`;
      const known = this.#unusual.get(key);
      if (known !== undefined) return { entry: known, created: false };
      const entry = this.#newEntry(scopeNumber);
      this.#unusual.set(detachedText(key), entry);
      return { entry, created: true };
    }
    let slot = this.#slotOf(scopeNumber, this.#probe);
    const known = this.#slots[slot]!;
    if (known !== EMPTY) return { entry: known - 1, created: false };
    const entry = this.#newEntry(scopeNumber);
    this.#keys.set(this.#probe, entry * KEY_WORDS + 1);
    if (2 * (this.#size - this.#unusual.size) > this.#slots.length) {
      this.#rehash(this.#slots.length * 2);
      slot = this.#slotOf(scopeNumber, this.#probe);
    }
    this.#slots[slot] = entry + 1;
    return { entry, created: true };
  }

  #newEntry(scopeNumber: number): number {
    const entry = this.#size++;
    this.#keys = grown(this.#keys, (entry + 1) * KEY_WORDS);
    this.#keys[entry * KEY_WORDS] = scopeNumber;
    return entry;
  }

  #hash(scopeNumber: number, words: Uint32Array, at: number): number {
    let h = Math.imul(scopeNumber ^ 0x9e3779b9, 0x85ebca6b);
    for (let w = 0; w < 4; w++) h = Math.imul(h ^ words[at + w]!, 0xc2b2ae35) ^ (h >>> 15);
    return (h ^ (h >>> 13)) >>> 0;
  }

  /** The slot holding (scope, words), or the empty slot where it would go. */
  #slotOf(scopeNumber: number, words: Uint32Array): number {
    const mask = this.#slots.length - 1;
    for (let slot = this.#hash(scopeNumber, words, 0) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.#slots[slot]!;
      if (entry === EMPTY) return slot;
      const at = (entry - 1) * KEY_WORDS;
      const keys = this.#keys;
      if (keys[at] === scopeNumber && keys[at + 1] === words[0] && keys[at + 2] === words[1] && keys[at + 3] === words[2] && keys[at + 4] === words[3]) {
        return slot;
      }
    }
  }

  #rehash(capacity: number): void {
    const old = this.#slots;
    this.#slots = new Int32Array(capacity);
    const mask = capacity - 1;
    for (const entry of old) {
      if (entry === EMPTY) continue;
      const at = (entry - 1) * KEY_WORDS;
      let slot = this.#hash(this.#keys[at]!, this.#keys, at + 1) & mask;
      while (this.#slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.#slots[slot] = entry;
    }
  }
}
