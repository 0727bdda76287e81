/**
 * The verify-only device's Ed25519 (device/compact-ed25519.ts: @noble/ed25519 with our
 * table-free, one-pass verification) against OpenSSL's (the native provider, an implementation
 * that shares no code with it) on random keys and messages, honest and with one bit flipped in
 * the signature, the message or the key. test/hostile-keys.test.ts holds it to the crafted cases
 * (small order, torsion, non-canonical encodings).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { verifyOnlyProvider } from '../device/verify-only.js';

const flip = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = bytes.slice();
  out[(bit >> 3) % out.length]! ^= 1 << (bit & 7);
  return out;
};

describe('the verify-only Ed25519 agrees with OpenSSL', () => {
  const keys = Array.from({ length: 8 }, () => nativeProvider.generateKeyPair('Ed25519'));

  it('on honest signatures, and on one flipped bit of the signature, the message or the key', () => {
    fc.assert(
      fc.property(fc.nat(keys.length - 1), fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.constantFrom('none', 'signature', 'message', 'key'), fc.nat(4095), (which, msg, where, bit) => {
        const pair = keys[which]!;
        const priv: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: pair.x, d: pair.d };
        const signature = nativeProvider.sign(priv, undefined, msg);
        const pub: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: where === 'key' ? flip(pair.x, bit) : pair.x };
        const sig = where === 'signature' ? flip(signature, bit) : signature;
        const message = where === 'message' && msg.length > 0 ? flip(msg, bit) : msg;
        const expected = nativeProvider.verify(pub, undefined, message, sig);
        expect(verifyOnlyProvider.verify(pub, undefined, message, sig)).toBe(expected);
        if (where === 'none' || (where === 'message' && msg.length === 0)) expect(expected).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('signs what OpenSSL verifies (its keys come from the host\'s randomness)', () => {
    const pair = verifyOnlyProvider.generateKeyPair('Ed25519');
    const msg = new Uint8Array([1, 2, 3]);
    const signature = verifyOnlyProvider.sign({ kty: 'OKP', crv: 'Ed25519', x: pair.x, d: pair.d }, undefined, msg);
    expect(nativeProvider.verify({ kty: 'OKP', crv: 'Ed25519', x: pair.x }, undefined, msg, signature)).toBe(true);
  });
});
