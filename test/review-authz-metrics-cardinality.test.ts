/**
 * Review (issue 15, /metrics of the service): what held. The attack is label-cardinality growth:
 * every request names something the attacker chooses (a client id, an audience, a path, a grant
 * type, a content type, a parameter), and a counter labelled by it would grow one series per
 * value until the process or the Prometheus server runs out of memory. 2000 distinct values
 * are sent over real HTTP; the exposition keeps the same bounded set of series (every label value
 * a known endpoint, a registered audience, a known grant, a registry code) and does not grow
 * with more distinct values. Also: a peer's X-Forwarded-For/Forwarded claiming loopback is not
 * believed (the socket's address decides), and the token is not accepted in a query string.
 */
import { mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allErrorCodes } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { scrape, type Exposition } from './support/prometheus-text.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-review-metrics-'));
const AUDIENCES = ['ekg', 'coaps://rs.example.com'];
const ENDPOINTS = ['token', 'introspect', 'revoke', 'device_authorization'];
const GRANTS = ['client_credentials', 'authorization_code', 'refresh_token', 'token_exchange', 'device_code'];
let store: SqliteStore;
let server: AuthzServer;
let base = '';

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  for (const id of AUDIENCES) await registerAudience(store, nativeProvider, { id, scopes: ['read'] });
  await registerClient(store, { id: 'app', secret: 'app-secret-long-enough', audiences: AUDIENCES, scopes: ['read'], grantTypes: ['client_credentials'] });
  server = await createAuthzServer({ store, dataDir: dir });
  base = (await server.listen(0)).url;
}, 60_000);
afterAll(async () => {
  await server?.close();
  store?.close();
});

/** Every label value of every series, checked against the bounded sets. */
function labelValues(e: Exposition): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const key of e.samples.keys()) {
    for (const [, name, value] of key.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) {
      if (!out.has(name!)) out.set(name!, new Set());
      out.get(name!)!.add(value!);
    }
  }
  return out;
}

/** `n` requests, each naming attacker-chosen values in every place a label could come from. */
async function hostileRound(n: number, tag: string): Promise<void> {
  const jobs: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    const v = `${tag}-${i}-${'z'.repeat(i % 50)}`;
    const which = i % 8;
    if (which === 0) jobs.push(post(base, '/token', { grant_type: 'client_credentials', audience: v }, 'json', { authorization: basic('app', 'app-secret-long-enough') }));
    if (which === 1) jobs.push(post(base, '/token', { grant_type: v }, 'json', { authorization: basic('app', 'app-secret-long-enough') }));
    if (which === 2) jobs.push(post(base, `/token/${v}`, { grant_type: 'client_credentials' }, 'json'));
    if (which === 3) jobs.push(fetch(`${base}/${encodeURIComponent(v)}?audience=${v}`).then((r) => r.arrayBuffer()));
    if (which === 4) jobs.push(fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': `application/${v}` }, body: '{}' }).then((r) => r.arrayBuffer()));
    if (which === 5) jobs.push(post(base, '/introspect', { token: 'AAAA', [v]: 'x' }, 'json', { authorization: basic(v, 'nope') }));
    if (which === 6) jobs.push(fetch(`${base}/trl/${encodeURIComponent(v)}`).then((r) => r.arrayBuffer()));
    if (which === 7) jobs.push(post(base, '/revoke', { token: 'AAAA', client_id: v }, 'form'));
    // A few at a time: the point is distinct values, not load.
    if (jobs.length >= 16) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

describe('/metrics label values stay in bounded sets whatever requests name', () => {
  it('2000 distinct client ids, audiences, paths, grant types, content types, parameter names: no new series, no growth', async () => {
    // A first 1000 reach every bounded label value the attack can reach (the per-address limiter's
    // temporarily_unavailable among them); the next 1000 distinct values add no series.
    await hostileRound(1000, 'first');
    const first = await scrape(`${base}/metrics`);
    await hostileRound(1000, 'second');
    const after = await scrape(`${base}/metrics`);
    expect([...after.samples.keys()].sort()).toEqual([...first.samples.keys()].sort());
    const codes = new Set(allErrorCodes().map(([c]) => c));
    for (const [name, values] of labelValues(after)) {
      for (const value of values) {
        if (name === 'audience') expect(AUDIENCES).toContain(value);
        else if (name === 'endpoint') expect(ENDPOINTS).toContain(value);
        else if (name === 'grant') expect(GRANTS).toContain(value);
        else if (name === 'reason') expect(codes.has(value as never)).toBe(true);
        else expect(['le']).toContain(name);
      }
    }
    expect(after.samples.size).toBeLessThan(100);
  }, 180_000);
});

describe('who may scrape: the socket decides, not a header', () => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

  it.runIf(external !== undefined)('a non-loopback peer claiming 127.0.0.1 in X-Forwarded-For, Forwarded, X-Real-IP or Host: 403', async () => {
    const s = await createAuthzServer({ store, dataDir: dir });
    const { port } = await s.listen(0, '0.0.0.0');
    try {
      const far = await fetch(`http://${external}:${port}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1', 'x-real-ip': '127.0.0.1', host: `127.0.0.1:${port}` } });
      expect(far.status).toBe(403);
      expect(await far.text()).not.toContain('keybound_');
    } finally {
      await s.close();
    }
  });

  it('with a metrics token, the token in the query string or in another header is not accepted', async () => {
    const s = await createAuthzServer({ store, dataDir: dir, metricsToken: 'metrics-token-0123456789abcdef' });
    const { url } = await s.listen(0);
    try {
      expect((await fetch(`${url}/metrics?access_token=metrics-token-0123456789abcdef`)).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { 'x-metrics-token': 'metrics-token-0123456789abcdef' } })).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer  metrics-token-0123456789abcdef' } })).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789abcdef' } })).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});
