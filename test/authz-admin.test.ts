import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALG, coseKeyFromMap, utf8, decodeCbor, fromBase64Url, jwkToCoseKey, toBase64Url, toHex, verifyCwt, type CborMap, type CoseKey, type ParsedHeaders } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, errorOf, loginAndConsent, post as postTo, type Enc } from './support/authz-client.js';

const ADMIN = 'admin-credential-for-admin-tests';
let now = 1_800_000_000;
const clock = () => now;

interface Running {
  server: AuthzServer;
  store: SqliteStore;
  base: string;
}
async function start(signingAlgorithm?: 'EdDSA' | 'ES256'): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'authz-admin-'));
  const store = new SqliteStore(join(dir, 'authz.sqlite'));
  const server = await createAuthzServer({ store, dataDir: dir, clock, adminToken: ADMIN, ...(signingAlgorithm ? { signingAlgorithm } : {}) });
  return { server, store, base: (await server.listen(0)).url };
}
async function stop(r: Running): Promise<void> {
  await r.server.close();
  r.store.close();
}
function admin(base: string, path: string, body: unknown, token = ADMIN): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}
async function publishedKeys(base: string): Promise<CoseKey[]> {
  const res = await fetch(`${base}/keys`);
  return (decodeCbor(new Uint8Array(await res.arrayBuffer())) as CborMap[]).map((m) => coseKeyFromMap(m));
}
/** Verifies as a device would: with only the published keys, picked by kid. */
async function verifyWithPublished(base: string, token: Uint8Array, audience: string) {
  const keys = await publishedKeys(base);
  const byKid = (h: ParsedHeaders) => keys.find((k) => k.kid && h.kid && toHex(k.kid) === toHex(h.kid));
  return verifyCwt(token, byKid, { audience, clock, provider: nativeProvider, allowNoCnf: true });
}

let r: Running;
const post = (path: string, body: Parameters<typeof postTo>[2], enc: Enc, headers: Record<string, string> = {}) => postTo(r.base, path, body, enc, headers);
beforeAll(async () => {
  r = await start();
});
afterAll(() => stop(r));

// Strong enough for the admin API's secret and password checks (authz/secret-strength.ts).
const PORTAL_SECRET = 'portal-Vq3xT9kLm2Rw8ZpB4nYc7';
const NEW_SECRET = 'new-Hq7wP2zR9tLx4mKc8VbN3s';
const NURSE_SECRET = 'nurse-Jk5Tq8wXz2Lp9RmC4vBn7';
const BOB_PASSWORD = 'bob-Horse-battery-7';

