/**
 * The seams a host fills when the device core runs on an engine without Node or web globals
 * (device/host.ts): its random source is checked at the door, and UTF-8 done in ECMAScript
 * (cose/utf8.ts) is byte for byte what the WHATWG TextEncoder/TextDecoder of Node make.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { checkedRandomSource, fromBase64Url, fromHex, fromUtf8, portableProvider, toBase64Url, toHex, utf8, withRandomSource } from '../cose/index.js';
import { hostProvider } from '../device/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { errorCode } from './support/error-code.js';

describe('host randomness is checked, not trusted', () => {
  it('passes good bytes through, as a copy the host cannot change afterwards', () => {
    const buffer = new Uint8Array(16).fill(9);
    const random = checkedRandomSource(() => buffer);
    const out = random(16);
    buffer.fill(0);
    expect(out).toEqual(new Uint8Array(16).fill(9));
  });
  it('refuses a short answer, a wrong type, and a dead generator (all zeros) with ERR_COSE_BAD_RANDOMNESS', () => {
    expect(errorCode(() => checkedRandomSource(() => new Uint8Array(15))(16))).toBe('ERR_COSE_BAD_RANDOMNESS');
    expect(errorCode(() => checkedRandomSource(() => [1, 2, 3] as unknown as Uint8Array)(3))).toBe('ERR_COSE_BAD_RANDOMNESS');
    expect(errorCode(() => checkedRandomSource(() => new Uint8Array(16))(16))).toBe('ERR_COSE_BAD_RANDOMNESS');
  });
  it('a provider with host randomness draws every nonce from the host, and keeps the rest of the provider', () => {
    let calls = 0;
    const provider = hostProvider({ randomBytes: (n) => (calls++, new Uint8Array(n).fill(calls)) });
    expect(provider.randomBytes(8)).toEqual(new Uint8Array(8).fill(1));
    expect(calls).toBe(1);
    expect(provider.digest('SHA-256', utf8('abc'))).toEqual(portableProvider.digest('SHA-256', utf8('abc')));
    expect(withRandomSource(portableProvider, () => new Uint8Array(4).fill(1)).name).toContain('host-random');
  });
  it('key pairs come from the host source too (the same host bytes, the same key), never from noble reaching for a global', () => {
    let seen = 0;
    const fixed = (n: number) => (seen += n, new Uint8Array(n).fill(7));
    for (const crv of ['Ed25519', 'P-256'] as const) {
      const a = hostProvider({ randomBytes: fixed }).generateKeyPair(crv);
      const b = hostProvider({ randomBytes: fixed }).generateKeyPair(crv);
      expect(a.x).toEqual(b.x);
      expect(a.x).not.toEqual(portableProvider.generateKeyPair(crv).x);
    }
    expect(seen).toBe(2 * 32 + 2 * 48);
  });
  // (Key pairs are not tried here: noble decides at import whether the engine has randomness for
  // its scalar blinding, and this engine had; test/quickjs-device.test.ts runs on one that has not.)
  it('on an engine without crypto.getRandomValues, the portable provider refuses with ERR_COSE_BAD_RANDOMNESS until the host passes a source', () => {
    const own = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
    try {
      expect(errorCode(() => portableProvider.randomBytes(16))).toBe('ERR_COSE_BAD_RANDOMNESS');
      const host = hostProvider({ randomBytes: (n) => new Uint8Array(n).fill(3) });
      expect(host.randomBytes(16)).toEqual(new Uint8Array(16).fill(3));
    } finally {
      Object.defineProperty(globalThis, 'crypto', own);
    }
    expect(portableProvider.randomBytes(16)).toHaveLength(16);
  });
});

describe("the native provider's pooled randomness (small requests are cut from a 4 KB pool)", () => {
  it('hands out copies of their own, never a view of the pool that would show later output', () => {
    for (const n of [0, 1, 16, 32, 63, 64, 65, 200]) {
      const r = nativeProvider.randomBytes(n);
      expect(r).toHaveLength(n);
      expect(r.byteOffset).toBe(0);
      expect(r.buffer.byteLength).toBe(n);
    }
  });
  it('never repeats itself across refills, and what a caller does to its bytes reaches no one else', () => {
    const seen = new Set<string>();
    const held: Uint8Array[] = [];
    // 3,000 x 16 bytes: the pool refills about a dozen times in between.
    for (let i = 0; i < 3000; i++) {
      const r = nativeProvider.randomBytes(16);
      seen.add(toHex(r));
      held.push(r);
    }
    expect(seen.size).toBe(3000);
    const copy = held.map((r) => toHex(r));
    for (const r of held) r.fill(0);
    for (let i = 0; i < 300; i++) nativeProvider.randomBytes(13);
    expect(held.every((r) => r.every((b) => b === 0))).toBe(true);
    expect(new Set(copy).size).toBe(3000);
  });
  it('looks like randomness: every bit is set about half the time over 64 KB', () => {
    const ones = new Array<number>(8).fill(0);
    const N = 4096;
    for (let i = 0; i < N; i++) for (const b of nativeProvider.randomBytes(16)) for (let k = 0; k < 8; k++) ones[k]! += (b >> k) & 1;
    // 65,536 draws per bit position: 5 standard deviations is +-640 around 32,768.
    for (const n of ones) expect(Math.abs(n - N * 8)).toBeLessThan(640);
  });
  it('refuses a length that is not a non-negative integer, as node:crypto does', () => {
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => nativeProvider.randomBytes(bad)).toThrow(RangeError);
  });
});

describe('UTF-8 in ECMAScript agrees with the WHATWG codecs', () => {
  it('encodes any string (lone surrogates too) as TextEncoder does', () => {
    const encoder = new TextEncoder();
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
      expect(utf8(s)).toEqual(encoder.encode(s));
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map((c) => String.fromCharCode(c)), maxLength: 16 }), (s) => {
      expect(utf8(s)).toEqual(encoder.encode(s));
    }), { numRuns: 500 });
  });
  it('decodes what a fatal TextDecoder decodes, and refuses what it refuses (ERR_CBOR_BAD_UTF8)', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        let expected: string | undefined;
        try {
          expected = decoder.decode(bytes);
        } catch {
          expected = undefined;
        }
        if (expected === undefined) expect(errorCode(() => fromUtf8(bytes))).toBe('ERR_CBOR_BAD_UTF8');
        else expect(fromUtf8(bytes)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
    const long = 'é€𝄞'.repeat(5000);
    expect(fromUtf8(utf8(long))).toBe(long);
  });
});

describe.each([
  { name: 'hex', encode: toHex, decode: fromHex, node: 'hex' as const },
  { name: 'base64url (RFC 4648 §5, unpadded)', encode: toBase64Url, decode: fromBase64Url, node: 'base64url' as const },
])("$name in ECMAScript agrees with Node's Buffer", ({ encode, decode, node }) => {
  it('every byte value, every length, and back', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(encode(all)).toBe(Buffer.from(all).toString(node));
    expect(encode(new Uint8Array(0))).toBe('');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
      expect(encode(bytes)).toBe(Buffer.from(bytes).toString(node));
      expect(decode(encode(bytes))).toEqual(bytes);
    }), { numRuns: 300 });
  });
  it('long inputs, past the 8192 characters made into a string at a time, at every remainder', () => {
    for (const length of [4095, 4096, 6143, 6144, 6145, 6146, 20_000, 70_001]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 255);
      expect(encode(bytes)).toBe(Buffer.from(bytes).toString(node));
      expect(decode(encode(bytes))).toEqual(bytes);
    }
  });
});
