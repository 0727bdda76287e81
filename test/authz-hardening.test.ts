import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyFromMap, decodeCbor, fromBase64Url, tokenHash, utf8, verifyRevocationList, type CborMap, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, LOGIN_ATTEMPTS, LOGIN_WINDOW, RATE_LIMIT_PRUNE_AFTER_S, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, errorOf, loginAndConsent, post as postTo, type Enc } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-hardening-'));
let now = 1_800_000_000;
const clock = () => now;
let store: SqliteStore;
let server: AuthzServer;
let base = '';
let port = 0;
const published: Array<{ audience: string; list: Uint8Array }> = [];
const post = (path: string, body: Parameters<typeof postTo>[2], enc: Enc, headers: Record<string, string> = {}) => postTo(base, path, body, enc, headers);
const app = { authorization: basic('app', 'app-secret') };
const peer = { authorization: basic('peer', 'peer-secret') };
const rs = { authorization: basic('rs', 'rs-secret') };
const redirectUri = 'http://127.0.0.1:9/cb';
const mode = (path: string) => statSync(path).mode & 0o777;
const hashOf = (token: string) => Buffer.from(tokenHash(fromBase64Url(token))).toString('hex');

async function asKey(): Promise<CoseKey> {
  const res = await fetch(`${base}/keys`);
  return coseKeyFromMap((decodeCbor(new Uint8Array(await res.arrayBuffer())) as CborMap[])[0]!);
}
const introspect = async (token: string, who = rs) => (await post('/introspect', { token }, 'json', who)).data;
const active = async (token: string) => (await introspect(token)).active as boolean;
function publishedHashes(audience: string, list: Uint8Array, key: CoseKey): string[] {
  return verifyRevocationList(list, key, { audience, provider: nativeProvider }).fullSet!.map((h) => Buffer.from(h).toString('hex'));
}

/** Signs in a user (authorization code grant, PKCE) and redeems the code: an access and a refresh token. */
async function grant(): Promise<{ access: string; refresh: string }> {
  const verifier = 'h'.repeat(50);
  const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: redirectUri, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
  const code = await loginAndConsent(base, q, 'alice', 'correct horse');
  const r = await post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri }, 'json', app);
  expect(r.status).toBe(200);
  return { access: r.data.access_token, refresh: r.data.refresh_token };
}

