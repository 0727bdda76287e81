import { describe, expect, it } from 'vitest';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, generateSecret, importJWK, type JWK } from 'jose';
import {
  coseKeyToJwk,
  jwkToCoseKey,
  kidFromJwk,
  kidToJwk,
  encodeCoseKey,
  decodeCoseKey,
  fromHex,
  toBase64Url,
  utf8,
  extendedPortableProvider as portableProvider,
  ALG,
  CoseKeyError,
  ERR,
  type Jwk,
  type CoseKey,
} from '../cose/index.js';

function expectKeyError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CoseKeyError);
    expect((e as CoseKeyError).code).toBe(ERR.COSE_KEY_INVALID);
    return;
  }
  expect.unreachable('expected a CoseKeyError');
}

const JOSE_ALGS = [
  { alg: 'EdDSA', crv: 'Ed25519' },
  { alg: 'ES256', crv: 'P-256' },
  { alg: 'ES384', crv: 'P-384' },
  { alg: 'ES512', crv: 'P-521' },
] as const;

describe('JWK from jose -> COSE_Key -> JWK', () => {
  for (const { alg, crv } of JOSE_ALGS) {
    it(`${alg} ${crv}: private and public keys round-trip and jose imports the result`, async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { crv, extractable: true });
      for (const k of [privateKey, publicKey]) {
        const jwk = { ...(await exportJWK(k)), kid: 'device-17', alg };
        const cose = jwkToCoseKey(jwk as Jwk);
        expect(cose.kty).toBe(crv.startsWith('P-') ? 'EC2' : 'OKP');
        expect(cose.alg).toBe(alg === 'EdDSA' ? ALG.EdDSA : ALG[alg]);
        expect(cose.kid).toEqual(utf8('device-17'));
        // The COSE_Key survives its own wire form too.
        const back = coseKeyToJwk(decodeCoseKey(encodeCoseKey(cose)));
        expect(back).toEqual(jwk);
        await expect(importJWK(back as JWK, alg)).resolves.toBeDefined();
        expect(await calculateJwkThumbprint(back as JWK)).toBe(await calculateJwkThumbprint(jwk as JWK));
      }
    });
  }
  it('oct: HMAC keys round-trip and jose imports them', async () => {
    const secret = await generateSecret('HS256', { extractable: true });
    const jwk = { ...(await exportJWK(secret)), alg: 'HS256', key_ops: ['sign', 'verify'] };
    const cose = jwkToCoseKey(jwk as Jwk);
    expect(cose).toMatchObject({ kty: 'Symmetric', alg: ALG.HMAC_256_256, keyOps: ['MAC create', 'MAC verify'] });
    const back = coseKeyToJwk(cose);
    expect(back).toEqual(jwk);
    await expect(importJWK(back as JWK, 'HS256')).resolves.toBeDefined();
  });
});

