import { describe, expect, it } from 'vitest';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import {
  ECDSA_ORDERS,
  canonicalTokenBytes,
  createCwt,
  decodeCbor,
  encodeCbor,
  lowS,
  portableProvider,
  publicCoseKey,
  readableCti,
  canonicalWithCti,
  Tag,
  tokenHash,
  utf8,
  verifyCwt,
  type CborValue,
  type CoseKey,
  type CryptoProvider,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { DEVICE_ERR, DeviceError, createResourceServer, loadProvisioningBundle, memoryStorage } from '../device/index.js';
import { createFixtureIssuer, ed25519Key, ISSUER } from './support/device-issuer.js';

// The token hash names a token in revocation lists, token stores and proof bindings. It must not
// change when a thief re-encodes a revoked token in a form verifiers still accept.
const TUBE = 'tube-123';
const now = 1_800_000_000;
const clock = () => now;

const sha256 = (b: Uint8Array) => portableProvider.digest('SHA-256', b);
const decoded = (token: Uint8Array) => decodeCbor(token) as Tag;
/** The COSE array inside 61(18(...)). */
const inner = (token: Uint8Array) => ((decoded(token).value as Tag).value as CborValue[]).slice();
const untagged = (token: Uint8Array) => encodeCbor(inner(token));
const coseTagOnly = (token: Uint8Array) => encodeCbor(decoded(token).value as Tag);
const withUnprotected = (token: Uint8Array) => {
  const a = inner(token);
  a[1] = new Map<CborValue, CborValue>([[99, 0], [-70000, utf8('padding')]]);
  return encodeCbor(new Tag(new Tag(a, 18), 61));
};

function es256(provider: CryptoProvider, kid: string): CoseKey {
  const kp = provider.generateKeyPair('P-256');
  return { kty: 'EC2', crv: 'P-256', x: kp.x, y: kp.y!, d: kp.d, kid: utf8(kid) };
}

const sOf = (sig: Uint8Array) => BigInt(`0x${Buffer.from(sig.subarray(sig.length / 2)).toString('hex')}`);
const highS = (sig: Uint8Array) => {
  const n = ECDSA_ORDERS.get(sig.length)!;
  const s = n - sOf(sig);
  const hex = s.toString(16).padStart(sig.length, '0');
  return new Uint8Array([...sig.subarray(0, sig.length / 2), ...Buffer.from(hex, 'hex')]);
};

describe('canonical token bytes', () => {
  const as = ed25519Key('as-1');
  const token = createCwt({ iss: ISSUER, aud: TUBE, exp: now + 600, cnf: { coseKey: publicCoseKey(ed25519Key('c')) }, scope: [['/temp', 1]] }, as);

  it('are the exact bytes of a token we emit, so its hash is SHA-256 over what was sent', () => {
    expect(canonicalTokenBytes(token)).toEqual(token);
    expect(tokenHash(token)).toEqual(sha256(token));
  });

  it('do not change when tags are dropped or unprotected labels added (all of which still verify)', () => {
    for (const [name, variant] of [['untagged', untagged(token)], ['COSE tag only', coseTagOnly(token)], ['unprotected labels', withUnprotected(token)]] as const) {
      expect(variant, name).not.toEqual(token);
      expect(verifyCwt(variant, publicCoseKey(as), { audience: TUBE, clock }).claims.aud, name).toBe(TUBE);
      expect(tokenHash(variant), name).toEqual(tokenHash(token));
    }
  });

  it('leave no second encoding through a doubled tag 61: 61(61(18(...))) does not verify at all', () => {
    const doubled = encodeCbor(new Tag(decoded(token), 61));
    let code = 'accepted';
    try {
      verifyCwt(doubled, publicCoseKey(as), { audience: TUBE, clock });
    } catch (e) {
      code = (e as { code: string }).code;
    }
    expect(code).toBe('ERR_COSE_WRONG_TAG');
  });

  it('do not change when an ECDSA signature is flipped to its high-S twin', () => {
    const key = es256(nativeProvider, 'as-es');
    const t = createCwt({ iss: ISSUER, aud: TUBE, exp: now + 600, cnf: { coseKey: publicCoseKey(ed25519Key('c')) } }, key, { provider: nativeProvider });
    const a = inner(t);
    a[3] = highS(a[3] as Uint8Array);
    const flipped = encodeCbor(new Tag(new Tag(a, 18), 61));
    expect(verifyCwt(flipped, publicCoseKey(key), { audience: TUBE, clock, provider: nativeProvider }).claims.aud).toBe(TUBE);
    expect(tokenHash(flipped)).toEqual(tokenHash(t));
  });

  it('leave a reference token (random bytes) and junk as they are', () => {
    const ref = portableProvider.randomBytes(32);
    expect(tokenHash(ref)).toEqual(sha256(ref));
    const junk = new Uint8Array([0x84, 0x40, 0xa0]);
    expect(canonicalTokenBytes(junk)).toEqual(junk);
    expect(canonicalTokenBytes(encodeCbor([1, 2, 3, 4]))).toEqual(encodeCbor([1, 2, 3, 4]));
  });
});

describe('the cti a token shows (readableCti: how the service finds its record of a presented token)', () => {
  const as = ed25519Key('as-1');
  const cti = utf8('cti-0001');
  const claims = { iss: ISSUER, aud: TUBE, exp: now + 600, cti, cnf: { coseKey: publicCoseKey(ed25519Key('c')) } };
  const signed = createCwt(claims, as);

  it('is read from a Sign1 or Mac0 in every form a verifier accepts', () => {
    const macKey: CoseKey = { kty: 'Symmetric', k: new Uint8Array(32).fill(7), kid: utf8('m') };
    const maced = createCwt(claims, macKey);
    for (const [name, t] of [['Sign1', signed], ['untagged', untagged(signed)], ['COSE tag only', coseTagOnly(signed)], ['unprotected labels', withUnprotected(signed)], ['Mac0', maced]] as const) {
      expect(readableCti(t), name).toEqual(cti);
    }
  });

  it('is none for an Encrypt0 (its claims are sealed), a token with no cti, a reference token, junk, or anything past the size bound', () => {
    expect(readableCti(createCwt(claims, as, { encryptTo: { kty: 'Symmetric', k: new Uint8Array(16).fill(3), kid: utf8('e') } }))).toBeUndefined();
    expect(readableCti(createCwt({ iss: ISSUER, aud: TUBE, exp: now + 600 }, as))).toBeUndefined();
    expect(readableCti(portableProvider.randomBytes(32))).toBeUndefined();
    expect(readableCti(new Uint8Array([0x84, 0x40, 0xa0]))).toBeUndefined();
    // A four-element array whose payload is no claims map, or a cti that is not a byte string.
    const a = inner(signed);
    expect(readableCti(encodeCbor(new Tag(new Tag([a[0]!, a[1]!, utf8('not cbor \xff'), a[3]!], 18), 61)))).toBeUndefined();
    expect(readableCti(encodeCbor(new Tag(new Tag([a[0]!, a[1]!, encodeCbor(new Map([[7, 'text']])), a[3]!], 18), 61)))).toBeUndefined();
    const big = encodeCbor(new Tag(new Tag([a[0]!, a[1]!, encodeCbor(new Map<CborValue, CborValue>([[7, cti], [-1, new Uint8Array(5000)]])), a[3]!], 18), 61));
    expect(readableCti(big)).toBeUndefined();
  });

  it('canonicalWithCti gives what canonicalTokenBytes and readableCti give, from one canonicalization', () => {
    const a = inner(signed);
    const oversized = encodeCbor(new Tag(new Tag([a[0]!, a[1]!, encodeCbor(new Map<CborValue, CborValue>([[7, cti], [-1, new Uint8Array(5000)]])), a[3]!], 18), 61));
    for (const [name, t] of [['Sign1', signed], ['untagged', untagged(signed)], ['unprotected labels', withUnprotected(signed)], ['reference', portableProvider.randomBytes(32)], ['oversized', oversized]] as const) {
      const { canonical, cti: shown } = canonicalWithCti(t);
      expect(canonical, name).toEqual(canonicalTokenBytes(t));
      expect(shown, name).toEqual(readableCti(t));
    }
  });
});

describe('ECDSA signatures in the low-S form', () => {
  it('knows the group orders of P-256, P-384 and P-521 (checked against @noble/curves)', () => {
    expect(ECDSA_ORDERS.get(64)).toBe(p256.Point.CURVE().n);
    expect(ECDSA_ORDERS.get(96)).toBe(p384.Point.CURVE().n);
    expect(ECDSA_ORDERS.get(132)).toBe(p521.Point.CURVE().n);
  });

  it('is what both providers sign (node:crypto alone makes high-S half the time), and low-S is idempotent', () => {
    for (const provider of [portableProvider, nativeProvider]) {
      const key = es256(provider, 'k');
      for (let i = 0; i < 24; i++) {
        const sig = provider.sign(key, 'SHA-256', utf8(`m${i}`));
        expect(sOf(sig) <= ECDSA_ORDERS.get(64)! >> 1n, provider.name).toBe(true);
        expect(lowS(sig)).toBe(sig);
        expect(lowS(highS(sig))).toEqual(sig);
      }
    }
  });

  it('leaves signatures of other lengths (EdDSA) alone', () => {
    const sig = new Uint8Array(64).fill(0xff);
    expect(lowS(new Uint8Array(63).fill(0xff))).toEqual(new Uint8Array(63).fill(0xff));
    expect(lowS(sig)).not.toBe(sig); // 64 bytes is ECDSA P-256 to lowS; token-hash.ts applies it only for ES* algs
  });
});

describe('a revoked token re-encoded by its holder is still revoked at the device', () => {
  it('refuses the untagged, COSE-tag-only and unprotected-label forms, and stores one token once', () => {
    const issuer = createFixtureIssuer(clock);
    const dev = createResourceServer({
      trust: loadProvisioningBundle(issuer.bundleFor(TUBE), now),
      storage: memoryStorage(),
      clock,
      handler: () => ({ code: 205 }),
    });
    const token = issuer.token({ aud: TUBE, exp: now + 600, cnf: { coseKey: publicCoseKey(ed25519Key('ekg')) }, scope: [['/temp', 1]] });
    dev.authzInfo({ token });
    // Before revocation every form is the same token: accepted, and stored once.
    for (const variant of [untagged(token), coseTagOnly(token), withUnprotected(token)]) expect(dev.authzInfo({ token: variant }).tokenHash).toEqual(tokenHash(token));
    expect(dev.stats.tokens).toBe(1);
    expect(dev.applyRevocationList(issuer.revoke(token, TUBE))).toBe(1);
    for (const variant of [token, untagged(token), coseTagOnly(token), withUnprotected(token)]) {
      let code = 'accepted';
      try {
        dev.authzInfo({ token: variant });
      } catch (e) {
        code = (e as DeviceError).code;
      }
      expect(code).toBe(DEVICE_ERR.REVOKED);
    }
    // A doubled tag 61 is no way round it either: that form does not verify at all.
    let doubledCode = 'accepted';
    try {
      dev.authzInfo({ token: encodeCbor(new Tag(decoded(token), 61)) });
    } catch (e) {
      doubledCode = (e as DeviceError).code;
    }
    expect(doubledCode).toBe(DEVICE_ERR.INVALID_TOKEN);
  });
});
