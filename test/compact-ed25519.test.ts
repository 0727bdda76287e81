/**
 * The verify-only device's Ed25519 (device/compact-ed25519.ts: @noble/ed25519 with our
 * table-free, one-pass verification) against OpenSSL's (the native provider, an implementation
 * that shares no code with it) on random keys and messages, honest and with one bit flipped in
 * the signature, the message or the key. test/hostile-keys.test.ts holds it to the crafted cases
 * (small order, torsion, non-canonical encodings).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 as nobleCurves } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { portableProvider, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { verifyOnlyProvider } from '../device/verify-only.js';
import { errorCode } from './support/error-code.js';

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

  it('refuses to sign or make keys, typed (either would build the library\'s base-point table)', () => {
    const pair = nativeProvider.generateKeyPair('Ed25519');
    expect(errorCode(() => verifyOnlyProvider.generateKeyPair('Ed25519'))).toBe('ERR_COSE_ALG_UNSUPPORTED');
    expect(errorCode(() => verifyOnlyProvider.sign({ kty: 'OKP', crv: 'Ed25519', x: pair.x, d: pair.d }, undefined, new Uint8Array([1])))).toBe('ERR_COSE_ALG_UNSUPPORTED');
  });

  it('on crafted keys and signatures: the key B (scalar 1) and -B, S = 0, R = A, the nonce 1 and L - 1, a 1 MB message', () => {
    const { Point } = nobleCurves;
    const L = Point.Fn.ORDER;
    const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);
    const toLe = (n: bigint) => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse());
    const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
    const challenge = (R: Uint8Array, A: Uint8Array, m: Uint8Array) => Point.Fn.create(le(sha512(cat(R, A, m))));
    // RFC 8032 §5.1.6 with a chosen secret scalar a and nonce r: R = rB, S = r + k·a mod L.
    const signed = (a: bigint, r: bigint, m: Uint8Array) => {
      const A = Point.BASE.multiply(a).toBytes();
      const R = Point.BASE.multiply(r).toBytes();
      return { A, signature: cat(R, toLe(Point.Fn.create(r + challenge(R, A, m) * a))) };
    };
    const short = new Uint8Array([1, 2, 3]);
    const cases: Array<{ A: Uint8Array; signature: Uint8Array; m: Uint8Array; valid: boolean }> = [];
    for (const a of [1n, L - 1n, 2n, (L - 1n) / 2n]) for (const r of [1n, L - 1n, 7n]) cases.push({ ...signed(a, r, short), m: short, valid: true });
    {
      // The honest R with S = 0 and S = L - 1: the one-pass multiplication's edge digits.
      const { A, signature } = signed(5n, 9n, short);
      cases.push({ A, signature: cat(signature.subarray(0, 32), new Uint8Array(32)), m: short, valid: false });
      cases.push({ A, signature: cat(signature.subarray(0, 32), toLe(L - 1n)), m: short, valid: false });
    }
    {
      const a = 99n;
      const A = Point.BASE.multiply(a).toBytes();
      cases.push({ A, signature: cat(A, toLe(Point.Fn.create(a + challenge(A, A, short) * a))), m: short, valid: true }); // R = A
    }
    {
      const big = new Uint8Array(1 << 20).fill(9);
      cases.push({ ...signed(31337n, 11n, big), m: big, valid: true });
    }
    for (const c of cases) {
      const key: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: c.A };
      expect(nativeProvider.verify(key, undefined, c.m, c.signature)).toBe(c.valid);
      expect(verifyOnlyProvider.verify(key, undefined, c.m, c.signature)).toBe(c.valid);
    }
  });

  it('refuses, with false and not a throw, key objects a library caller might hand in: no x, x as an array of numbers, a signature as an array', () => {
    const pair = nativeProvider.generateKeyPair('Ed25519');
    const msg = new Uint8Array([4, 5, 6]);
    const signature = nativeProvider.sign({ kty: 'OKP', crv: 'Ed25519', x: pair.x, d: pair.d }, undefined, msg);
    const cases: Array<[CoseKey, unknown]> = [
      [{ kty: 'OKP', crv: 'Ed25519' }, signature],
      [{ kty: 'OKP', crv: 'Ed25519', x: [...pair.x] as unknown as Uint8Array }, signature],
      [{ kty: 'OKP', crv: 'Ed25519', x: pair.x }, [...signature]],
    ];
    for (const provider of [nativeProvider, portableProvider, verifyOnlyProvider]) {
      for (const [key, sig] of cases) expect(provider.verify(key, undefined, msg, sig as Uint8Array)).toBe(false);
      expect(provider.verify({ kty: 'OKP', crv: 'Ed25519', x: pair.x }, undefined, msg, signature)).toBe(true);
    }
  });
});