describe('COSE_Key -> JWK keeps the key usable', () => {
  it('a COSE Ed25519 key signs; the JWK public key verifies with node:crypto', () => {
    const pair = portableProvider.generateKeyPair('Ed25519');
    const cose: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: pair.x, d: pair.d };
    const msg = utf8('keybound');
    const sig = portableProvider.sign(cose, undefined, msg);
    const { d: _d, ...pub } = coseKeyToJwk(cose);
    expect(nodeVerify(null, msg, createPublicKey({ key: pub as never, format: 'jwk' }), sig)).toBe(true);
  });
  it('Ed448 (which jose 6 does not generate): the JWK verifies with node:crypto and round-trips', () => {
    const pair = portableProvider.generateKeyPair('Ed448');
    const cose: CoseKey = { kty: 'OKP', crv: 'Ed448', x: pair.x, d: pair.d, alg: ALG.EdDSA, kid: utf8('tube-4') };
    const msg = utf8('keybound');
    const sig = portableProvider.sign(cose, undefined, msg);
    const jwk = coseKeyToJwk(cose);
    expect(jwkToCoseKey(jwk)).toEqual(cose);
    const { d: _d, ...pub } = jwk;
    expect(nodeVerify(null, msg, createPublicKey({ key: pub as never, format: 'jwk' }), sig)).toBe(true);
  });
  it('a COSE P-256 key signs; the JWK public key verifies with node:crypto', () => {
    const pair = portableProvider.generateKeyPair('P-256');
    const cose: CoseKey = { kty: 'EC2', crv: 'P-256', x: pair.x, y: pair.y!, d: pair.d, alg: ALG.ES256 };
    const msg = utf8('keybound');
    const sig = portableProvider.sign(cose, 'SHA-256', msg);
    const { d: _d, ...pub } = coseKeyToJwk(cose);
    expect(pub.alg).toBe('ES256');
    const ok = nodeVerify('sha256', msg, { key: createPublicKey({ key: pub as never, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, sig);
    expect(ok).toBe(true);
  });
});

describe('alg names', () => {
  const k = new Uint8Array(32).fill(7);
  it('maps the algorithms that have a JWA name', () => {
    const cases: Array<[number, string]> = [
      [ALG.HMAC_256_256, 'HS256'],
      [ALG.HMAC_384_384, 'HS384'],
      [ALG.HMAC_512_512, 'HS512'],
      [ALG.A256GCM, 'A256GCM'],
    ];
    for (const [id, name] of cases) {
      const key: CoseKey = { kty: 'Symmetric', k: new Uint8Array(64).fill(1), alg: id };
      expect(coseKeyToJwk(key).alg).toBe(name);
      expect(jwkToCoseKey(coseKeyToJwk(key)).alg).toBe(id);
    }
  });
  it('leaves alg out for HMAC 256/64 and AES-CCM, which have no JWA name', () => {
    expect(coseKeyToJwk({ kty: 'Symmetric', k, alg: ALG.HMAC_256_64 })).toEqual({ kty: 'oct', k: toBase64Url(k) });
    expect(coseKeyToJwk({ kty: 'Symmetric', k: k.subarray(0, 16), alg: ALG.AES_CCM_16_64_128 }).alg).toBeUndefined();
  });
  it('refuses JWA names it does not speak', () => {
    for (const alg of ['RS256', 'none', 'HS1', 'ES256K', '', 5]) {
      expectKeyError(() => jwkToCoseKey({ kty: 'oct', k: toBase64Url(k), alg } as Jwk));
    }
  });
});

describe('kid', () => {
  it('printable kids are written as text and read back as the same bytes', () => {
    for (const text of ['meriadoc.brandybuck@buckland.example', 'clé-1', '11']) {
      expect(kidToJwk(utf8(text))).toBe(text);
      expect(kidFromJwk(kidToJwk(utf8(text)))).toEqual(utf8(text));
    }
  });
  it('binary kids (invalid UTF-8, controls, spaces) are written as base64url', () => {
    for (const hex of ['ff00', '0102', '6120 62'.replace(' ', ''), 'e280ae61']) {
      const bytes = fromHex(hex);
      expect(kidToJwk(bytes)).toBe(toBase64Url(bytes));
      expect(kidFromJwk(kidToJwk(bytes), 'base64url')).toEqual(bytes);
    }
  });
  it('refuses empty, over-long or non-string kids', () => {
    expectKeyError(() => kidFromJwk(''));
    expectKeyError(() => kidFromJwk('a'.repeat(257)));
    expectKeyError(() => kidFromJwk('a+b', 'base64url'));
    expectKeyError(() => jwkToCoseKey({ kty: 'oct', k: 'AAAA', kid: 5 } as unknown as Jwk));
  });
});

describe('strict JWK input', () => {
  const x = toBase64Url(new Uint8Array(32).fill(3));
  it('refuses unknown kty and crv', () => {
    expectKeyError(() => jwkToCoseKey({ kty: 'RSA', n: 'AQAB', e: 'AQAB' }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'X25519', x }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'P-256', x }));
    expectKeyError(() => jwkToCoseKey({ kty: 'EC', crv: 'secp256k1', x, y: x }));
    expectKeyError(() => jwkToCoseKey({ kty: 'EC', crv: 'Ed25519', x, y: x }));
    expectKeyError(() => jwkToCoseKey(null as unknown as Jwk));
  });
  it('refuses wrong lengths, missing members and bad base64url', () => {
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x: toBase64Url(new Uint8Array(31)) }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519' }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, d: toBase64Url(new Uint8Array(33)) }));
    expectKeyError(() => jwkToCoseKey({ kty: 'EC', crv: 'P-256', x }));
    expectKeyError(() => jwkToCoseKey({ kty: 'EC', crv: 'P-384', x, y: x }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x: x + '=' }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x: 42 as unknown as string }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(100_000) }));
    expectKeyError(() => jwkToCoseKey({ kty: 'oct' }));
    expectKeyError(() => jwkToCoseKey({ kty: 'oct', k: '' }));
    expectKeyError(() => jwkToCoseKey({ kty: 'oct', k: 'AAAA', x }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, k: 'AAAA' }));
  });
  it('refuses unknown or repeated key_ops', () => {
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, key_ops: ['fly'] }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, key_ops: ['verify', 'verify'] }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, key_ops: [] }));
    expectKeyError(() => jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, key_ops: 'verify' as unknown as string[] }));
  });
  it('ignores members it does not know (RFC 7517 §4), including use', () => {
    expect(jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, use: 'sig', x5t: 'abc', ext: true })).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: new Uint8Array(32).fill(3),
    });
  });
  it('maps key_ops both ways', () => {
    const cose = jwkToCoseKey({ kty: 'OKP', crv: 'Ed25519', x, key_ops: ['verify'] });
    expect(cose.keyOps).toEqual(['verify']);
    expect(coseKeyToJwk(cose).key_ops).toEqual(['verify']);
    const wrap = jwkToCoseKey({ kty: 'oct', k: toBase64Url(new Uint8Array(16)), key_ops: ['wrapKey', 'unwrapKey'] });
    expect(wrap.keyOps).toEqual(['wrap key', 'unwrap key']);
  });
});

describe('strict COSE_Key input', () => {
  it('refuses invalid COSE keys with CoseKeyError', () => {
    expectKeyError(() => coseKeyToJwk({ kty: 'EC2', crv: 'P-256', x: new Uint8Array(32) }));
    expectKeyError(() => coseKeyToJwk({ kty: 'OKP', crv: 'Ed448', x: new Uint8Array(32) }));
    expectKeyError(() => coseKeyToJwk({ kty: 'Symmetric' }));
    expectKeyError(() => coseKeyToJwk({ kty: 'RSA' as 'OKP', crv: 'Ed25519', x: new Uint8Array(32) }));
  });
});
