/**
 * `keybound gateway serve` (issue 11) in front of a real upstream, with the real service (its
 * public API, in process) issuing DPoP-bound JWT access tokens and a real Redis shared by two
 * gateway instances (started through the CLI's own function). The client is oauth4webapi (panva),
 * which shares no code with keybound. Refusals: a proof replayed at the other instance, a proof by
 * another key, a tampered token, a Bearer token, another method, missing and oversized headers,
 * an oversized body, forged identity headers; the upstream never receives a token or a proof.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createPublicKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, createRemoteJWKSet, generateKeyPair, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { createProxyServer } from 'http-proxy-3';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { gatewayServe } from '../cli/index.js';
import { checkRouteScope, createGateway, GatewayError, RedisDpopReplay, type Gateway } from '../gateway/index.js';
import { MemoryDpopReplay } from '../sender-constraint/index.js';
import { Redis } from 'ioredis';
import { dpopProofJwt, type DpopKeyPair } from './support/dpop-proof-jwt.js';
import { freePort } from './support/redis-server.js';
import { startRedis } from './support/redis-server.js';
import { stop } from './support/processes.js';

const API = 'https://api.example/records';
const REF = 'https://api.example/opaque';
const CWT_API = 'https://api.example/cwt'; // DPoP-bound CWTs by value // reference tokens: the phantom-token gateway
const PUBLIC = 'http://gateway.test'; // the name both instances share behind a load balancer
const NONCE_SECRET = randomBytes(32);
const SECRET = randomBytes(24).toString('base64url');
const GW_SECRET = randomBytes(24).toString('base64url');
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let dir: string;
let store: SqliteStore;
let service: AuthzServer;
let base: string;
let redis: { process: ChildProcess; url: string };
let upstream: http.Server;
const seenUpstream: http.IncomingHttpHeaders[] = [];
const gateways: Gateway[] = [];
const urls: string[] = [];
let token: string;
let keyA: oauth.CryptoKeyPair;
let handleA: oauth.DPoPHandle;
const client: oauth.Client = { client_id: 'svc' };

let observer: http.Server;
let introspections = 0;
let refToken: string;
let cwtToken: string;

async function startGateway(extra: string[] = ['--audience', API, '--authz-url', base, '--redis', redis.url]): Promise<string> {
  let out = '';
  const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } };
  gateways.push(await gatewayServe(['--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, ...extra, '--port', '0', '--require-scope', 'read', '--public-url', PUBLIC, '--log-level', 'error'], io, {}));
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+) /.exec(out)?.[1];
  if (!url) throw new Error(`no address in ${out}`);
  return url;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: API, scopes: ['read'], tokenFormat: 'jwt' });
  await registerAudience(store, nativeProvider, { id: REF, scopes: ['read'], tokenFormat: 'reference' });
  await registerAudience(store, nativeProvider, { id: CWT_API, scopes: ['read'] });
  await registerClient(store, { id: 'svc', secret: SECRET, audiences: [API, REF, CWT_API], scopes: ['read'] });
  await registerClient(store, { id: 'gateway', secret: GW_SECRET, audiences: [REF], grantTypes: [], resourceServer: true });
  service = await createAuthzServer({ store, dataDir: dir, dpop: { nonceSecrets: () => ({ current: NONCE_SECRET }) } });
  base = (await service.listen(0)).url;
  redis = await startRedis();
  upstream = http.createServer((req, res) => {
    seenUpstream.push(req.headers);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url })));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  urls.push(await startGateway(), await startGateway());
  // The service as the phantom-token gateway reaches it, through a transparent proxy that counts introspections.
  const counting = createProxyServer({ target: base });
  observer = http.createServer((req, res) => {
    if (req.url === '/introspect') introspections++;
    counting.web(req, res);
  });
  await new Promise<void>((r) => observer.listen(0, '127.0.0.1', r));
  writeFileSync(join(dir, 'gateway.secret'), GW_SECRET, { mode: 0o600 });
  urls.push(await startGateway(['--audience', CWT_API, '--authz-url', base]));
  // The phantom JWTs' key, made by Debian's openssl as an operator would, given to both instances.
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(dir, 'phantom.pem')], { stdio: 'pipe' });
  chmodSync(join(dir, 'phantom.pem'), 0o600);
  const phantomArgs = ['--audience', REF, '--authz-url', `http://127.0.0.1:${(observer.address() as AddressInfo).port}`, '--client-id', 'gateway', '--client-secret-file', join(dir, 'gateway.secret'), '--redis', redis.url, '--phantom-key-file', join(dir, 'phantom.pem')];
  urls.push(await startGateway(phantomArgs), await startGateway(phantomArgs));
  writeFileSync(join(dir, 'gateway-nonce.secret'), randomBytes(32).toString('hex'), { mode: 0o600 });
  urls.push(await startGateway(['--audience', API, '--authz-url', base, '--dpop-nonce-secret-file', join(dir, 'gateway-nonce.secret')]));
  const as = await oauth.processDiscoveryResponse(new URL(base), await oauth.discoveryRequest(new URL(base), { algorithm: 'oauth2', ...insecure }));
  keyA = await oauth.generateKeyPair('ES256');
  handleA = oauth.DPoP(client, keyA);
  const tokenFor = async (audience: string): Promise<string> => {
    const request = () => oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(SECRET), { scope: 'read', audience }, { DPoP: handleA, ...insecure });
    try {
      return (await oauth.processClientCredentialsResponse(as, client, await request())).access_token;
    } catch (e) {
      if (!oauth.isDPoPNonceError(e)) throw e;
      return (await oauth.processClientCredentialsResponse(as, client, await request())).access_token;
    }
  };
  token = await tokenFor(API);
  refToken = await tokenFor(REF);
  cwtToken = await tokenFor(CWT_API);
});

afterAll(async () => {
  for (const g of gateways) await g.close();
  await new Promise<void>((r) => upstream.close(() => r()));
  if (observer) await new Promise<void>((r) => observer.close(() => r()));
  await service?.close();
  store?.close();
  await stop(redis?.process);
  rmSync(dir, { recursive: true, force: true });
});

/** A DPoP proof made by hand with jose (RFC 9449 §4.2), for the refusals oauth4webapi would not make. */
const proof = (key: DpopKeyPair, htm: string, path: string, accessToken = token, claims: Record<string, unknown> = {}): Promise<string> => dpopProofJwt(key, htm, `${PUBLIC}${path}`, { accessToken, claims });

