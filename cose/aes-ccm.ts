/**
 * AES-CCM (RFC 3610, NIST SP 800-38C) for the portable provider: @noble/ciphers has no CCM, so we
 * compose it from the AES forward cipher (aes-block.ts: a 256-byte S-box instead of noble's 1.3 MB
 * of tables built at import, which no small part has room for). COSE uses it in RFC 9053 §4.2,
 * OSCORE in RFC 8613 §3.2.1. test/aes-ccm.test.ts checks it against OpenSSL (node:crypto).
 */
import { aesEncryptBlock, expandAesKey } from './aes-block.js';
import { constantTimeEqual } from './bytes.js';

const BLOCK = 16;

function checkParams(key: Uint8Array, nonce: Uint8Array, tagLength: number): number {
  if (![16, 24, 32].includes(key.length)) throw new RangeError('AES-CCM: key must be 16, 24 or 32 bytes');
  if (nonce.length < 7 || nonce.length > 13) throw new RangeError('AES-CCM: nonce must be 7 to 13 bytes');
  if (tagLength < 4 || tagLength > 16 || tagLength % 2 !== 0) throw new RangeError('AES-CCM: bad tag length');
  return 15 - nonce.length; // L, the size of the length field
}

/** RFC 3610 §2.2: AAD length encoding (2, 6 or 10 bytes; none without AAD). */
function aadLengthField(n: number): number[] {
  if (n === 0) return [];
  if (n < 0xff00) return [n >> 8, n & 0xff];
  if (n <= 0xffffffff) return [0xff, 0xfe, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  throw new RangeError('AES-CCM: AAD too long');
}

/** RFC 3610 §2.2: CBC-MAC (zero IV) over B0 ‖ encoded AAD ‖ message, each zero-padded to the block size. */
function cbcMac(roundKeys: Uint8Array, nonce: Uint8Array, aad: Uint8Array, message: Uint8Array, tagLength: number, l: number): Uint8Array {
  if (l < 8 && message.length >= 2 ** (8 * l)) throw new RangeError('AES-CCM: message too long for this nonce size');
  const x = new Uint8Array(BLOCK);
  x[0] = (aad.length > 0 ? 0x40 : 0) | (((tagLength - 2) / 2) << 3) | (l - 1);
  x.set(nonce, 1);
  let len = message.length;
  for (let i = 15; i > 15 - l; i--) {
    x[i] = len & 0xff;
    len = Math.floor(len / 256);
  }
  aesEncryptBlock(roundKeys, x);
  // The AAD with its length field, as one zero-padded run of blocks, then the message likewise.
  const header = aadLengthField(aad.length);
  const aadRun = header.length + aad.length;
  let at = 0;
  while (at < aadRun) {
    for (let j = 0; j < BLOCK && at < aadRun; j++, at++) x[j]! ^= at < header.length ? header[at]! : aad[at - header.length]!;
    aesEncryptBlock(roundKeys, x);
  }
  for (let i = 0; i < message.length; i += BLOCK) {
    for (let j = 0; j < BLOCK && i + j < message.length; j++) x[j]! ^= message[i + j]!;
    aesEncryptBlock(roundKeys, x);
  }
  return x.subarray(0, tagLength);
}

/** S_i = E(A_i), A_i = flags ‖ nonce ‖ counter i in the last L bytes (RFC 3610 §2.3). */
function keystreamBlock(roundKeys: Uint8Array, nonce: Uint8Array, l: number, i: number): Uint8Array {
  const a = new Uint8Array(BLOCK);
  a[0] = l - 1;
  a.set(nonce, 1);
  for (let k = 15, n = i; k > 15 - l && n > 0; k--, n = Math.floor(n / 256)) a[k] = n & 0xff;
  aesEncryptBlock(roundKeys, a);
  return a;
}

/** CTR mode from counter 1 (§2.3); its own inverse. */
function ctr(roundKeys: Uint8Array, nonce: Uint8Array, l: number, input: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length);
  for (let i = 0; i < input.length; i += BLOCK) {
    const s = keystreamBlock(roundKeys, nonce, l, i / BLOCK + 1);
    for (let j = 0; j < BLOCK && i + j < input.length; j++) out[i + j] = input[i + j]! ^ s[j]!;
  }
  return out;
}

export function aesCcmEncrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagLength: number): Uint8Array {
  const l = checkParams(key, nonce, tagLength);
  const roundKeys = expandAesKey(key);
  const tag = cbcMac(roundKeys, nonce, aad, plaintext, tagLength, l);
  const s0 = keystreamBlock(roundKeys, nonce, l, 0);
  const out = new Uint8Array(plaintext.length + tagLength);
  out.set(ctr(roundKeys, nonce, l, plaintext));
  for (let i = 0; i < tagLength; i++) out[plaintext.length + i] = tag[i]! ^ s0[i]!;
  return out;
}

export function aesCcmDecrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tagLength: number): Uint8Array | null {
  const l = checkParams(key, nonce, tagLength);
  if (sealed.length < tagLength) return null;
  const roundKeys = expandAesKey(key);
  const body = sealed.subarray(0, sealed.length - tagLength);
  const plaintext = ctr(roundKeys, nonce, l, body);
  const s0 = keystreamBlock(roundKeys, nonce, l, 0);
  const expected = cbcMac(roundKeys, nonce, aad, plaintext, tagLength, l);
  const received = sealed.subarray(sealed.length - tagLength);
  const tag = new Uint8Array(tagLength);
  for (let i = 0; i < tagLength; i++) tag[i] = received[i]! ^ s0[i]!;
  if (!constantTimeEqual(tag, expected)) {
    plaintext.fill(0); // release nothing unauthenticated
    return null;
  }
  return plaintext;
}