/** One raw HTTP request from a chosen loopback address, so that per-address limits can be told apart. */
function raw(from: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: from, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens the sign-in page from `from`, then posts the credentials; returns the status and the page. */
async function login(from: string, username: string, password: string): Promise<{ status: number; text: string }> {
  const page = await raw(from, 'GET', '/device', {});
  const cookie = String(page.headers['set-cookie']).split(';')[0]!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
  const body = new URLSearchParams({ csrf, next: '/device', username, password }).toString();
  return raw(from, 'POST', '/login', { cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }, body);
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerClient(store, { id: 'app', secret: 'app-secret', audiences: ['ekg'], scopes: ['read'], grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'], redirectUris: [redirectUri] });
  await registerClient(store, { id: 'peer', secret: 'peer-secret', audiences: ['ekg'], scopes: ['read'], grantTypes: ['client_credentials'] });
  await registerClient(store, { id: 'rs', secret: 'rs-secret', audiences: ['ekg'], grantTypes: [] });
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) await registerUser(store, u, 'correct horse');
  server = await createAuthzServer({ store, dataDir: dir, clock, onRevocationList: (audience, list) => published.push({ audience, list }) });
  const l = await server.listen(0);
  base = l.url;
  port = l.port;
});
afterAll(async () => {
  await server.close();
  store.close();
});

describe('a reused refresh token ends its grant (RFC 9700 §4.14.2)', () => {
  it('revokes the access tokens of the family, not only its refresh tokens, and publishes the list', async () => {
    const first = await grant();
    const refreshed = await post('/token', { grant_type: 'refresh_token', refresh_token: first.refresh }, 'json', app);
    expect(refreshed.status).toBe(200);
    const other = (await post('/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'json', app)).data.access_token as string;
    expect(await active(first.access)).toBe(true);
    expect(await active(refreshed.data.access_token)).toBe(true);
    published.length = 0;

    const reuse = await post('/token', { grant_type: 'refresh_token', refresh_token: first.refresh }, 'json', app);
    expect(errorOf(reuse)).toBe('invalid_grant');
    expect(reuse.data.error_description).not.toContain(first.refresh);
    expect(await active(first.access)).toBe(false);
    expect(await active(refreshed.data.access_token)).toBe(false);
    expect(await active(other)).toBe(true);
    expect(errorOf(await post('/token', { grant_type: 'refresh_token', refresh_token: refreshed.data.refresh_token }, 'json', app))).toBe('invalid_grant');
    expect(published.map((p) => p.audience)).toEqual(['ekg']);
    const hashes = publishedHashes('ekg', published[0]!.list, await asKey());
    expect(hashes).toContain(hashOf(first.access));
    expect(hashes).toContain(hashOf(refreshed.data.access_token));
    expect(hashes).not.toContain(hashOf(other));
  });
});

describe('/revoke takes refresh tokens too (RFC 7009 §2, §2.1)', () => {
  for (const enc of ['json', 'form', 'cbor'] as const) {
    it(`revokes a refresh token and the access tokens of its grant (${enc})`, async () => {
      const g = await grant();
      published.length = 0;
      const r =
        enc === 'cbor'
          ? await post('/revoke', new Map<number, unknown>([[11, utf8(g.refresh)]]) as CborMap, 'cbor', app)
          : await post('/revoke', { token: g.refresh }, enc, app);
      expect(r.status).toBe(200);
      expect(errorOf(await post('/token', { grant_type: 'refresh_token', refresh_token: g.refresh }, 'json', app))).toBe('invalid_grant');
      expect(await active(g.access)).toBe(false);
      expect(published.map((p) => p.audience)).toEqual(['ekg']);
      expect(publishedHashes('ekg', published[0]!.list, await asKey())).toContain(hashOf(g.access));
    });
  }
  it("another client's refresh token answers 200 and stays valid", async () => {
    const g = await grant();
    published.length = 0;
    expect((await post('/revoke', { token: g.refresh }, 'json', peer)).status).toBe(200);
    expect(published).toEqual([]);
    expect(await active(g.access)).toBe(true);
    expect((await post('/token', { grant_type: 'refresh_token', refresh_token: g.refresh }, 'json', app)).status).toBe(200);
  });
});

describe('the SQLite file holds secret keys: mode 0600', () => {
  it('creates the database, -wal and -shm owner-only', () => {
    const path = join(dir, 'authz.sqlite');
    expect(mode(path)).toBe(0o600);
    expect(mode(`${path}-wal`)).toBe(0o600);
    expect(mode(`${path}-shm`)).toBe(0o600);
  });
  it('tightens an existing world-readable database file on open', async () => {
    const d = mkdtempSync(join(tmpdir(), 'authz-mode-'));
    const path = join(d, 'authz.sqlite');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    const s = new SqliteStore(path);
    try {
      await registerAudience(s, nativeProvider, { id: 'ekg' });
      expect(mode(path)).toBe(0o600);
      expect(mode(`${path}-wal`)).toBe(0o600);
      expect(mode(`${path}-shm`)).toBe(0o600);
    } finally {
      s.close();
    }
  });
});

describe('introspection answers only resource servers of the audience (RFC 7662 §4)', () => {
  it("a client that may ask for tokens there learns nothing of another client's token", async () => {
    const t = (await post('/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'json', peer)).data.access_token as string;
    expect(await introspect(t, app)).toEqual({ active: false });
    expect(await introspect(t, peer)).toEqual({ active: false });
    const byRs = await introspect(t, rs);
    expect(byRs.active).toBe(true);
    expect(byRs.sub).toBe('peer');
  });
  it('registers the role explicitly or by default, and migrates old resource servers', async () => {
    const d = mkdtempSync(join(tmpdir(), 'authz-role-'));
    const path = join(d, 'authz.sqlite');
    let s = new SqliteStore(path);
    expect((await registerClient(s, { id: 'gw', audiences: ['ekg'], grantTypes: ['client_credentials'], resourceServer: true })).resourceServer).toBe(true);
    expect((await registerClient(s, { id: 'plain', audiences: ['ekg'] })).resourceServer).toBe(false);
    await registerClient(s, { id: 'old-rs', audiences: ['ekg'], grantTypes: [] });
    // Back to schema version 2, from before the role existed (undoing the later migrations too).
    s.db.exec(`DROP INDEX tokens_by_hash; ALTER TABLE tokens DROP COLUMN cti_in_token; ALTER TABLE revocations DROP COLUMN issued_at; DROP TABLE pushed_requests; ALTER TABLE clients DROP COLUMN tls_client_auth; ALTER TABLE clients DROP COLUMN require_par; DROP TABLE dpop_proofs; ALTER TABLE auth_codes DROP COLUMN dpop_jkt; ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt; ALTER TABLE clients DROP COLUMN message_pop; DROP INDEX tokens_parent; ALTER TABLE tokens DROP COLUMN parent_hash;
      DROP INDEX tokens_exi; ALTER TABLE tokens DROP COLUMN exi_seq; ALTER TABLE revocations DROP COLUMN exi_seq;
      ALTER TABLE clients DROP COLUMN resource_server; UPDATE schema_version SET version = 2`);
    s.close();
    s = new SqliteStore(path);
    try {
      expect((await s.getClient('old-rs'))?.resourceServer).toBe(true);
      expect((await s.getClient('gw'))?.resourceServer).toBe(false); // had grant types: a client until re-registered
      expect((await s.getClient('plain'))?.resourceServer).toBe(false);
    } finally {
      s.close();
    }
  });
});

describe('failed sign-ins are rate-limited (RFC 6749 §10.10)', () => {
  it('per user name: after the limit even the right password gets 429, until the window passes', async () => {
    for (let i = 0; i < LOGIN_ATTEMPTS; i++) expect((await login(`127.0.0.${10 + i}`, 'alice', 'wrong')).status).toBe(401);
    const refused = await login('127.0.0.30', 'alice', 'correct horse');
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('id="error"');
    expect((await login('127.0.0.30', 'bob', 'correct horse')).status).toBe(303);
    now += LOGIN_WINDOW;
    expect((await login('127.0.0.30', 'alice', 'correct horse')).status).toBe(303);
  });
  it('parallel guesses cannot all slip under the limit (each is counted before the password check)', async () => {
    now += LOGIN_WINDOW;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => login(`127.0.1.${i}`, 'dave', i === 19 ? 'correct horse' : 'wrong')));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401 || s === 303).length).toBeLessThanOrEqual(LOGIN_ATTEMPTS);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20 - LOGIN_ATTEMPTS);
  });
  it('a right password gives its attempt back: successes never add up to a lock-out', async () => {
    now += LOGIN_WINDOW;
    for (let i = 0; i < 3 * LOGIN_ATTEMPTS; i++) expect((await login('127.0.0.50', 'erin', 'correct horse')).status).toBe(303);
  });
  it('a blocked address adds no more rows, whatever user names it tries; old rows are pruned', async () => {
    now += LOGIN_WINDOW;
    for (let i = 0; i < LOGIN_ATTEMPTS; i++) await login('127.0.2.1', `name${i}`, 'wrong');
    const rows = () => (store.db.prepare('SELECT COUNT(*) AS n FROM rate_limits').get() as { n: number }).n;
    const before = rows();
    for (let i = 0; i < 30; i++) expect((await login('127.0.2.1', `other${i}`, 'wrong')).status).toBe(429);
    expect(rows()).toBe(before);
    // An hour on, the next few hundred hits sweep every stale row away.
    now += RATE_LIMIT_PRUNE_AFTER_S + 1;
    for (let i = 0; i < 256; i++) await store.hitRateLimit(`probe:${i % 4}`, now, LOGIN_WINDOW);
    expect(rows()).toBeLessThanOrEqual(4 + 1);
  });
  it('a success gives back only into the window it was counted in', async () => {
    now += LOGIN_WINDOW;
    const k = 'release-probe';
    const t0 = now;
    await store.hitRateLimit(k, t0, LOGIN_WINDOW); // a success's attempt, counted in the old window
    for (let i = 0; i < LOGIN_ATTEMPTS; i++) await store.hitRateLimit(k, t0 + LOGIN_WINDOW + i, LOGIN_WINDOW); // a new window of failures
    await store.releaseRateLimit(k, t0, LOGIN_WINDOW); // the old success comes back late
    expect(await store.hitRateLimit(k, t0 + LOGIN_WINDOW + 10, LOGIN_WINDOW)).toBe(LOGIN_ATTEMPTS + 1);
  });
  it('per address: failures for many user names block that address only', async () => {
    for (let i = 0; i < LOGIN_ATTEMPTS; i++) expect((await login('127.0.0.40', `nobody${i}`, 'wrong')).status).toBe(401);
    expect((await login('127.0.0.40', 'carol', 'correct horse')).status).toBe(429);
    expect((await login('127.0.0.41', 'carol', 'correct horse')).status).toBe(303);
    now += LOGIN_WINDOW;
    expect((await login('127.0.0.40', 'carol', 'correct horse')).status).toBe(303);
  });
});