function call(i: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
  return fetch(`${urls[i]}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
}

/** The upstream never holds the token, a proof, or an Authorization header. */
function upstreamSawNoCredential(): void {
  for (const h of seenUpstream) {
    expect(h.authorization).toBeUndefined();
    expect(h.dpop).toBeUndefined();
    expect(JSON.stringify(h)).not.toContain(token.slice(-40));
  }
}

describe('keybound gateway serve, DPoP-bound JWT access tokens', () => {
  it('lets through oauth4webapi DPoP requests to the upstream, without the token, with the checked key', async () => {
    const before = seenUpstream.length;
    // oauth4webapi addresses the public name; the load balancer (customFetch) sends it to instance 0.
    const r = await oauth.protectedResourceRequest(token, 'GET', new URL(`${PUBLIC}/records/7?x=1`), new Headers({ 'x-keybound-jkt': 'forged' }), null, {
      DPoP: handleA,
      ...insecure,
      [oauth.customFetch]: (url: string, init: RequestInit) => fetch(url.replace(PUBLIC, urls[0]!), init),
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ path: '/records/7?x=1' });
    expect(seenUpstream.length).toBe(before + 1);
    expect(seenUpstream.at(-1)!['x-keybound-jkt']).toBe(await handleA.calculateThumbprint());
    expect(seenUpstream.at(-1)!['x-keybound-client-id']).toBe('svc');
    upstreamSawNoCredential();
  });

  it('refuses a proof replayed at the second instance (the replay record is in Redis)', async () => {
    const p = await proof(keyA, 'GET', '/records/1');
    expect((await call(0, 'GET', '/records/1', { authorization: `DPoP ${token}`, dpop: p })).status).toBe(200);
    const before = seenUpstream.length;
    const again = await call(1, 'GET', '/records/1', { authorization: `DPoP ${token}`, dpop: p });
    expect(again.status).toBe(401);
    expect(again.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof".*algs="[^"]*ES256/);
    expect((await call(0, 'GET', '/records/1', { authorization: `DPoP ${token}`, dpop: p })).status).toBe(401);
    expect(seenUpstream.length).toBe(before);
    // A fresh proof of the same key at the second instance passes: it is the proof that is spent, not the key.
    expect((await call(1, 'GET', '/records/1', { authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/records/1') })).status).toBe(200);
  });

  it('refuses the token with a proof by another key', async () => {
    const other = await generateKeyPair('ES256');
    const r = await call(0, 'GET', '/records/1', { authorization: `DPoP ${token}`, dpop: await proof(other, 'GET', '/records/1') });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });

  it('refuses a tampered token, a Bearer token, no token, no proof, and a proof for another method or path', async () => {
    const before = seenUpstream.length;
    const [h, p, s] = token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'read admin' })).toString('base64url');
    const forged = `${h}.${forgedPayload}.${s}`;
    const cases: Array<[Record<string, string>, number, RegExp]> = [
      [{ authorization: `DPoP ${forged}`, dpop: await proof(keyA, 'GET', '/records/1', forged) }, 401, /error="invalid_token"/],
      [{ authorization: `Bearer ${token}` }, 401, /error="invalid_token"/],
      [{}, 401, /^DPoP .*algs="/],
      [{ authorization: `DPoP ${token}` }, 401, /error="invalid_dpop_proof"/],
      [{ authorization: `DPoP ${token}`, dpop: await proof(keyA, 'POST', '/records/1') }, 401, /error="invalid_dpop_proof"/],
      [{ authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/admin') }, 401, /error="invalid_dpop_proof"/],
      [{ authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/records/1', 'another-token') }, 401, /error="invalid_dpop_proof"/],
      [{ authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/records/1', token, { iat: Math.floor(Date.now() / 1000) - 600 }) }, 401, /error="invalid_dpop_proof"/],
    ];
    for (const [i, [headers, status, challenge]] of cases.entries()) {
      const r = await call(0, 'GET', '/records/1', headers);
      expect(r.status, `case ${i}`).toBe(status);
      expect(r.headers.get('www-authenticate')).toMatch(challenge);
      expect(r.headers.get('www-authenticate')).not.toContain(token);
    }
    expect(seenUpstream.length).toBe(before);
  });

  it('refuses oversized headers and bodies before reaching the upstream', async () => {
    const before = seenUpstream.length;
    const big = await call(0, 'GET', '/records/1', { authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/records/1'), 'x-pad': 'a'.repeat(10_000) });
    expect(big.status).toBe(431);
    const body = await call(0, 'POST', '/records', { authorization: `DPoP ${token}`, dpop: await proof(keyA, 'POST', '/records'), 'content-type': 'text/plain' }, 'a'.repeat((1 << 20) + 1));
    expect(body.status).toBe(413);
    expect(seenUpstream.length).toBe(before);
    upstreamSawNoCredential();
  });
});

describe('gateway nonces (RFC 9449 §9)', () => {
  it('challenges oauth4webapi with use_dpop_nonce and a DPoP-Nonce, lets its retry through, refuses a forged nonce', async () => {
    const request = () =>
      oauth.protectedResourceRequest(token, 'GET', new URL(`${PUBLIC}/records/9`), new Headers(), null, {
        DPoP: handleA,
        ...insecure,
        [oauth.customFetch]: (url: string, init: RequestInit) => fetch(url.replace(PUBLIC, urls[5]!), init),
      });
    let challenged = false;
    let r: Response;
    try {
      r = await request();
      if (r.status === 401) [challenged, r] = [true, await request()];
    } catch (e) {
      if (!oauth.isDPoPNonceError(e)) throw e;
      [challenged, r] = [true, await request()];
    }
    expect(challenged).toBe(true);
    expect(r.status).toBe(200);
    expect(r.headers.get('dpop-nonce')).toMatch(/^[\x21-\x7e]+$/);
    const forged = await call(5, 'GET', '/records/9', { authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/records/9', token, { nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }) });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    // A fresh nonce of this gateway's (sender-constraint/dpop-nonce.ts form: slot.MAC), not the forged one echoed.
    expect(forged.headers.get('dpop-nonce')).toMatch(/^\d{1,16}\.[A-Za-z0-9_-]{22}$/);
  });
});

describe('DPoP-bound CWT access tokens by value', () => {
  it('lets through a CWT whose cnf COSE_Key is the proof key, refuses another key and a tampered CWT', async () => {
    expect(cwtToken).not.toMatch(/\./);
    const before = seenUpstream.length;
    const ok = await call(2, 'GET', '/cwt/1', { authorization: `DPoP ${cwtToken}`, dpop: await proof(keyA, 'GET', '/cwt/1', cwtToken) });
    expect(ok.status, `${ok.headers.get('www-authenticate')} ${cwtToken.slice(0, 8)}`).toBe(200);
    expect(seenUpstream.at(-1)!['x-keybound-jkt']).toBe(await handleA.calculateThumbprint());
    const other = await generateKeyPair('ES256');
    expect((await call(2, 'GET', '/cwt/1', { authorization: `DPoP ${cwtToken}`, dpop: await proof(other, 'GET', '/cwt/1', cwtToken) })).status).toBe(401);
    const bytes = Buffer.from(cwtToken, 'base64url');
    bytes[bytes.length - 5]! ^= 1; // inside the signature
    const tampered = bytes.toString('base64url');
    const r = await call(2, 'GET', '/cwt/1', { authorization: `DPoP ${tampered}`, dpop: await proof(keyA, 'GET', '/cwt/1', tampered) });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect(seenUpstream.length).toBe(before + 1);
    upstreamSawNoCredential();
  });
});

describe('phantom tokens: an opaque token introspected once, the upstream gets the gateway JWT', () => {
  it('introspects once for many calls at two instances sharing Redis; the upstream verifies a JWT of the claims, never the opaque token', async () => {
    expect(refToken).not.toMatch(/\./);
    const before = seenUpstream.length;
    for (let i = 0; i < 6; i++) {
      const r = await call(3 + (i % 2), 'GET', '/opaque/1', { authorization: `DPoP ${refToken}`, dpop: await proof(keyA, 'GET', '/opaque/1', refToken) });
      expect(r.status).toBe(200);
    }
    expect(introspections).toBe(1);
    expect(seenUpstream.length).toBe(before + 6);
    // One key for both instances (--phantom-key-file): the upstream trusts one instance's JWKS and
    // verifies what either sends; its kid is the RFC 7638 thumbprint of the openssl key.
    const [jwksA, jwksB] = await Promise.all([3, 4].map(async (i) => (await fetch(`${urls[i]}/.well-known/jwks.json`)).json()));
    expect(jwksA).toEqual(jwksB);
    const opensslJwk = createPublicKey(readFileSync(join(dir, 'phantom.pem'))).export({ format: 'jwk' });
    expect((jwksA as { keys: JWK[] }).keys[0]!.kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: opensslJwk.x!, y: opensslJwk.y! }));
    const oneInstanceKeys = createRemoteJWKSet(new URL(`${urls[3]}/.well-known/jwks.json`));
    for (const h of seenUpstream.slice(before)) {
      expect(h.dpop).toBeUndefined();
      expect(JSON.stringify(h)).not.toContain(refToken);
      const jwt = /^Bearer (.+)$/.exec(h.authorization ?? '')![1]!;
      const { payload } = await jwtVerify(jwt, oneInstanceKeys, { audience: REF, typ: 'at+jwt' });
      expect(payload).toMatchObject({ client_id: 'svc', scope: 'read', cnf: { jkt: await handleA.calculateThumbprint() } });
    }
  });

  it('refuses the opaque token with a proof by another key, an unknown opaque token', async () => {
    const before = seenUpstream.length;
    const other = await generateKeyPair('ES256');
    expect((await call(3, 'GET', '/opaque/1', { authorization: `DPoP ${refToken}`, dpop: await proof(other, 'GET', '/opaque/1', refToken) })).status).toBe(401);
    const unknown = randomBytes(32).toString('base64url');
    const asked = introspections;
    for (let i = 0; i < 3; i++) {
      const r = await call(3, 'GET', '/opaque/1', { authorization: `DPoP ${unknown}`, dpop: await proof(keyA, 'GET', '/opaque/1', unknown) });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    }
    // The service's "not active" is kept briefly: retries of a dead token do not each reach it.
    expect(introspections).toBe(asked + 1);
    expect(seenUpstream.length).toBe(before);
  });
});

describe('the phantom signing key file', () => {
  const base = (file: string) => ['--upstream', 'http://127.0.0.1:9', '--audience', REF, '--authz-url', 'http://127.0.0.1:9', '--client-id', 'gateway', '--client-secret-file', join(dir, 'gateway.secret'), '--phantom-key-file', file, '--port', '0'];
  const io = () => ({ stdout: { write: () => true }, stderr: { write: () => true } }) as unknown as Parameters<typeof gatewayServe>[1];
  it('refuses a key that is not EC P-256 (an Ed25519 or a P-384 key from openssl) or not a key, naming what it found and never the key', async () => {
    for (const [name, args] of [['ed25519.pem', ['-algorithm', 'ED25519']], ['p384.pem', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']]] as const) {
      execFileSync('openssl', ['genpkey', ...args, '-out', join(dir, name)], { stdio: 'pipe' });
      const pem = readFileSync(join(dir, name), 'utf8');
      const refusal = await gatewayServe(base(join(dir, name)), io(), {}).then(() => undefined, (e: Error) => e);
      expect(refusal?.message).toMatch(/--phantom-key-file: .*EC P-256 private key is needed/);
      expect(refusal?.message).not.toContain(pem.split('\n')[1]!.slice(0, 16));
    }
    writeFileSync(join(dir, 'not-a-key.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
    await expect(gatewayServe(base(join(dir, 'not-a-key.pem')), io(), {})).rejects.toThrow(/not a PEM private key/);
  });
  it('is refused without phantom tokens (--client-id)', async () => {
    await expect(gatewayServe(['--upstream', 'http://127.0.0.1:9', '--audience', API, '--authz-url', 'http://127.0.0.1:9', '--phantom-key-file', join(dir, 'phantom.pem')], io(), {})).rejects.toThrow(/--phantom-key-file goes with --client-id/);
  });
});

describe('failing closed', () => {
  it('refuses (503) when the shared replay record does not answer, and answers 502 when the upstream is down', async () => {
    const deadRedis = new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    deadRedis.on('error', () => undefined);
    const keys = createRemoteJWKSet(new URL(`${base}/jwks.json`));
    const clock = () => Date.now() / 1000;
    const noRedis = createGateway({ upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, audience: API, keys, publicUrl: PUBLIC, replay: new RedisDpopReplay(deadRedis, clock), clock });
    const noUpstream = createGateway({ upstream: `http://127.0.0.1:${await freePort()}`, audience: API, keys, publicUrl: PUBLIC, clock });
    try {
      const before = seenUpstream.length;
      const a = await noRedis.listen(0);
      const r = await fetch(`http://127.0.0.1:${a.port}/records/1`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/records/1') } });
      expect(r.status).toBe(503);
      expect(seenUpstream.length).toBe(before);
      const b = await noUpstream.listen(0);
      expect((await fetch(`http://127.0.0.1:${b.port}/records/1`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(keyA, 'GET', '/records/1') } })).status).toBe(502);
    } finally {
      await noRedis.close();
      await noUpstream.close();
      deadRedis.disconnect();
    }
  });
});