describe('admin API: registration over HTTP', () => {
  it('refuses a missing or wrong admin credential on every endpoint', async () => {
    for (const path of ['/admin/audiences', '/admin/clients', '/admin/users', '/admin/rotate-key']) {
      expect((await admin(r.base, path, {}, 'wrong')).status).toBe(401);
      expect((await fetch(`${r.base}${path}`, { method: 'POST', body: '{}' })).status).toBe(401);
    }
    expect((await fetch(`${r.base}/admin/provision/x`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
  });
  it('registers an audience, a client and a user that then work at the token endpoint and the login page', async () => {
    expect((await admin(r.base, '/admin/audiences', { id: 'meter', scopes: ['read', [['/kwh', 1]]] })).status).toBe(201);
    const c = await admin(r.base, '/admin/clients', {
      id: 'portal',
      secret: PORTAL_SECRET,
      audiences: ['meter'],
      scopes: ['read', [['/kwh', 1]]],
      grantTypes: ['client_credentials', 'authorization_code'],
      redirectUris: ['http://127.0.0.1:9/cb'],
    });
    expect(c.status).toBe(201);
    expect(await c.json()).toEqual({ id: 'portal', audiences: ['meter'], grantTypes: ['client_credentials', 'authorization_code'] });
    expect((await admin(r.base, '/admin/users', { username: 'bob', password: BOB_PASSWORD })).status).toBe(201);

    const t = await post('/token', new Map<number, unknown>([[33, 2], [5, 'meter'], [9, [['/kwh', 1]]]]) as CborMap, 'cbor', { authorization: basic('portal', PORTAL_SECRET) });
    expect(t.status).toBe(200);
    expect((await verifyWithPublished(r.base, t.data.get(1), 'meter')).claims.scope).toEqual([['/kwh', 1]]);

    const verifier = 'b'.repeat(50);
    const code = await loginAndConsent(r.base, new URLSearchParams({ response_type: 'code', client_id: 'portal', redirect_uri: 'http://127.0.0.1:9/cb', code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'meter' }), 'bob', BOB_PASSWORD);
    const byCode = await post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'http://127.0.0.1:9/cb' }, 'json', { authorization: basic('portal', PORTAL_SECRET) });
    expect(byCode.status).toBe(200);
    expect((await verifyWithPublished(r.base, fromBase64Url(byCode.data.access_token), 'meter')).claims.sub).toBe('bob');
  });
  it('refuses bad bodies and bad registrations with 400', async () => {
    expect((await admin(r.base, '/admin/clients', '[1]')).status).toBe(400);
    expect((await admin(r.base, '/admin/clients', '{oops')).status).toBe(400);
    expect((await admin(r.base, '/admin/clients', { id: 'bad id!' })).status).toBe(400);
    expect((await admin(r.base, '/admin/clients', { id: 'g', grantTypes: ['magic'] })).status).toBe(400);
    expect((await admin(r.base, '/admin/clients', { id: 'u', redirectUris: ['http://x/cb#frag'] })).status).toBe(400);
    expect((await admin(r.base, '/admin/audiences', { id: 'l', lifetime: -5 })).status).toBe(400);
    const weakSecret = await admin(r.base, '/admin/clients', { id: 'weak', secret: 'portal-secret', audiences: ['meter'] });
    expect(weakSecret.status).toBe(400);
    expect(JSON.stringify(await weakSecret.json())).not.toContain('portal-secret');
    expect((await admin(r.base, '/admin/users', { username: 'eve', password: 'hunter2' })).status).toBe(400);
    const common = await admin(r.base, '/admin/users', { username: 'eve', password: 'Password1234!' });
    expect(common.status).toBe(400);
    expect(JSON.stringify(await common.json())).toContain('among the first an attacker tries');
    expect((await admin(r.base, '/admin/users', { username: 'eve' })).status).toBe(400);
    expect((await admin(r.base, '/admin/nothing', {})).status).toBe(404);
  });
  it('a re-registered secret takes effect at once, even for a client whose secret check was cached', async () => {
    const auth = (s: string) => ({ authorization: basic('portal', s) });
    const ask = (s: string) => post('/token', { grant_type: 'client_credentials', audience: 'meter', scope: 'read' }, 'json', auth(s));
    expect((await ask(PORTAL_SECRET)).status).toBe(200);
    expect((await ask(PORTAL_SECRET)).status).toBe(200); // served from the cache
    expect(errorOf(await ask(PORTAL_SECRET.slice(0, -1)))).toBe('invalid_client');
    expect((await admin(r.base, '/admin/clients', { id: 'portal', secret: NEW_SECRET, audiences: ['meter'], scopes: ['read'] })).status).toBe(201);
    expect(errorOf(await ask(PORTAL_SECRET))).toBe('invalid_client');
    expect((await ask(NEW_SECRET)).status).toBe(200);
  });
});

describe('key rotation over the admin API', () => {
  it('new tokens carry the new kid; the old key keeps verifying its tokens until they have expired', async () => {
    const ask = () => post('/token', { grant_type: 'client_credentials', audience: 'meter', scope: 'read' }, 'json', { authorization: basic('portal', NEW_SECRET) });
    const before = fromBase64Url((await ask()).data.access_token);
    const oldKid = (await verifyWithPublished(r.base, before, 'meter')).header.kid!;
    expect(toHex(oldKid)).toBe(r.server.keys.current().kid);

    const rot = await admin(r.base, '/admin/rotate-key', { keepSeconds: 3600 });
    expect(rot.status).toBe(201);
    const { kid: newKid } = (await rot.json()) as { kid: string };
    expect(newKid).not.toBe(toHex(oldKid));
    const after = fromBase64Url((await ask()).data.access_token);
    expect(toHex((await verifyWithPublished(r.base, after, 'meter')).header.kid!)).toBe(newKid);
    // The old token still verifies with only what is published.
    expect((await verifyWithPublished(r.base, before, 'meter')).claims.aud).toBe('meter');
    expect((await publishedKeys(r.base)).map((k) => toHex(k.kid!)).sort()).toEqual([toHex(oldKid), newKid].sort());
    // The JWKS follows, with the same kids (base64url).
    const jwks = (await (await fetch(`${r.base}/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([toBase64Url(oldKid), toBase64Url(Buffer.from(newKid, 'hex'))].sort());

    // Past the old tokens' lifetime the old key is no longer published (and the old token has expired).
    now += 3601;
    expect((await publishedKeys(r.base)).map((k) => toHex(k.kid!))).toEqual([newKid]);
    await expect(verifyWithPublished(r.base, before, 'meter')).rejects.toThrow();
    expect(toHex((await verifyWithPublished(r.base, fromBase64Url((await ask()).data.access_token), 'meter')).header.kid!)).toBe(newKid);
  });
  it('rotates to an ES256 key on request', async () => {
    const rot = await admin(r.base, '/admin/rotate-key', { alg: 'ES256', keepSeconds: 60 });
    expect(rot.status).toBe(201);
    const t = await post('/token', { grant_type: 'client_credentials', audience: 'meter', scope: 'read' }, 'json', { authorization: basic('portal', NEW_SECRET) });
    const v = await verifyWithPublished(r.base, fromBase64Url(t.data.access_token), 'meter');
    expect(v.header.alg.id).toBe(ALG.ES256);
  });
});

describe('ES256 signing keys', () => {
  it('a service started with ES256 signs ES256 tokens and publishes a P-256 key as COSE_Key and JWK', async () => {
    const es = await start('ES256');
    try {
      expect((await admin(es.base, '/admin/audiences', { id: 'pump', scopes: ['dose'] })).status).toBe(201);
      expect((await admin(es.base, '/admin/clients', { id: 'nurse', secret: NURSE_SECRET, audiences: ['pump'], scopes: ['dose'] })).status).toBe(201);
      const t = await postTo(es.base, '/token', new Map<number, unknown>([[33, 2], [24, 'nurse'], [25, utf8(NURSE_SECRET)]]) as CborMap, 'cbor');
      expect(t.status).toBe(200);
      const v = await verifyWithPublished(es.base, t.data.get(1), 'pump');
      expect(v.header.alg.id).toBe(ALG.ES256);
      const [cose] = await publishedKeys(es.base);
      expect(cose!.kty).toBe('EC2');
      expect(cose!.crv).toBe('P-256');
      expect(cose!.d).toBeUndefined();
      const jwks = (await (await fetch(`${es.base}/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };
      expect(jwks.keys).toHaveLength(1);
      const jwk = jwks.keys[0]!;
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: toBase64Url(cose!.kid!) });
      expect(jwk.d).toBeUndefined();
      const back = jwkToCoseKey(jwk as never);
      expect(back.x).toEqual(cose!.x);
      expect(back.y).toEqual(cose!.y);
    } finally {
      await stop(es);
    }
  });
});
