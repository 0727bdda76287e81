/**
 * Split tokens (issue 11) end to end: the real service (in process) registered `--split-token`
 * writes each JWT's signature half to a real redis-server and answers header.payload; the client
 * is oauth4webapi (shares no code with keybound); `keybound gateway serve --redis` joins the
 * halves and verifies the whole JWT. Refused: a half whose signature is missing (never issued,
 * deleted), expired, or tampered (another signature, garbage), a header.payload with a changed
 * claim; the upstream never sees either half.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import * as oauth from 'oauth4webapi';
import { Redis } from 'ioredis';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { gatewayServe } from '../cli/index.js';
import { splitTokenKey } from '../sender-constraint/index.js';
import type { Gateway } from '../gateway/index.js';
import { startRedis } from './support/redis-server.js';
import { stop } from './support/processes.js';

const API = 'https://api.example/split';
const SHORT = 'https://api.example/split-short'; // a 1 s lifetime: its signature half expires in Redis
const SECRET = randomBytes(24).toString('base64url');
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const client: oauth.Client = { client_id: 'svc' };

let dir: string;
let store: SqliteStore;
let service: AuthzServer;
let redis: { process: ChildProcess; url: string };
let redisClient: Redis;
let upstream: http.Server;
const seenUpstream: string[] = [];
const gateways: Gateway[] = [];
let gatewayUrl: string;
let shortGatewayUrl: string;
let dpop: oauth.DPoPHandle;
let tokenFor: (audience: string) => Promise<string>;

async function startGateway(audience: string, base: string): Promise<string> {
  let out = '';
  const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } };
  gateways.push(await gatewayServe(['--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, '--audience', audience, '--authz-url', base, '--redis', redis.url, '--port', '0', '--log-level', 'error'], io, {}));
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+) /.exec(out)?.[1];
  if (!url) throw new Error(`no address in ${out}`);
  return url;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'split-token-'));
  redis = await startRedis();
  redisClient = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redisClient.connect();
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: API, scopes: ['read'], tokenFormat: 'jwt', splitToken: true });
  await registerAudience(store, nativeProvider, { id: SHORT, scopes: ['read'], tokenFormat: 'jwt', splitToken: true, lifetime: 1 });
  await registerClient(store, { id: 'svc', secret: SECRET, audiences: [API, SHORT], scopes: ['read'] });
  service = await createAuthzServer({ store, dataDir: dir, splitTokens: redisClient });
  const base = (await service.listen(0)).url;
  upstream = http.createServer((req, res) => {
    seenUpstream.push(JSON.stringify(req.headers));
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url })));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  gatewayUrl = await startGateway(API, base);
  shortGatewayUrl = await startGateway(SHORT, base);
  const as = await oauth.processDiscoveryResponse(new URL(base), await oauth.discoveryRequest(new URL(base), { algorithm: 'oauth2', ...insecure }));
  dpop = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  tokenFor = async (audience) => {
    const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(SECRET), { scope: 'read', audience }, { DPoP: dpop, ...insecure });
    return (await oauth.processClientCredentialsResponse(as, client, response)).access_token;
  };
});

afterAll(async () => {
  for (const g of gateways) await g.close();
  if (upstream) await new Promise<void>((r) => upstream.close(() => r()));
  await service?.close();
  store?.close();
  redisClient?.disconnect();
  await stop(redis?.process);
  rmSync(dir, { recursive: true, force: true });
});

/** A DPoP request by oauth4webapi (its own proof, ath over the token it holds). */
async function call(url: string, token: string, path = '/records/1'): Promise<Response> {
  try {
    return await oauth.protectedResourceRequest(token, 'GET', new URL(`${url}${path}`), new Headers(), null, { DPoP: dpop, ...insecure });
  } catch (e) {
    // oauth4webapi throws on a 401 challenge; the refusal is its response.
    if (e instanceof oauth.WWWAuthenticateChallengeError) return e.response;
    throw e;
  }
}

async function refused(r: Response, description: RegExp): Promise<void> {
  expect(r.status).toBe(401);
  expect(r.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
  expect(((await r.json()) as { error_description: string }).error_description).toMatch(description);
}

describe('split tokens: the service stores the signature half, the gateway joins it', () => {
  it('issues header.payload, stores the signature under its hash for the token lifetime, and the joined token passes', async () => {
    const token = await tokenFor(API);
    expect(token.split('.')).toHaveLength(2);
    const signature = await redisClient.get(splitTokenKey(token));
    expect(signature).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const ttl = await redisClient.pttl(splitTokenKey(token));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600_000);
    const before = seenUpstream.length;
    const r = await call(gatewayUrl, token, '/records/7');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ path: '/records/7' });
    expect(seenUpstream.length).toBe(before + 1);
    // The upstream never sees either half.
    const seen = seenUpstream.at(-1)!;
    expect(seen).not.toContain(token.split('.')[1]!.slice(0, 40));
    expect(seen).not.toContain(signature!.slice(0, 40));
    expect(seen).toContain('x-keybound-jkt');
  });

  it('refuses a header.payload whose signature half is missing: deleted at the service side, or never issued (a claim changed)', async () => {
    const token = await tokenFor(API);
    const [h, p] = token.split('.');
    const changed = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'read admin' })).toString('base64url');
    await refused(await call(gatewayUrl, `${h}.${changed}`), /unknown or expired split token/);
    expect((await call(gatewayUrl, token)).status).toBe(200);
    await redisClient.del(splitTokenKey(token));
    await refused(await call(gatewayUrl, token), /unknown or expired split token/);
  });

  it('refuses a header.payload whose signature half expired with the token', async () => {
    const token = await tokenFor(SHORT);
    expect((await call(shortGatewayUrl, token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await redisClient.get(splitTokenKey(token))).toBeNull();
    await refused(await call(shortGatewayUrl, token), /unknown or expired split token/);
  });

  it('refuses a tampered signature half: another token\'s signature, a flipped one, or garbage', async () => {
    const token = await tokenFor(API);
    const other = await tokenFor(API);
    const key = splitTokenKey(token);
    const signature = (await redisClient.get(key))!;
    const flipped = (signature[10] === 'A' ? 'B' : 'A');
    const before = seenUpstream.length;
    await redisClient.set(key, (await redisClient.get(splitTokenKey(other)))!, 'PX', 60_000);
    await refused(await call(gatewayUrl, token), /did not verify/);
    await redisClient.set(key, signature.slice(0, 10) + flipped + signature.slice(11), 'PX', 60_000);
    await refused(await call(gatewayUrl, token), /did not verify/);
    await redisClient.set(key, 'not a signature!', 'PX', 60_000);
    await refused(await call(gatewayUrl, token), /malformed/);
    await redisClient.set(key, 'A'.repeat(100_000), 'PX', 60_000);
    await refused(await call(gatewayUrl, token), /malformed/);
    expect(seenUpstream.length).toBe(before);
    // Restored, the same half passes again: the refusals were the signature's.
    await redisClient.set(key, signature, 'PX', 60_000);
    expect((await call(gatewayUrl, token)).status).toBe(200);
  });

  it('refuses the service issuing a split token without a store for its signature (no half-token handed out)', async () => {
    const bare = await createAuthzServer({ store, dataDir: dir });
    try {
      const base = (await bare.listen(0)).url;
      const r = await fetch(`${base}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', audience: API }).toString(),
      });
      expect(r.status).toBe(500);
      expect(JSON.stringify(await r.json())).not.toMatch(/eyJ/);
    } finally {
      await bare.close();
    }
  });
});
