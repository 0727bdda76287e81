/**
 * Adversarial review 36b, the gateway's DPoP replay share (sender-constraint/dpop-replay.ts,
 * gateway/gateway.ts). Review 36 made the share of the bounded record the token's client's
 * (client_id, else sub, else key), so that one client making many keys holds only one share. But
 * a public client (a phone or browser app) is one client_id for all of its users: one user of
 * the app, with one token of his own, now spends the app's share, and every other user of that
 * app is refused 503 `busy` for the entries' lifetime. The share should be the grant's holder:
 * the client together with the user it acts for (both signed in the token).
 * Against the real service (HTTP, SQLite on disk) issuing DPoP-bound JWTs from code + PKCE, a real
 * gateway on a real port and a real upstream; capacity 16 (a share of 2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, generateKeyPair, type CryptoKey } from 'jose';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { createGateway, type Gateway } from '../gateway/index.js';
import { MemoryDpopReplay } from '../sender-constraint/index.js';
import { dpopProofJwt } from './support/dpop-proof-jwt.js';
import { loginAndConsent } from './support/authz-client.js';

const API = 'https://api.example/records';
const PUBLIC = 'http://gateway.test';
const REDIRECT = 'http://127.0.0.1:9/cb';
type KeyPair = { privateKey: CryptoKey; publicKey: CryptoKey };

let dir: string;
let store: SqliteStore;
let service: AuthzServer;
let base: string;
let upstream: http.Server;
let gateway: Gateway;
let gatewayUrl: string;

const proof = (key: KeyPair, htm: string, htu: string, accessToken?: string): Promise<string> => dpopProofJwt(key, htm, htu, accessToken ? { accessToken } : {});

/** A DPoP-bound JWT the public app gets for `user` (code + PKCE at the real /authorize and /token). */
async function tokenFor(user: string, password: string, key: KeyPair): Promise<string> {
  const verifier = randomUUID() + randomUUID();
  const query = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, scope: 'read', resource: API, code_challenge: s256(verifier), code_challenge_method: 'S256' });
  const code = await loginAndConsent(base, query, user, password);
  const r = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, 'POST', `${base}/token`) },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'app', code, code_verifier: verifier, redirect_uri: REDIRECT }).toString(),
  });
  const body = (await r.json()) as { access_token?: string; token_type?: string };
  expect([r.status, body.token_type]).toEqual([200, 'DPoP']);
  return body.access_token!;
}

async function call(token: string, key: KeyPair): Promise<number> {
  const r = await fetch(`${gatewayUrl}/records/1`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, 'GET', `${PUBLIC}/records/1`, token) } });
  await r.arrayBuffer();
  return r.status;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'review36b-dpop-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: API, scopes: ['read'], tokenFormat: 'jwt' });
  await registerClient(store, { id: 'app', audiences: [API], scopes: ['read'], grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT] });
  await registerUser(store, 'alice', 'alice-password-long');
  await registerUser(store, 'mallory', 'mallory-password-long');
  service = await createAuthzServer({ store, dataDir: dir });
  base = (await service.listen(0)).url;
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const clock = () => Date.now() / 1000;
  const replay = new MemoryDpopReplay({ clock, capacity: 16 }); // a share of 16 / 8 = 2
  gateway = createGateway({ upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, audience: API, keys: createRemoteJWKSet(new URL(`${base}/jwks.json`)), publicUrl: PUBLIC, replay, clock });
  gatewayUrl = `http://127.0.0.1:${(await gateway.listen(0)).port}`;
});

afterAll(async () => {
  await gateway?.close();
  await new Promise<void>((r) => upstream?.close(() => r()));
  await service?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('review 36b: the DPoP replay share of a public client', () => {
  it('one user of a public app cannot spend the share of all the app\'s other users', async () => {
    const aliceKey = await generateKeyPair('ES256', { extractable: true });
    const aliceToken = await tokenFor('alice', 'alice-password-long', aliceKey);
    const malloryKey = await generateKeyPair('ES256', { extractable: true });
    const malloryToken = await tokenFor('mallory', 'mallory-password-long', malloryKey);
    // Mallory, a user of the app like any other, sends a few requests with her own token.
    const mallory: number[] = [];
    for (let i = 0; i < 4; i++) mallory.push(await call(malloryToken, malloryKey));
    expect(mallory.slice(0, 2)).toEqual([200, 200]);
    // Alice, another user of the same app, with her own token and key, is not refused.
    expect(await call(aliceToken, aliceKey)).toBe(200);
  });
});
