/**
 * The AES forward cipher (FIPS 197), byte by byte, for AES-CCM on devices. Why not noble's AES:
 * @noble/ciphers/aes.js builds four 64 Ki-entry lookup tables when it is imported (~1.3 MB of
 * typed arrays), which alone is more RAM than an nRF52840-class part has; this one keeps a 256-byte
 * S-box. CCM needs only the forward direction (RFC 3610 §2: CBC-MAC and CTR both encrypt), so
 * there is no inverse cipher. Like any table-indexed AES in JavaScript it is not constant-time
 * with respect to cache timing (SECURITY.md says what we do not promise).
 */

/** FIPS 197 §5.1.1: the multiplicative inverse in GF(2^8) followed by the affine map, built at import (256 bytes). */
const SBOX = /* @__PURE__ */ (() => {
  const sbox = new Uint8Array(256);
  const rotl = (x: number, n: number) => ((x << n) | (x >> (8 - n))) & 0xff;
  let p = 1;
  let q = 1;
  // p walks the powers of the generator 3; q walks the powers of its inverse, so q = p^-1.
  do {
    p = (p ^ ((p << 1) & 0xff) ^ (p & 0x80 ? 0x1b : 0)) & 0xff;
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    sbox[p] = q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4) ^ 0x63;
  } while (p !== 1);
  sbox[0] = 0x63; // 0 has no inverse: the affine map of 0
  return sbox;
})();

/** Multiplication by x in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS 197 §4.2.1). */
function xtime(b: number): number {
  return ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff;
}

/** FIPS 197 §5.2 key expansion: 16 × (rounds + 1) bytes of round keys, for 128-, 192- and 256-bit keys. */
export function expandAesKey(key: Uint8Array): Uint8Array {
  const nk = key.length / 4;
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError('AES: key must be 16, 24 or 32 bytes');
  const rounds = nk + 6;
  const w = new Uint8Array(16 * (rounds + 1));
  w.set(key);
  let rcon = 1;
  for (let i = nk; i < 4 * (rounds + 1); i++) {
    let t0 = w[4 * i - 4]!;
    let t1 = w[4 * i - 3]!;
    let t2 = w[4 * i - 2]!;
    let t3 = w[4 * i - 1]!;
    if (i % nk === 0) {
      // RotWord, SubWord, Rcon
      const first = t0;
      t0 = SBOX[t1]! ^ rcon;
      t1 = SBOX[t2]!;
      t2 = SBOX[t3]!;
      t3 = SBOX[first]!;
      rcon = xtime(rcon);
    } else if (nk > 6 && i % nk === 4) {
      t0 = SBOX[t0]!;
      t1 = SBOX[t1]!;
      t2 = SBOX[t2]!;
      t3 = SBOX[t3]!;
    }
    const j = 4 * (i - nk);
    w[4 * i] = w[j]! ^ t0;
    w[4 * i + 1] = w[j + 1]! ^ t1;
    w[4 * i + 2] = w[j + 2]! ^ t2;
    w[4 * i + 3] = w[j + 3]! ^ t3;
  }
  return w;
}

/** Encrypts one 16-byte block in place with expanded round keys (FIPS 197 §5.1). */
export function aesEncryptBlock(roundKeys: Uint8Array, block: Uint8Array): void {
  const rounds = roundKeys.length / 16 - 1;
  const s = block;
  for (let i = 0; i < 16; i++) s[i]! ^= roundKeys[i]!;
  for (let round = 1; round <= rounds; round++) {
    // SubBytes and ShiftRows together: row r moves left by r (the state is column-major).
    const t = new Uint8Array(16);
    for (let c = 0; c < 4; c++) {
      for (let r = 0; r < 4; r++) t[4 * c + r] = SBOX[s[4 * ((c + r) % 4) + r]!]!;
    }
    if (round < rounds) {
      // MixColumns (§5.1.3): each column times {03}x^3 + {01}x^2 + {01}x + {02}.
      for (let c = 0; c < 4; c++) {
        const a0 = t[4 * c]!;
        const a1 = t[4 * c + 1]!;
        const a2 = t[4 * c + 2]!;
        const a3 = t[4 * c + 3]!;
        const all = a0 ^ a1 ^ a2 ^ a3;
        t[4 * c] = a0 ^ all ^ xtime(a0 ^ a1);
        t[4 * c + 1] = a1 ^ all ^ xtime(a1 ^ a2);
        t[4 * c + 2] = a2 ^ all ^ xtime(a2 ^ a3);
        t[4 * c + 3] = a3 ^ all ^ xtime(a3 ^ a0);
      }
    }
    const k = 16 * round;
    for (let i = 0; i < 16; i++) s[i] = t[i]! ^ roundKeys[k + i]!;
  }
}
