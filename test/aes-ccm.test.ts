/**
 * The portable AES-CCM (cose/aes-ccm.ts on cose/aes-block.ts, a table-free AES) against OpenSSL
 * through node:crypto, an implementation that shares no code with it: every key size, every nonce
 * and tag length COSE and OSCORE use, AAD and messages across block and counter boundaries, and
 * the FIPS 197 Appendix C block vectors through the CCM keystream.
 */
import { describe, it, expect } from 'vitest';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { aesCcmDecrypt, aesCcmEncrypt, fromHex, toHex } from '../cose/index.js';

function opensslCcm(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagLength: number): Uint8Array {
  const c = createCipheriv(`aes-${key.length * 8}-ccm` as 'aes-128-ccm', key, nonce, { authTagLength: tagLength });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([body, c.getAuthTag()]));
}

describe('AES-CCM agrees with OpenSSL', () => {
  it('on random keys, nonces, tags, AAD and messages (incl. past 4 KiB, where the counter takes two bytes)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 24, 32),
        fc.integer({ min: 7, max: 13 }),
        fc.constantFrom(4, 6, 8, 10, 12, 14, 16),
        fc.integer({ min: 0, max: 80 }),
        fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 4090, max: 4200 })),
        (keyLen, nonceLen, tagLen, aadLen, msgLen) => {
          const key = new Uint8Array(randomBytes(keyLen));
          const nonce = new Uint8Array(randomBytes(nonceLen));
          const aad = new Uint8Array(randomBytes(aadLen));
          const msg = new Uint8Array(randomBytes(msgLen));
          const sealed = aesCcmEncrypt(key, nonce, aad, msg, tagLen);
          expect(toHex(sealed)).toBe(toHex(opensslCcm(key, nonce, aad, msg, tagLen)));
          expect(aesCcmDecrypt(key, nonce, aad, sealed, tagLen)).toEqual(msg);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses a flipped bit anywhere (tag, body or AAD), releasing nothing', () => {
    const key = new Uint8Array(randomBytes(16));
    const nonce = new Uint8Array(randomBytes(13));
    const aad = new Uint8Array([1, 2, 3]);
    const sealed = aesCcmEncrypt(key, nonce, aad, new Uint8Array(40).fill(7), 8);
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i]! ^= 1;
      expect(aesCcmDecrypt(key, nonce, aad, bad, 8)).toBeNull();
    }
    expect(aesCcmDecrypt(key, nonce, new Uint8Array([1, 2, 4]), sealed, 8)).toBeNull();
    expect(aesCcmDecrypt(key, nonce, aad, sealed.subarray(0, 7), 8)).toBeNull();
  });

  it('RFC 3610 packet vector #1 (AES-128, 13-byte nonce, 8-byte AAD, 8-byte tag)', () => {
    const key = fromHex('c0c1c2c3c4c5c6c7c8c9cacbcccdcecf');
    const nonce = fromHex('00000003020100a0a1a2a3a4a5');
    const packet = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e');
    const sealed = aesCcmEncrypt(key, nonce, packet.subarray(0, 8), packet.subarray(8), 8);
    expect(toHex(sealed)).toBe('588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0');
  });
});
