import { describe, expect, it } from 'vitest';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import {
  encodeCbor,
  portableProvider,
  utf8,
  createJwt,
  cwtClaimsToJwt,
  jwtClaimsToCwt,
  verifyJwt,
  JwtBridgeError,
  type CoseKey,
  type CwtClaims,
} from '../cose/index.js';

const NOW = 1_764_000_000;

function edKey(kid?: string): CoseKey {
  const p = portableProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, ...(kid ? { kid: utf8(kid) } : {}) };
}
function p256Key(): CoseKey {
  const p = portableProvider.generateKeyPair('P-256');
  return { kty: 'EC2', crv: 'P-256', x: p.x, y: p.y!, d: p.d };
}

const holder = edKey();
const holderPublic: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: holder.x! };
const claims: CwtClaims = {
  iss: 'https://as.example',
  sub: 'ekg-abc',
  aud: ['tube-123', 'tube-456'],
  exp: NOW + 3600,
  nbf: NOW - 10,
  iat: NOW,
  cti: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 0xff]),
  cnf: { coseKey: holderPublic },
  scope: 'read_result',
  ace_profile: 2,
  exi: 600,
};

describe('cwtClaimsToJwt: RFC 7519 names', () => {
  it('maps every claim, cti to base64url jti and cnf COSE_Key to cnf.jwk (RFC 7800)', () => {
    const jwt = cwtClaimsToJwt(claims);
    expect(jwt).toMatchObject({ iss: 'https://as.example', sub: 'ekg-abc', aud: ['tube-123', 'tube-456'], exp: NOW + 3600, nbf: NOW - 10, iat: NOW, jti: 'AQIDBAUGB_8', scope: 'read_result', ace_profile: 2, exi: 600 });
    expect(jwt.cnf).toEqual({ jwk: { kty: 'OKP', crv: 'Ed25519', x: expect.any(String) } });
  });
  it('writes cnf kid as base64url and an AIF scope as its JSON array', () => {
    const jwt = cwtClaimsToJwt({ cnf: { kid: new Uint8Array([0xfb, 0xff]) }, scope: [['/s/temp', 1], ['/a/led', 5]] });
    expect(jwt).toEqual({ cnf: { kid: '-_8' }, scope: [['/s/temp', 1], ['/a/led', 5]] });
  });
  it('opens an AIF scope wrapped in a byte string', () => {
    expect(cwtClaimsToJwt({ scope: encodeCbor([['sensors/#', ['sub']]]) }).scope).toEqual([['sensors/#', ['sub']]]);
  });
  it('refuses, with a typed error, what has no JWT form', () => {
    expect(() => cwtClaimsToJwt({ cnf: { encryptedCoseKey: [new Uint8Array(1), new Map(), new Uint8Array(16)] } })).toThrow(/Encrypted_COSE_Key\(2\)/);
    expect(() => cwtClaimsToJwt({ scope: [[new Uint8Array(2), 1]] })).toThrow(JwtBridgeError);
    expect(() => cwtClaimsToJwt({ scope: new Uint8Array([0xff]) })).toThrow(JwtBridgeError);
    expect(() => cwtClaimsToJwt({ other: new Map([[500, 1]]) })).toThrowError(expect.objectContaining({ code: 'ERR_JWT_BRIDGE_UNSUPPORTED' }));
  });
});

describe('jwtClaimsToCwt: and back', () => {
  it('round-trips every claim', () => {
    expect(jwtClaimsToCwt(cwtClaimsToJwt(claims))).toEqual(claims);
    const aif: CwtClaims = { cnf: { kid: utf8('k1') }, scope: [['/s/temp', 1]] };
    expect(jwtClaimsToCwt(cwtClaimsToJwt(aif))).toEqual(aif);
  });
  it('refuses claims of the wrong type, unknown claims and private keys in cnf', () => {
    expect(() => jwtClaimsToCwt({ exp: 1.5 })).toThrow(JwtBridgeError);
    expect(() => jwtClaimsToCwt({ iss: 7 as unknown as string })).toThrow(JwtBridgeError);
    expect(() => jwtClaimsToCwt({ jti: 'not base64url!' })).toThrow(JwtBridgeError);
    expect(() => jwtClaimsToCwt({ email: 'a@b' })).toThrow(/has no CWT label/);
    expect(() => jwtClaimsToCwt({ cnf: { jku: 'https://x' } as never })).toThrow(/no CWT form/);
    expect(() => jwtClaimsToCwt({ cnf: { kid: 'AA', jwk: {} } as never })).toThrow(/exactly one/);
    const { jwk } = cwtClaimsToJwt({ cnf: { coseKey: holderPublic } }).cnf as { jwk: Record<string, string> };
    expect(() => jwtClaimsToCwt({ cnf: { jwk: { ...jwk, d: jwk.x! } } as never })).toThrow(/public key/);
    expect(() => jwtClaimsToCwt({ scope: [{ a: 1 }] })).toThrow(JwtBridgeError);
  });
});

describe('createJwt / verifyJwt: jose with COSE keys', () => {
  for (const [name, make, alg] of [['Ed25519', () => edKey(), 'EdDSA'], ['P-256', p256Key, 'ES256']] as const) {
    it(`signs and verifies with ${name} (${alg})`, async () => {
      const key = make();
      const jwt = await createJwt(claims, key, { kid: 'as-1' });
      expect(decodeProtectedHeader(jwt)).toEqual({ alg, kid: 'as-1' });
      expect(decodeJwt(jwt).jti).toBe('AQIDBAUGB_8');
      const out = await verifyJwt(jwt, { ...key, d: undefined }, { audience: 'tube-123', issuer: 'https://as.example', clock: () => NOW });
      expect(out).toEqual({ claims, kid: 'as-1' });
    });
  }
  it('refuses a stolen-key forgery, a wrong audience and an expired token', async () => {
    const key = edKey();
    const jwt = await createJwt(claims, edKey());
    await expect(verifyJwt(jwt, key, { clock: () => NOW })).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    const good = await createJwt(claims, key);
    await expect(verifyJwt(good, key, { audience: 'other', clock: () => NOW })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    await expect(verifyJwt(good, key, { clock: () => NOW + 3600 + 61 })).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });
  it('refuses keys with no JWS algorithm and a public key for signing', async () => {
    await expect(createJwt(claims, { kty: 'Symmetric', k: new Uint8Array(32) })).rejects.toThrow(JwtBridgeError);
    await expect(createJwt(claims, holderPublic)).rejects.toThrow(/private key/);
  });
});
