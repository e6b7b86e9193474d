/**
 * SHA-1 (FIPS 180-4) of `length` bytes of `message`, its 20 bytes written to `out` at `at`.
 *
 * A v5 row id hashes about a hundred bytes. Node's one-shot crypto.hash took ~3.6 µs a call in
 * the profiles of a run and of validate (the binding, and OpenSSL fetching the digest each time),
 * more than the two 64-byte blocks themselves; done here, with no allocation, it takes well under one.
 */
export function sha1Into(message: Uint8Array, length: number, out: Uint8Array, at = 0): void {
  let h0 = 0x67452301;
  let h1 = 0xefcdab89 | 0;
  let h2 = 0x98badcfe | 0;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0 | 0;
  // The message, the byte 0x80, zeros, and the length in bits as the last 8 bytes of the last block.
  const blocks = ((length + 8) >>> 6) + 1;
  const words = SCHEDULE;
  for (let block = 0; block < blocks; block++) {
    const base = block << 6;
    for (let word = 0; word < 16; word++) {
      const start = base + (word << 2);
      let value = 0;
      if (start + 3 < length) {
        value = (message[start]! << 24) | (message[start + 1]! << 16) | (message[start + 2]! << 8) | message[start + 3]!;
      } else {
        for (let byte = start; byte < start + 4; byte++) value = (value << 8) | (byte < length ? message[byte]! : byte === length ? 0x80 : 0);
      }
      words[word] = value;
    }
    if (block === blocks - 1) {
      words[14] = Math.floor(length / 0x20000000);
      words[15] = length << 3;
    }
    for (let t = 16; t < 80; t++) {
      const x = words[t - 3]! ^ words[t - 8]! ^ words[t - 14]! ^ words[t - 16]!;
      words[t] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let t = 0; t < 80; t++) {
      let f: number;
      let k: number;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const next = (((a << 5) | (a >>> 27)) + f + e + k + words[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  writeWord(out, at, h0);
  writeWord(out, at + 4, h1);
  writeWord(out, at + 8, h2);
  writeWord(out, at + 12, h3);
  writeWord(out, at + 16, h4);
}

const SCHEDULE = new Int32Array(80);

function writeWord(out: Uint8Array, at: number, word: number): void {
  out[at] = word >>> 24;
  out[at + 1] = (word >>> 16) & 0xff;
  out[at + 2] = (word >>> 8) & 0xff;
  out[at + 3] = word & 0xff;
}
