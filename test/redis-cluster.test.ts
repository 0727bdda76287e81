/**
 * A Redis Cluster (three primaries of Debian's redis-server) under the components that share
 * state through Redis, as deployed: two `keybound gateway serve` instances, each given another
 * node (one URL, or seed nodes), share the DPoP replay record, whose keys land on every node; the
 * service started from the CLI (`keybound authz serve --split-token-redis`, a child process)
 * writes split tokens' signature halves across the nodes and a gateway joins them. A plain Redis
 * client given one node answered 503 for the keys of the other nodes' slots (MOVED). The broker,
 * whose admission script spans keys, refuses a cluster node at start with one line; several URLs
 * that are not a cluster's nodes are a usage error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import * as oauth from 'oauth4webapi';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, SqliteStore } from '../authz/index.js';
import { gatewayServe, main, UsageError } from '../cli/index.js';
import type { Gateway } from '../gateway/index.js';
import { dpopProofJwt } from './support/dpop-proof-jwt.js';
import { keysPerNode, startRedisCluster, stopCluster, type RedisCluster } from './support/redis-cluster.js';
import { freePort, startRedis } from './support/redis-server.js';
import { stop, waitForLine } from './support/processes.js';
import { trustFile } from './support/broker-process.js';
import { createIssuer } from './support/broker-fixture.js';

const API = 'https://api.example/records';
const SPLIT = 'https://api.example/split';
const PUBLIC = 'http://gateway.test'; // the name both instances share behind a load balancer
const SECRET = randomBytes(24).toString('base64url');
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const client: oauth.Client = { client_id: 'svc' };
const bin = join(import.meta.dirname, '..', 'bin', 'keybound.js');

let dir: string;
let cluster: RedisCluster;
let service: ChildProcess;
let upstream: http.Server;
let seenUpstream = 0;
const gateways: Gateway[] = [];
let gwA: string;
let gwB: string;
let gwSplit: string;
let keys: oauth.CryptoKeyPair;
let tokenFor: (audience: string) => Promise<string>;

async function startGateway(audience: string, redis: string): Promise<string> {
  let out = '';
  const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } };
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const base = (/listening on (\S+)/.exec(serviceOut) ?? [])[1]!;
  gateways.push(await gatewayServe(['--upstream', upstreamUrl, '--audience', audience, '--authz-url', base, '--redis', redis, '--port', '0', '--public-url', PUBLIC, '--log-level', 'error'], io, {}));
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+) /.exec(out)?.[1];
  if (!url) throw new Error(`no address in ${out}`);
  return url;
}

let serviceOut = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redis-cluster-test-'));
  cluster = await startRedisCluster();
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const store = new SqliteStore(join(dataDir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: API, scopes: ['read'], tokenFormat: 'jwt' });
  await registerAudience(store, nativeProvider, { id: SPLIT, scopes: ['read'], tokenFormat: 'jwt', splitToken: true });
  await registerClient(store, { id: 'svc', secret: SECRET, audiences: [API, SPLIT], scopes: ['read'] });
  store.close();
  // The service is given one node: it finds the cluster by itself.
  service = spawn(process.execPath, [bin, 'authz', 'serve', '--data-dir', dataDir, '--port', '0', '--split-token-redis', cluster.urls[1]!], { stdio: ['ignore', 'pipe', 'pipe'] });
  service.stderr!.resume();
  serviceOut = (await waitForLine(service, /listening on (\S+)/, 60_000))[0];
  const base = /listening on (\S+)/.exec(serviceOut)![1]!;
  upstream = http.createServer((req, res) => {
    seenUpstream++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url })));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  gwA = await startGateway(API, cluster.urls[0]!);
  gwB = await startGateway(API, `${cluster.urls[1]},${cluster.urls[2]}`); // seed nodes
  gwSplit = await startGateway(SPLIT, cluster.urls[2]!);
  const as = await oauth.processDiscoveryResponse(new URL(base), await oauth.discoveryRequest(new URL(base), { algorithm: 'oauth2', ...insecure }));
  keys = await oauth.generateKeyPair('ES256');
  const dpop = oauth.DPoP(client, keys);
  tokenFor = async (audience) => {
    const request = () => oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(SECRET), { scope: 'read', audience }, { DPoP: dpop, ...insecure });
    try {
      return (await oauth.processClientCredentialsResponse(as, client, await request())).access_token;
    } catch (e) {
      if (!oauth.isDPoPNonceError(e)) throw e;
      return (await oauth.processClientCredentialsResponse(as, client, await request())).access_token;
    }
  };
}, 120_000);

afterAll(async () => {
  for (const g of gateways) await g.close();
  if (upstream) await new Promise<void>((r) => upstream.close(() => r()));
  await stop(service);
  await stopCluster(cluster);
  rmSync(dir, { recursive: true, force: true });
});

/** A DPoP proof (RFC 9449 §4.2) of the token's key, made with jose. */
const proof = (path: string, accessToken: string): Promise<string> => dpopProofJwt(keys, 'GET', `${PUBLIC}${path}`, { accessToken });

const get = (gateway: string, path: string, token: string, dpopProof: string) => fetch(`${gateway}${path}`, { headers: { authorization: `DPoP ${token}`, dpop: dpopProof } });

