/**
 * Adversarial review 36, DPoP replay record of the gateway (sender-constraint/dpop-replay.ts).
 * Stop 35 gave each DPoP key (jkt) a share of the in-memory record (an eighth of it), so that one
 * token holder cannot fill it for every client. But a DPoP key is the client's own choice: one
 * client asks the service for a token per key it makes (each costs one /token request) and fills
 * the record with eight of them. Every other client's proofs are then refused 503 `busy` for the
 * entries' lifetime. Against the real service (HTTP, SQLite on disk) issuing DPoP-bound JWTs, a
 * real gateway on a real port and a real upstream; the record is the gateway's own in-memory one,
 * at a capacity of 16 (its default share, an eighth, is then 2) instead of 100,000 (12,500).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, generateKeyPair, type CryptoKey } from 'jose';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { createGateway, type Gateway } from '../gateway/index.js';
import { MemoryDpopReplay } from '../sender-constraint/index.js';
import { dpopProofJwt } from './support/dpop-proof-jwt.js';
import { basic } from './support/authz-client.js';

const API = 'https://api.example/records';
const PUBLIC = 'http://gateway.test';
const secretOf = (id: string) => `${id}-secret-0123456789abcdef`;
type KeyPair = { privateKey: CryptoKey; publicKey: CryptoKey };

let dir: string;
let store: SqliteStore;
let service: AuthzServer;
let base: string;
let upstream: http.Server;
let gateway: Gateway;
let gatewayUrl: string;
let replay: MemoryDpopReplay;

const proof = (key: KeyPair, htm: string, htu: string, accessToken?: string): Promise<string> => dpopProofJwt(key, htm, htu, accessToken ? { accessToken } : {});

/** A DPoP-bound JWT for `client`, bound to `key` (client credentials at the real /token). */
async function tokenFor(client: string, key: KeyPair): Promise<string> {
  const r = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client, secretOf(client)), dpop: await proof(key, 'POST', `${base}/token`) },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: API, scope: 'read' }).toString(),
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
  dir = mkdtempSync(join(tmpdir(), 'review36-dpop-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: API, scopes: ['read'], tokenFormat: 'jwt' });
  for (const id of ['mallory', 'app']) await registerClient(store, { id, secret: secretOf(id), audiences: [API], scopes: ['read'] });
  service = await createAuthzServer({ store, dataDir: dir });
  base = (await service.listen(0)).url;
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const clock = () => Date.now() / 1000;
  replay = new MemoryDpopReplay({ clock, capacity: 16 }); // default share: 16 / 8 = 2 per key
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

describe('review 36: the DPoP replay record shared by clients, not by keys', () => {
  it('one client with a token per DPoP key of its own cannot fill the record: another client still gets through', async () => {
    const victimKey = await generateKeyPair('ES256', { extractable: true });
    const victimToken = await tokenFor('app', victimKey);
    // Mallory: eight keys, a token bound to each, each proof a legitimate one by the bound key.
    const mallory: number[] = [];
    for (let k = 0; k < 8; k++) {
      const key = await generateKeyPair('ES256', { extractable: true });
      const token = await tokenFor('mallory', key);
      for (let i = 0; i < 2; i++) mallory.push(await call(token, key));
    }
    // Her first two proofs go through; before the fix all sixteen did (two per key), the record
    // was full, and the victim's first request was 503 (busy) for the entries' two minutes.
    expect(mallory.slice(0, 2)).toEqual([200, 200]);
    expect(await call(victimToken, victimKey)).toBe(200);
    // Past her client's share Mallory is refused, and only she is.
    expect(mallory.slice(2).every((s) => s === 503)).toBe(true);
    expect(await call(victimToken, victimKey)).toBe(200);
  });
});
