/**
 * PostgreSQL's hashtextextended(text, 0) in JavaScript: hash_bytes_extended (src/common/hashfn.c,
 * Bob Jenkins' lookup3) over the text's UTF-8 bytes, as a little-endian server computes it (a
 * big-endian one reads the words the other way: rowHashOf asks the server first).
 * Its 64 bits are left in `out` as two unsigned 32-bit halves, [high, low].
 */
export function hashTextExtended(text: string, out: Uint32Array): void {
  let bytes = scratch;
  if (text.length * 3 > bytes.length) bytes = scratch = new Uint8Array(text.length * 3);
  const length = encoder.encodeInto(text, bytes).written;
  let a = (0x9e3779b9 + length + 3923095) | 0;
  let b = a;
  let c = a;
  let at = 0;
  let left = length;
  while (left >= 12) {
    a = (a + word(bytes, at)) | 0;
    b = (b + word(bytes, at + 4)) | 0;
    c = (c + word(bytes, at + 8)) | 0;
    // mix(a, b, c)
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    at += 12;
    left -= 12;
  }
  // The last 0–11 bytes, as the switch of hash_bytes_extended adds them (the lowest byte of c is
  // lookup3's, for the length).
  if (left >= 9) {
    c = (c + (bytes[at + 8]! << 8)) | 0;
    if (left >= 10) c = (c + (bytes[at + 9]! << 16)) | 0;
    if (left >= 11) c = (c + (bytes[at + 10]! << 24)) | 0;
  }
  if (left >= 8) {
    b = (b + word(bytes, at + 4)) | 0;
    a = (a + word(bytes, at)) | 0;
  } else if (left >= 4) {
    if (left >= 5) b = (b + bytes[at + 4]!) | 0;
    if (left >= 6) b = (b + (bytes[at + 5]! << 8)) | 0;
    if (left >= 7) b = (b + (bytes[at + 6]! << 16)) | 0;
    a = (a + word(bytes, at)) | 0;
  } else {
    if (left >= 1) a = (a + bytes[at]!) | 0;
    if (left >= 2) a = (a + (bytes[at + 1]! << 8)) | 0;
    if (left >= 3) a = (a + (bytes[at + 2]! << 16)) | 0;
  }
  // final(a, b, c)
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  out[0] = b;
  out[1] = c;
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(4096);

function word(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

function rot(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
