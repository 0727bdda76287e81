/**
 * AES-CCM (RFC 3610, NIST SP 800-38C) for the portable provider: @noble/ciphers has AES but no
 * CCM, so we compose it from noble's CBC (for the CBC-MAC) and CTR modes, which keeps every AES
 * block operation inside the audited library. COSE uses it in RFC 9053 §4.2.
 */
import { cbc, ctr } from '@noble/ciphers/aes.js';
import { concatBytes, constantTimeEqual } from './bytes.js';

const BLOCK = 16;

function checkParams(key: Uint8Array, nonce: Uint8Array, tagLength: number): number {
  if (![16, 24, 32].includes(key.length)) throw new RangeError('AES-CCM: key must be 16, 24 or 32 bytes');
  if (nonce.length < 7 || nonce.length > 13) throw new RangeError('AES-CCM: nonce must be 7 to 13 bytes');
  if (tagLength < 4 || tagLength > 16 || tagLength % 2 !== 0) throw new RangeError('AES-CCM: bad tag length');
  return 15 - nonce.length; // L, the size of the length field
}

/** RFC 3610 §2.2: B0 ‖ encoded AAD ‖ message, each part zero-padded to the block size. */
function cbcMac(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, message: Uint8Array, tagLength: number, l: number): Uint8Array {
  if (l < 8 && message.length >= 2 ** (8 * l)) throw new RangeError('AES-CCM: message too long for this nonce size');
  const b0 = new Uint8Array(BLOCK);
  b0[0] = (aad.length > 0 ? 0x40 : 0) | (((tagLength - 2) / 2) << 3) | (l - 1);
  b0.set(nonce, 1);
  let len = message.length;
  for (let i = 15; i > 15 - l; i--) {
    b0[i] = len & 0xff;
    len = Math.floor(len / 256);
  }
  let aadHeader: Uint8Array;
  if (aad.length === 0) aadHeader = new Uint8Array(0);
  else if (aad.length < 0xff00) aadHeader = new Uint8Array([aad.length >> 8, aad.length & 0xff]);
  else if (aad.length <= 0xffffffff) {
    aadHeader = new Uint8Array([0xff, 0xfe, (aad.length >>> 24) & 0xff, (aad.length >>> 16) & 0xff, (aad.length >>> 8) & 0xff, aad.length & 0xff]);
  } else throw new RangeError('AES-CCM: AAD too long');
  const padTo = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;
  const aadPart = aadHeader.length + aad.length;
  const input = concatBytes(
    b0,
    aadHeader,
    aad,
    new Uint8Array(padTo(aadPart)),
    message,
    new Uint8Array(padTo(message.length)),
  );
  const macChain = cbc(key, new Uint8Array(BLOCK), { disablePadding: true }).encrypt(input);
  return macChain.subarray(macChain.length - BLOCK, macChain.length - BLOCK + tagLength);
}

/** A_i = flags ‖ nonce ‖ counter i (RFC 3610 §2.3). */
function counterBlock(nonce: Uint8Array, l: number, i: number): Uint8Array {
  const a = new Uint8Array(BLOCK);
  a[0] = l - 1;
  a.set(nonce, 1);
  a[15] = i;
  return a;
}

export function aesCcmEncrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagLength: number): Uint8Array {
  const l = checkParams(key, nonce, tagLength);
  const tag = cbcMac(key, nonce, aad, plaintext, tagLength, l);
  const s0 = ctr(key, counterBlock(nonce, l, 0)).encrypt(new Uint8Array(BLOCK));
  const ciphertext = ctr(key, counterBlock(nonce, l, 1)).encrypt(plaintext);
  const out = new Uint8Array(plaintext.length + tagLength);
  out.set(ciphertext);
  for (let i = 0; i < tagLength; i++) out[plaintext.length + i] = tag[i]! ^ s0[i]!;
  return out;
}

export function aesCcmDecrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tagLength: number): Uint8Array | null {
  const l = checkParams(key, nonce, tagLength);
  if (sealed.length < tagLength) return null;
  const body = sealed.subarray(0, sealed.length - tagLength);
  const plaintext = ctr(key, counterBlock(nonce, l, 1)).decrypt(body);
  const s0 = ctr(key, counterBlock(nonce, l, 0)).encrypt(new Uint8Array(BLOCK));
  const expected = cbcMac(key, nonce, aad, plaintext, tagLength, l);
  const received = sealed.subarray(sealed.length - tagLength);
  const tag = new Uint8Array(tagLength);
  for (let i = 0; i < tagLength; i++) tag[i] = received[i]! ^ s0[i]!;
  if (!constantTimeEqual(tag, expected)) {
    plaintext.fill(0); // release nothing unauthenticated
    return null;
  }
  return plaintext;
}