describe('gateways sharing a Redis Cluster', () => {
  it('serves every fresh proof at either instance, with replay records on every node of the cluster', async () => {
    const token = await tokenFor(API);
    const before = await keysPerNode(cluster);
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const path = `/records/${i}`;
      statuses.push((await get(i % 2 ? gwB : gwA, path, token, await proof(path, token))).status);
    }
    expect(statuses).toEqual(Array(30).fill(200));
    const after = await keysPerNode(cluster);
    const grown = after.map((n, i) => n - before[i]!);
    expect(grown.reduce((a, b) => a + b, 0)).toBe(30);
    // 30 random (jkt, jti) keys over three nodes' slots: each node holds some (one empty: 3 × (2/3)^30 ≈ 1e-5).
    expect(grown.every((n) => n > 0)).toBe(true);
  });

  it('refuses a proof replayed at the other instance, whichever node its record is on', async () => {
    const token = await tokenFor(API);
    for (let i = 0; i < 6; i++) {
      const path = `/replayed/${i}`;
      const p = await proof(path, token);
      expect((await get(gwA, path, token, p)).status).toBe(200);
      const before = seenUpstream;
      const again = await get(gwB, path, token, p);
      expect(again.status).toBe(401);
      expect(again.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
      expect(seenUpstream).toBe(before);
    }
  });
});

describe('split tokens on a Redis Cluster', () => {
  it('the service (CLI, given one node) writes each signature half into the cluster and the gateway joins it; a changed claim is refused', async () => {
    const before = (await keysPerNode(cluster)).reduce((a, b) => a + b, 0);
    for (let i = 0; i < 6; i++) {
      const token = await tokenFor(SPLIT);
      expect(token.split('.')).toHaveLength(2);
      expect((await get(gwSplit, '/records/1', token, await proof('/records/1', token))).status).toBe(200);
      const [header, payload] = token.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: 'read write' })).toString('base64url')}`;
      const refused = await get(gwSplit, '/records/1', forged, await proof('/records/1', forged));
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
    }
    // Six signature halves (and the gateway's replay records) were written through the cluster.
    expect((await keysPerNode(cluster)).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(before + 6);
  });
});

describe('what cannot use a Redis Cluster says so at start', () => {
  it('the broker given a cluster node exits 1 with one line: what it needs, the code, no stack trace', async () => {
    const proc = spawn(process.execPath, [bin, 'broker', 'serve', '--audience', 'broker-1', '--trust', trustFile(createIssuer().trust), '--port', '0', '--redis', cluster.urls[0]!], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)))).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`Redis at 127.0.0.1:${cluster.ports[0]} is a Redis Cluster node: the broker needs one Redis server`);
    expect(stderr).toMatch(/\(redis_unavailable\)\n$/);
    expect(stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it("several URLs that are not a cluster's nodes are a usage error naming the first; a URL of another scheme too", async () => {
    const single = await startRedis();
    const base = /listening on (\S+)/.exec(serviceOut)![1]!;
    try {
      const io = { stdout: { write: () => true }, stderr: { write: () => true } };
      const args = (redis: string) => ['--upstream', 'http://127.0.0.1:9', '--audience', API, '--authz-url', base, '--redis', redis, '--port', '0'];
      const port = new URL(single.url).port;
      await expect(gatewayServe(args(`${single.url},${cluster.urls[0]}`), io, {})).rejects.toThrow(new UsageError(`--redis: 127.0.0.1:${port} is not a Redis Cluster node; several URLs name a cluster's seed nodes, one URL a single server`));
      await expect(gatewayServe(args(`${cluster.urls[0]},http://127.0.0.1:1`), io, {})).rejects.toThrow(/^--redis takes redis:\/\/HOST:PORT URLs \(127\.0\.0\.1:1 is not one\)$/);
    } finally {
      await stop(single.process);
    }
  });
});

describe('a shared Redis unreachable at start', () => {
  it('the service exits with one line naming host, port, the flag and the code, never the password in the URL', async () => {
    const port = await freePort(); // nothing listens there
    let stderr = '';
    const io = { stdout: { write: () => true }, stderr: { write: (t: string) => ((stderr += t), true) } };
    const code = await main(['authz', 'serve', '--data-dir', join(dir, 'data'), '--port', '0', '--split-token-redis', `redis://:pa55-w0rd-in-url@127.0.0.1:${port}`], io);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`Redis at 127.0.0.1:${port} is not reachable (ECONNREFUSED): start redis-server there or fix --split-token-redis (redis_unavailable)`);
    expect(stderr).not.toContain('pa55-w0rd-in-url');
  }, 30_000);
});

describe('a Redis Cluster node lost under running gateways', () => {
  it('fails closed and fast: a proof whose record would live on the dead node is refused (503), never let through, and no request hangs', async () => {
    const token = await tokenFor(API);
    await stop(cluster.processes[0]); // the node gwA was given; its slots have no replica
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++) {
      const path = `/after-loss/${i}`;
      const before = seenUpstream;
      const sent = Date.now();
      const r = await get(i % 2 ? gwB : gwA, path, token, await proof(path, token));
      // ioredis retries a command for a lost node for about a second (its failover delay times its
      // redirection budget), then the gateway answers 503: bounded, never a hang.
      expect(Date.now() - sent).toBeLessThan(5_000);
      statuses.push(r.status);
      // Whatever the answer, the upstream was reached only for a 200.
      expect(seenUpstream - before).toBe(r.status === 200 ? 1 : 0);
    }
    expect(new Set(statuses).size).toBeGreaterThan(1);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
  }, 60_000);
});
