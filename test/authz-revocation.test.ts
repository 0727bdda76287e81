import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyFromMap, decodeCbor, fromBase64Url, tokenHash, utf8, fromUtf8, verifyRevocationList, type CborMap, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, errorOf, loginAndConsent, post as postTo, type Enc } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-revocation-'));
const now = 1_800_000_000;
const clock = () => now;
let store: SqliteStore;
let server: AuthzServer;
let base = '';
const published: Array<{ audience: string; list: Uint8Array }> = [];
const post = (path: string, body: Parameters<typeof postTo>[2], enc: Enc, headers: Record<string, string> = {}) => postTo(base, path, body, enc, headers);
const app = { authorization: basic('app', 'app-secret') };
const rs = { authorization: basic('rs', 'rs-secret') };
const redirectUri = 'http://127.0.0.1:9/cb';

async function asKey(): Promise<CoseKey> {
  const res = await fetch(`${base}/keys`);
  return coseKeyFromMap((decodeCbor(new Uint8Array(await res.arrayBuffer())) as CborMap[])[0]!);
}
const active = async (token: string) => (await post('/introspect', { token }, 'json', rs)).data.active as boolean;

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: 'gw', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: 'pump', scopes: ['read'] });
  await registerClient(store, { id: 'app', secret: 'app-secret', audiences: ['ekg', 'gw', 'pump'], scopes: ['read'], grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'], redirectUris: [redirectUri] });
  await registerClient(store, { id: 'rs', secret: 'rs-secret', audiences: ['ekg', 'gw', 'pump'], grantTypes: [] });
  await registerUser(store, 'alice', 'correct horse');
  server = await createAuthzServer({ store, dataDir: dir, clock, onRevocationList: (audience, list) => published.push({ audience, list }) });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
});

describe('a replayed authorization code revokes what it issued (RFC 6749 §4.1.2)', () => {
  for (const enc of ['json', 'cbor'] as const) {
    it(`revokes the access tokens and refresh tokens of the code's grant, and only those (${enc})`, async () => {
      const verifier = 'r'.repeat(50);
      const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: redirectUri, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
      const code = await loginAndConsent(base, q, 'alice', 'correct horse');
      const redeem = () =>
        enc === 'json'
          ? post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri }, 'json', app)
          : post('/token', new Map<number | string, unknown>([[33, 1], [29, utf8(code)], ['code_verifier', verifier], [27, redirectUri]]) as CborMap, 'cbor', app);
      const first = await redeem();
      expect(first.status).toBe(200);
      const data = (k: string, n: number) => (first.data instanceof Map ? first.data.get(n) : first.data[k]);
      const tokenA = enc === 'json' ? (data('access_token', 1) as string) : Buffer.from(data('access_token', 1) as Uint8Array).toString('base64url');
      // The grant goes on: a refresh gives token B and a new refresh token.
      // In CBOR the refresh token is a byte string (RFC 9200 Table 5), its text's UTF-8.
      const refreshToken = enc === 'json' ? (data('refresh_token', 37) as string) : fromUtf8(data('refresh_token', 37) as Uint8Array);
      const refreshed = await post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, 'json', app);
      expect(refreshed.status).toBe(200);
      const tokenB = refreshed.data.access_token as string;
      // An unrelated token of the same client must survive.
      const other = (await post('/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'json', app)).data.access_token as string;
      expect(await active(tokenA)).toBe(true);
      expect(await active(tokenB)).toBe(true);
      published.length = 0;

      const replay = await redeem();
      expect(errorOf(replay)).toBe('invalid_grant');
      expect(await active(tokenA)).toBe(false);
      expect(await active(tokenB)).toBe(false);
      expect(await active(other)).toBe(true);
      expect(errorOf(await post('/token', { grant_type: 'refresh_token', refresh_token: refreshed.data.refresh_token }, 'json', app))).toBe('invalid_grant');
      // The audience's signed list now names both, and it was published for that audience only.
      expect(published.map((p) => p.audience)).toEqual(['ekg']);
      const list = verifyRevocationList(published[0]!.list, await asKey(), { audience: 'ekg', provider: nativeProvider });
      const hashes = list.fullSet!.map((h) => Buffer.from(h).toString('hex'));
      for (const t of [tokenA, tokenB]) expect(hashes).toContain(Buffer.from(tokenHash(fromBase64Url(t))).toString('hex'));
      expect(hashes).not.toContain(Buffer.from(tokenHash(fromBase64Url(other))).toString('hex'));
      // A third presentation changes nothing more and still fails.
      published.length = 0;
      expect(errorOf(await redeem())).toBe('invalid_grant');
      expect(published).toEqual([]);
    });
  }
  it('an unknown code revokes nothing', async () => {
    published.length = 0;
    const r = await post('/token', { grant_type: 'authorization_code', code: 'no-such-code', code_verifier: 'x'.repeat(50), redirect_uri: redirectUri }, 'json', app);
    expect(r.data.error).toBe('invalid_grant');
    expect(published).toEqual([]);
  });
});

describe('onRevocationList fires for the affected audience only', () => {
  it('publishes the gw list when a gw token is revoked, and nothing for an unknown token', async () => {
    const t = await post('/token', { grant_type: 'client_credentials', audience: 'gw' }, 'json', app);
    published.length = 0;
    expect((await post('/revoke', { token: t.data.access_token }, 'form', app)).status).toBe(200);
    expect(published.map((p) => p.audience)).toEqual(['gw']);
    const list = verifyRevocationList(published[0]!.list, await asKey(), { audience: 'gw', provider: nativeProvider });
    expect(list.fullSet!.map((h) => Buffer.from(h).toString('hex'))).toEqual([Buffer.from(tokenHash(fromBase64Url(t.data.access_token))).toString('hex')]);
    published.length = 0;
    // Revoking again, an unknown token, or another client's token: 200 (RFC 7009 §2.2) and no publication.
    expect((await post('/revoke', { token: t.data.access_token }, 'form', app)).status).toBe(200);
    expect((await post('/revoke', { token: 'AAAA' }, 'json', app)).status).toBe(200);
    const pumpToken = await post('/token', { grant_type: 'client_credentials', audience: 'pump' }, 'json', app);
    expect((await post('/revoke', { token: pumpToken.data.access_token }, 'json', rs)).status).toBe(200);
    expect(published).toEqual([]);
    expect(await active(pumpToken.data.access_token)).toBe(true);
  });
});
