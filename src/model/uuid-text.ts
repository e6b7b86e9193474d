/**
 * Canonical uuid text (lowercase, hyphenated: what PostgreSQL prints), checked character by
 * character: /^[0-9a-f]{8}-…$/ took ~0.2 µs a value in validate's profile, and ~9 ns a character
 * over a batch's list of row ids.
 */
export function isCanonicalUuid(text: string): boolean {
  return text.length === 36 && canonicalFrom(text, 0);
}

/** Canonical uuids joined by commas (/^uuid(?:,uuid)*$/). */
export function isCanonicalUuidList(text: string): boolean {
  if ((text.length + 1) % 37 !== 0) return false;
  for (let at = 0; at < text.length; at += 37) {
    if (!canonicalFrom(text, at)) return false;
    if (at + 36 < text.length && text.charCodeAt(at + 36) !== COMMA) return false;
  }
  return true;
}

const COMMA = 0x2c;
const HYPHEN = 0x2d;

/** Whether the 36 characters from `start` are a canonical uuid. */
function canonicalFrom(text: string, start: number): boolean {
  for (let column = 0; column < 36; column++) {
    const code = text.charCodeAt(start + column);
    if (column === 8 || column === 13 || column === 18 || column === 23 ? code !== HYPHEN : !((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) return false;
  }
  return true;
}
