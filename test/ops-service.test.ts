/**
 * Issue 15, the service as an operator runs it: /healthz, /readyz and Prometheus /metrics on
 * the service's own listener, scraped after real traffic and read by a strict parser of the
 * text format (support/prometheus-text.ts, no prom-client code) for the exact increments;
 * who may scrape; token_type the same at /token and /introspect in each encoding (RFC 9200
 * §5.8.2 and §8.7); GET /login shows where sign-in starts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCbor, toBase64Url, type CborMap } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { parsePrometheusText, sample, scrape, type Exposition } from './support/prometheus-text.js';
import { jsonLines, stop, waitForLine } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-ops-service-'));
let store: SqliteStore;
let server: AuthzServer;
let base = '';
const app = { authorization: basic('app', 'app-secret-long-enough') };
const rs = { authorization: basic('rs', 'rs-secret-long-enough') };
const cc = (audience: string) => ({ grant_type: 'client_credentials', audience });

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: 'tube', scopes: ['read'] });
  await registerClient(store, { id: 'app', secret: 'app-secret-long-enough', audiences: ['ekg', 'tube'], scopes: ['read'], grantTypes: ['client_credentials'] });
  await registerClient(store, { id: 'rs', secret: 'rs-secret-long-enough', audiences: ['ekg'], grantTypes: [], resourceServer: true });
  server = await createAuthzServer({ store, dataDir: dir });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
});

describe('/metrics on the service (Prometheus text format, exact increments after real traffic)', () => {
  it('counts issued tokens by grant and audience, refusals by reason code, revocations, and /token latency', async () => {
    const before = await scrape(`${base}/metrics`);
    const issued: string[] = [];
    for (const aud of ['ekg', 'ekg', 'tube']) {
      const r = await post(base, '/token', cc(aud), 'json', app);
      expect(r.status).toBe(200);
      issued.push(r.data.access_token);
    }
    expect((await post(base, '/token', cc('ekg'), 'json', { authorization: basic('app', 'wrong-secret') })).status).toBe(401);
    expect((await post(base, '/token', cc('ekg'), 'json', { authorization: basic('nobody', 'wrong-secret') })).status).toBe(401);
    expect((await post(base, '/token', cc('nowhere'), 'json', app)).status).toBe(400);
    expect((await post(base, '/token', { grant_type: 'password' }, 'json', app)).status).toBe(400);
    expect((await post(base, '/introspect', { token: issued[0] }, 'json', { authorization: basic('rs', 'nope') })).status).toBe(401);
    expect((await post(base, '/revoke', { token: issued[1] }, 'json', app)).status).toBe(200);
    const after = await scrape(`${base}/metrics`);
    const delta = (key: string) => sample(after, key) - sample(before, key);

    expect(after.types.get('keybound_authz_tokens_issued_total')).toBe('counter');
    expect(delta('keybound_authz_tokens_issued_total{audience="ekg",grant="client_credentials"}')).toBe(2);
    expect(delta('keybound_authz_tokens_issued_total{audience="tube",grant="client_credentials"}')).toBe(1);
    expect(delta('keybound_authz_requests_refused_total{endpoint="token",reason="invalid_client"}')).toBe(2);
    expect(delta('keybound_authz_requests_refused_total{endpoint="token",reason="invalid_target"}')).toBe(1);
    expect(delta('keybound_authz_requests_refused_total{endpoint="token",reason="unsupported_grant_type"}')).toBe(1);
    expect(delta('keybound_authz_requests_refused_total{endpoint="introspect",reason="invalid_client"}')).toBe(1);
    expect(delta('keybound_authz_revocations_total{audience="ekg"}')).toBe(1);
    expect(delta('keybound_authz_revocations_total{audience="tube"}')).toBe(0);
    // Every /token request is timed, refused or not: 3 issued + 4 refused.
    expect(after.types.get('keybound_authz_token_request_seconds')).toBe('histogram');
    expect(delta('keybound_authz_token_request_seconds_count')).toBe(7);
    expect(delta('keybound_authz_token_request_seconds_bucket{le="+Inf"}')).toBe(7);
    expect(sample(after, 'keybound_authz_token_request_seconds_sum')).toBeGreaterThan(sample(before, 'keybound_authz_token_request_seconds_sum'));
  });

  it('labels only with bounded values: an unknown audience or grant a client made up is no series', async () => {
    await post(base, '/token', cc(`made-up-${'x'.repeat(30)}`), 'json', app);
    await post(base, '/token', { grant_type: `urn:made-up:${'y'.repeat(30)}` }, 'json', app);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).not.toContain('made-up');
    expect(text).not.toContain('urn:');
  });

  it('the strict parser refuses what is not the text format (so the checks above can fail)', () => {
    expect(() => parsePrometheusText('keybound_x{reason=invalid} 1\n')).toThrow(/bad labels/);
    expect(() => parsePrometheusText('keybound x 1\n')).toThrow(/bad sample/);
    expect(() => parsePrometheusText('a 1\na 2\n')).toThrow(/duplicate/);
    const e: Exposition = parsePrometheusText('# TYPE a counter\na{z="1",b="2"} 3\n');
    expect(sample(e, 'a{b="2",z="1"}')).toBe(3);
  });
});

describe('who may scrape /metrics (SECURITY.md)', () => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

  it.runIf(external !== undefined)('without a metrics token: loopback peers only, a peer on another address gets 403', async () => {
    const s = await createAuthzServer({ store, dataDir: dir });
    const { port } = await s.listen(0, '0.0.0.0');
    try {
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
      const far = await fetch(`http://${external}:${port}/metrics`);
      expect(far.status).toBe(403);
      expect(await far.text()).not.toContain('keybound_');
      expect((await fetch(`http://${external}:${port}/healthz`)).status).toBe(200); // health stays public
    } finally {
      await s.close();
    }
  });

  it('with a metrics token: Bearer required, from loopback too; a wrong or missing one is 401', async () => {
    const s = await createAuthzServer({ store, dataDir: dir, metricsToken: 'metrics-token-0123456789abcdef' });
    const { url } = await s.listen(0);
    try {
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      const wrong = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789abcdeX' } });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Basic bWV0cmljcy10b2tlbi0wMTIzNDU2Nzg5YWJjZGVm' } })).status).toBe(401);
      await scrape(`${url}/metrics`, { authorization: 'Bearer metrics-token-0123456789abcdef' });
      expect((await fetch(`${url}/metrics`, { method: 'POST', headers: { authorization: 'Bearer metrics-token-0123456789abcdef' } })).status).toBe(405);
    } finally {
      await s.close();
    }
  });
});

describe('/healthz and /readyz', () => {
  it('healthz: the process answers; readyz: the store answers and a signing key is loaded', async () => {
    const h = await fetch(`${base}/healthz`);
    expect([h.status, await h.json()]).toEqual([200, { status: 'ok' }]);
    const r = await fetch(`${base}/readyz`);
    expect([r.status, await r.json()]).toEqual([200, { status: 'ready', checks: { store: true, keys: true } }]);
  });

  it('readyz is 503 and names the store when the store is gone, while healthz stays 200', async () => {
    const own = join(dir, 'own');
    const ownStore = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'kb-ops-ready-')), 'authz.sqlite'));
    const s = await createAuthzServer({ store: ownStore, dataDir: own });
    const { url } = await s.listen(0);
    try {
      ownStore.close();
      const r = await fetch(`${url}/readyz`);
      expect([r.status, await r.json()]).toEqual([503, { status: 'not ready', checks: { store: false, keys: true } }]);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('token_type: one representation per encoding, the same at /token and /introspect (RFC 9200 §5.8.2, §8.7)', () => {
  it('JSON: "PoP" in the token response and in introspection', async () => {
    const t = await post(base, '/token', cc('ekg'), 'json', app);
    expect(t.data.token_type).toBe('PoP');
    const i = await post(base, '/introspect', { token: t.data.access_token }, 'json', rs);
    expect(i.data).toMatchObject({ active: true, token_type: 'PoP' });
  });

  it('CBOR: 2 under token_type (34) in the token response and in introspection', async () => {
    const t = await post(base, '/token', new Map<number, unknown>([[33, 2], [5, 'ekg']]) as CborMap, 'cbor', app);
    expect(t.status).toBe(200);
    expect(t.data.get(34)).toBe(2);
    const i = await post(base, '/introspect', encodeCbor(new Map([[11, t.data.get(1) as Uint8Array]])), 'cbor', rs);
    expect(i.data.get(10)).toBe(true);
    expect(i.data.get(34)).toBe(2);
    // And the same token introspected in JSON reads "PoP": one token type, two spellings.
    expect((await post(base, '/introspect', { token: toBase64Url(t.data.get(1) as Uint8Array) }, 'json', rs)).data.token_type).toBe('PoP');
  });
});

describe('GET /login', () => {
  it('shows where sign-in starts (an application, or a device code at /device) instead of 405', async () => {
    const res = await fetch(`${base}/login`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<h1>Sign in<\/h1>/);
    expect(html).toMatch(/<a id="device-link" href="\/device">/);
    expect(html).toContain('/authorize');
    // The device page it points to answers (the next step works).
    expect((await fetch(`${base}/device`)).status).toBe(200);
    // POST is still the sign-in itself: without its CSRF-bound form it is refused, not a page.
    const posted = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=a&password=b' });
    expect(posted.status).toBeGreaterThanOrEqual(400);
    expect((await fetch(`${base}/login`, { method: 'PUT' })).status).toBe(405);
  });
});

describe('keybound authz serve as deployed: --metrics-token-file, --log-level', () => {
  const bin = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));

  it('stdout is the one listening line; stderr is JSON lines; /metrics takes the token from its file', async () => {
    const data = mkdtempSync(join(tmpdir(), 'kb-ops-serve-'));
    const tokenFile = join(data, 'metrics.token');
    writeFileSync(tokenFile, 'serve-metrics-token-5f4dcc3b5aa765d6\n', { mode: 0o600 });
    const proc = spawn(process.execPath, [bin, 'authz', 'serve', '--data-dir', join(data, 'as'), '--init', '--port', '0', '--metrics-token-file', tokenFile, '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const [, url] = await waitForLine(proc, /listening on (http:\/\/127\.0\.0\.1:\d+)\n/);
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      await scrape(`${url}/metrics`, { authorization: 'Bearer serve-metrics-token-5f4dcc3b5aa765d6' });
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect((await post(url!, '/token', cc('ekg'), 'json', { authorization: basic('nobody', 'x') })).status).toBe(401);
    } finally {
      await stop(proc);
    }
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const lines = jsonLines(stderr);
    expect(lines[0]).toMatchObject({ name: 'authz', event: 'listening', metricsToken: true });
    expect(lines.find((l) => l.event === 'request_refused')).toMatchObject({ code: 'invalid_client', clientId: 'nobody' });
    expect(stderr).not.toContain('serve-metrics-token');
  }, 60_000);

  it('an unknown --log-level or LOG_LEVEL is a usage error (exit 2) before anything starts', async () => {
    for (const [extra, env] of [[['--log-level', 'loud'], {}], [[], { LOG_LEVEL: 'chatty' }]] as const) {
      const proc = spawn(process.execPath, [bin, 'authz', 'serve', '--data-dir', mkdtempSync(join(tmpdir(), 'kb-ops-lvl-')), '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
      let stderr = '';
      proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      expect(await new Promise((r) => proc.once('exit', r))).toBe(2);
      expect(stderr).toMatch(/(--log-level|LOG_LEVEL) must be one of fatal, error, warn, info, debug, trace, silent/);
    }
  }, 60_000);
});
