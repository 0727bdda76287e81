/**
 * sender-constraint/ DPoP proof checks (RFC 9449 §4.3), nonces (§8) and the replay record
 * (§11.1), without a socket. Proofs are made with jose's SignJWT the way a client makes them;
 * the service-level test against an independent client is test/dpop-oauth4webapi.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import {
  DPOP_ERR,
  DpopError,
  MemoryDpopReplay,
  accessTokenHash,
  checkDpopNonce,
  coseKeyJkt,
  jwkThumbprint,
  dpopWwwAuthenticate,
  issueDpopNonce,
  normalizeHtu,
  verifyDpopProof,
  type DpopCheck,
} from '../sender-constraint/index.js';
import { NONCE_SECRET_REREAD_MS, nonceSecretsFromFile } from '../cli/index.js';
import { isErrorCode, jwkToCoseKey, wireError, type Jwk } from '../cose/index.js';

const NOW = 1_800_000_000;
const URL_ = 'https://as.example/token';
let priv: CryptoKey;
let jwk: JWK;
let privJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  priv = pair.privateKey;
  jwk = await exportJWK(pair.publicKey);
  privJwk = await exportJWK(pair.privateKey);
});

interface ProofShape {
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  key?: CryptoKey | Uint8Array;
  alg?: string;
}
let counter = 0;
function proof(shape: ProofShape = {}): Promise<string> {
  const claims = { jti: `jti-${++counter}`, htm: 'POST', htu: URL_, iat: NOW, ...shape.claims };
  const alg = shape.alg ?? 'ES256';
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...shape.header } as never).sign(shape.key ?? priv);
}
const check = (extra: Partial<DpopCheck> = {}): DpopCheck => ({ method: 'POST', url: URL_, now: NOW, ...extra });
async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DpopError);
  return (e as DpopError).code;
}

describe('a sound proof', () => {
  it('verifies and names its key by the RFC 7638 thumbprint', async () => {
    const result = await verifyDpopProof(await proof(), check());
    expect(result.jkt).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
    expect(result.alg).toBe('ES256');
    expect(result.jwk).not.toHaveProperty('d');
  });
  it("names a CWT's COSE_Key cnf by the same jkt (what a gateway compares)", async () => {
    const result = await verifyDpopProof(await proof(), check());
    expect(coseKeyJkt(jwkToCoseKey(jwk as Jwk))).toBe(result.jkt);
    expect(jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'a' })).toBeUndefined();
  });
  it('matches a normalised htu (§4.3 step 9: case, default port, no query at the request)', async () => {
    const p = await proof({ claims: { htu: 'HTTPS://AS.example:443/token' } });
    await expect(verifyDpopProof(p, check({ url: 'https://as.example/token?x=1#f' }))).resolves.toMatchObject({ jkt: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(normalizeHtu('https://a.example/%7ea/../b')).toBe('https://a.example/b');
  });
  it('binds the access token through ath', async () => {
    const p = await proof({ claims: { ath: accessTokenHash('tok'), jti: 'ath-1' } });
    await expect(verifyDpopProof(p, check({ accessToken: 'tok' }))).resolves.toMatchObject({ jkt: await calculateJwkThumbprint(jwk), jti: 'ath-1', iat: NOW, alg: 'ES256' });
    expect(await refusal(verifyDpopProof(p, check({ accessToken: 'other' })))).toBe('invalid_dpop_proof');
    expect(await refusal(verifyDpopProof(await proof(), check({ accessToken: 'tok' })))).toBe('invalid_dpop_proof');
  });
});

describe('refused proofs', () => {
  it('another method or URI', async () => {
    expect(await refusal(verifyDpopProof(await proof(), check({ method: 'GET' })))).toBe('invalid_dpop_proof');
    expect(await refusal(verifyDpopProof(await proof(), check({ url: 'https://as.example/par' })))).toBe('invalid_dpop_proof');
    expect(await refusal(verifyDpopProof(await proof({ claims: { htu: `${URL_}?q=1` } }), check()))).toBe('invalid_dpop_proof');
  });
  it('iat outside the window, either side', async () => {
    expect(await refusal(verifyDpopProof(await proof({ claims: { iat: NOW - 61 } }), check()))).toBe('invalid_dpop_proof');
    expect(await refusal(verifyDpopProof(await proof({ claims: { iat: NOW + 61 } }), check()))).toBe('invalid_dpop_proof');
    await expect(verifyDpopProof(await proof({ claims: { iat: NOW - 100 } }), check({ iatWindow: 120 }))).resolves.toMatchObject({ iat: NOW - 100, jkt: await calculateJwkThumbprint(jwk) });
  });
  it('a private key in the header', async () => {
    expect(await refusal(verifyDpopProof(await proof({ header: { jwk: privJwk } }), check()))).toBe('invalid_dpop_proof');
  });
  it('alg none, HS256, and an alg the key is not for', async () => {
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk })).toString('base64url')}.${Buffer.from(JSON.stringify({ jti: 'n', htm: 'POST', htu: URL_, iat: NOW })).toString('base64url')}.`;
    expect(await refusal(verifyDpopProof(none, check()))).toBe('invalid_dpop_proof');
    const hs = await proof({ alg: 'HS256', key: new Uint8Array(32).fill(7), header: { jwk: { kty: 'oct', k: 'AAAA' } } });
    expect(await refusal(verifyDpopProof(hs, check()))).toBe('invalid_dpop_proof');
    expect(await refusal(verifyDpopProof(hs, check({ algs: ['HS256'] })))).toBe('invalid_dpop_proof');
    const p = await proof();
    const [h, b, s] = p.split('.');
    const es384 = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h!, 'base64url').toString()), alg: 'ES384' })).toString('base64url');
    expect(await refusal(verifyDpopProof(`${es384}.${b}.${s}`, check()))).toBe('invalid_dpop_proof');
  });
  it('a wrong typ, a tampered payload, an oversized proof, garbage', async () => {
    expect(await refusal(verifyDpopProof(await proof({ header: { typ: 'JWT' } }), check()))).toBe('invalid_dpop_proof');
    const [h, , s] = (await proof()).split('.');
    const body = Buffer.from(JSON.stringify({ jti: 'x', htm: 'POST', htu: URL_, iat: NOW })).toString('base64url');
    expect(await refusal(verifyDpopProof(`${h}.${body}.${s}`, check()))).toBe('invalid_dpop_proof');
    const big = await proof({ claims: { pad: 'x'.repeat(5000) } });
    expect(await refusal(verifyDpopProof(big, check()))).toBe('invalid_dpop_proof');
    for (const junk of ['', 'a.b', 'a.b.c.d.e', '!!.!!.!!', 'e30.e30.e30']) expect(await refusal(verifyDpopProof(junk, check()))).toBe('invalid_dpop_proof');
  });
  it('a replayed jti, per key, until iat + window', async () => {
    let clock = NOW;
    const replay = new MemoryDpopReplay({ clock: () => clock, capacity: 2, perKey: 2 });
    const p = await proof({ claims: { jti: 'same' } });
    await verifyDpopProof(p, check({ replay }));
    expect(await refusal(verifyDpopProof(p, check({ replay })))).toBe('invalid_dpop_proof');
    await verifyDpopProof(await proof(), check({ replay }));
    expect(await refusal(verifyDpopProof(await proof(), check({ replay })))).toBe('busy'); // full: refuses rather than forgets
    clock = NOW + 61;
    // The window has passed: the same jti is taken again (the record of the first is gone).
    await expect(verifyDpopProof(await proof({ claims: { iat: clock, jti: 'same' } }), check({ replay, now: clock }))).resolves.toMatchObject({ jti: 'same', iat: clock });
  });
});

describe('the in-memory replay record: one key holds a share (found in stop 35)', () => {
  it('a key holder making proofs as fast as it can is refused busy alone; other keys still record, and its share comes back as its pairs expire', async () => {
    let clock = NOW;
    const replay = new MemoryDpopReplay({ clock: () => clock, capacity: 80 }); // a share of 10 per key
    for (let i = 0; i < 10; i++) expect(await replay.seen('A', `a${i}`, NOW + 61)).toBe(false);
    await expect(replay.seen('A', 'a10', NOW + 61)).rejects.toMatchObject({ code: 'busy' });
    // Its replays are still refused as replays, not let through.
    expect(await replay.seen('A', 'a3', NOW + 61)).toBe(true);
    for (const k of ['B', 'C', 'D', 'E', 'F', 'G', 'H']) for (let i = 0; i < 10; i++) expect(await replay.seen(k, `${k}${i}`, NOW + 61)).toBe(false);
    // Full: a new key is refused rather than anything forgotten early.
    await expect(replay.seen('I', 'i0', NOW + 61)).rejects.toMatchObject({ code: 'busy' });
    clock = NOW + 61;
    expect(await replay.seen('A', 'a10', NOW + 122)).toBe(false);
    expect(await replay.seen('I', 'i0', NOW + 122)).toBe(false);
    expect(replay.size).toBe(2);
  });

  it('refuses a share that is not a positive integer within the capacity', () => {
    for (const perKey of [0, -1, 1.5, 11]) expect(() => new MemoryDpopReplay({ clock: () => NOW, capacity: 10, perKey })).toThrow(RangeError);
  });
});

describe('server nonces (§8): stateless, shared, rotating', () => {
  const secretA = new Uint8Array(32).fill(1);
  const secretB = new Uint8Array(32).fill(2);
  it('accepted in its slot and the next, under the current or the previous secret', () => {
    const n = issueDpopNonce(secretA, NOW);
    expect(checkDpopNonce(n, secretA, NOW)).toBe(true);
    expect(checkDpopNonce(n, secretA, NOW + 300)).toBe(true);
    expect(checkDpopNonce(n, secretA, NOW + 600)).toBe(false);
    expect(checkDpopNonce(n, secretA, NOW - 300)).toBe(false); // never from the future
    expect(checkDpopNonce(n, { current: secretB, previous: secretA }, NOW)).toBe(true);
    expect(checkDpopNonce(n, { current: secretB }, NOW)).toBe(false);
    expect(checkDpopNonce(`${n.slice(0, -1)}${n.endsWith('A') ? 'B' : 'A'}`, secretA, NOW)).toBe(false);
    for (const junk of [undefined, 5, '', 'x'.repeat(100), '1.2']) expect(checkDpopNonce(junk, secretA, NOW)).toBe(false);
    expect(() => issueDpopNonce(new Uint8Array(8), NOW)).toThrow(RangeError);
  });
  it('a proof without the expected nonce is use_dpop_nonce; with it, it verifies', async () => {
    const n = issueDpopNonce(secretA, NOW);
    const accept = (v: string): boolean => checkDpopNonce(v, secretA, NOW);
    expect(await refusal(verifyDpopProof(await proof(), check({ nonce: accept })))).toBe('use_dpop_nonce');
    expect((await verifyDpopProof(await proof({ claims: { nonce: n } }), check({ nonce: accept }))).nonce).toBe(n);
    expect(await refusal(verifyDpopProof(await proof({ claims: { nonce: 'stale' } }), check({ nonce: n })))).toBe('use_dpop_nonce');
  });
  it('DpopError codes are registry codes (cose/error-codes.ts), answered 400 by an authorization server', () => {
    for (const code of Object.values(DPOP_ERR)) {
      expect(isErrorCode(code)).toBe(true);
      const e = new DpopError(code, 'x');
      expect([e.status, e.oauthError]).toEqual([wireError(code).http, wireError(code).oauth]);
    }
    expect(new DpopError('use_dpop_nonce', 'x').status).toBe(400); // RFC 9449 §8
  });
  it('the WWW-Authenticate challenge names the error and the algorithms', () => {
    expect(dpopWwwAuthenticate({ algs: ['ES256', 'EdDSA'], error: 'use_dpop_nonce', description: 'a "nonce"\n' })).toBe(
      'DPoP error="use_dpop_nonce", error_description="a nonce", algs="ES256 EdDSA"',
    );
  });
});

describe('authz serve --dpop-nonce-secret-file (cli/dpop-nonce-secret-file.ts)', () => {
  it('reads current and previous secrets, picks up a rotation, keeps the last good ones, refuses weak files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpop-nonce-'));
    try {
      const file = join(dir, 'dpop-nonce.secret');
      const a = 'a'.repeat(64);
      const b = 'b'.repeat(64);
      writeFileSync(file, `${a}\n`);
      let t = 0;
      const secrets = nonceSecretsFromFile(file, '--dpop-nonce-secret-file', () => t);
      const old = issueDpopNonce(secrets(), NOW);
      writeFileSync(file, `${b}\n${a}\n`); // rotate: new first, old second
      expect(Buffer.from(secrets().current).toString()).toBe(a); // not re-read yet
      t = NONCE_SECRET_REREAD_MS;
      expect(Buffer.from(secrets().current).toString()).toBe(b);
      expect(checkDpopNonce(old, secrets(), NOW)).toBe(true);
      writeFileSync(file, 'short\n');
      t = 2 * NONCE_SECRET_REREAD_MS;
      expect(Buffer.from(secrets().current).toString()).toBe(b); // a bad rewrite keeps the last good secrets
      expect(() => nonceSecretsFromFile(file)).toThrow(/at least 32 bytes/);
      writeFileSync(file, `${a}\n${b}\n${a}\n`);
      expect(() => nonceSecretsFromFile(file)).toThrow(/one secret per line/);
      expect(() => nonceSecretsFromFile(join(dir, 'missing'))).toThrow(/does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