describe('the replay record under a thief (found in stop 35)', () => {
  it('a thief with the token but not its key records nothing: its proofs by keys of its own are refused, and the holder still gets through', async () => {
    const keys = createRemoteJWKSet(new URL(`${base}/jwks.json`));
    const clock = () => Date.now() / 1000;
    const replay = new MemoryDpopReplay({ clock, capacity: 4, perKey: 4 });
    const gw = createGateway({ upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, audience: API, keys, publicUrl: PUBLIC, replay, clock });
    try {
      const { port } = await gw.listen(0);
      const send = async (key: { privateKey: CryptoKey; publicKey: CryptoKey }) =>
        (await fetch(`http://127.0.0.1:${port}/records/1`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, 'GET', '/records/1') } })).status;
      const thief = await generateKeyPair('ES256', { extractable: true });
      // Before, each of these was recorded before the key check refused it: the fifth filled the record (503 for all).
      for (let i = 0; i < 8; i++) expect(await send(thief)).toBe(401);
      expect(replay.size).toBe(0);
      expect(await send(keyA as never)).toBe(200);
      expect(replay.size).toBe(1);
    } finally {
      await gw.close();
    }
  });
});

describe('scope per route (AIF-REST, RFC 9237)', () => {
  it('allows the listed methods on the listed paths only', () => {
    const grant = [['/records', 1 | 2]]; // GET | POST
    expect(() => checkRouteScope(grant, { method: 'GET', path: '/records' }, [])).not.toThrow();
    expect(() => checkRouteScope(grant, { method: 'POST', path: '/records' }, [])).not.toThrow();
    for (const request of [{ method: 'DELETE', path: '/records' }, { method: 'GET', path: '/admin' }, { method: 'BREW', path: '/records' }]) {
      expect(() => checkRouteScope(grant, request, [])).toThrow(GatewayError);
    }
    expect(() => checkRouteScope([['/records', 'all']], { method: 'GET', path: '/records' }, [])).toThrow(GatewayError);
    expect(() => checkRouteScope('read', { method: 'GET', path: '/x' }, ['write'])).toThrow(GatewayError);
    expect(() => checkRouteScope(undefined, { method: 'GET', path: '/x' }, ['read'])).toThrow(GatewayError);
  });
});
