/**
 * Review (issue 18): RFC 9200 §5.8.1 makes grant_type OPTIONAL, with client credentials implied.
 * The attack: a confidential client (or a library that "helpfully" drops grant_type, as ACE
 * clients do) sends the parameters of ANOTHER grant — an authorization code with its verifier, a
 * refresh token, a device code, a subject token — without grant_type. Taken silently as client
 * credentials, the request is answered with a token of the client's own rights while the caller
 * believes it redeemed the user's code (a confused deputy), and the code or refresh token is left
 * unredeemed and unrotated. The service must refuse it (invalid_request), and the code must still
 * be redeemable with grant_type given. Real HTTP to `createAuthzServer` on SQLite on disk.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aceErrorName, encodeCbor, utf8, type CborMap } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, loginAndConsent, post } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-review-implied-grant-'));
const REDIRECT = 'http://127.0.0.1:9/cb';
const app = { authorization: basic('app', 'app-secret-long-enough') };
let store: SqliteStore;
let server: AuthzServer;
let base = '';

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'sensor', scopes: ['read', 'write'] });
  await registerUser(store, 'alice', 'correct horse');
  // One client allowed both: client credentials (its own rights) and the user's code.
  await registerClient(store, {
    id: 'app',
    secret: 'app-secret-long-enough',
    audiences: ['sensor'],
    scopes: ['read', 'write'],
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
    redirectUris: [REDIRECT],
  });
  server = await createAuthzServer({ store, dataDir: dir });
  base = (await server.listen(0)).url;
}, 60_000);
afterAll(async () => {
  await server?.close();
  store?.close();
});

async function userCode(verifier: string): Promise<string> {
  const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, code_challenge: s256(verifier), code_challenge_method: 'S256', audience: 'sensor', scope: 'read' });
  return loginAndConsent(base, q, 'alice', 'correct horse');
}

/** An ACE CBOR request: abbreviations as numbers (RFC 9200 §8.10), other parameters by name. */
const cbor = (entries: [number | string, unknown][]) => encodeCbor(new Map(entries) as CborMap);

describe('grant_type omitted together with another grant’s parameters', () => {
  it('a code (29) with its verifier, no grant_type: invalid_request, not a client-credentials token; the code still redeems afterwards', async () => {
    const verifier = 'v'.repeat(50);
    const code = await userCode(verifier);
    const bare = await post(base, '/token', cbor([[29, utf8(code)], ['code_verifier', verifier], [27, REDIRECT], [5, 'sensor']]), 'cbor', app);
    expect(bare.status).toBe(400);
    expect(aceErrorName((bare.data as CborMap).get(30))).toBe('invalid_request');
    expect((bare.data as CborMap).has(1)).toBe(false);
    // The refusal consumed nothing: with grant_type (1 = authorization_code) the code redeems.
    const ok = await post(base, '/token', cbor([[33, 1], [29, utf8(code)], ['code_verifier', verifier], [27, REDIRECT]]), 'cbor', app);
    expect(ok.status).toBe(200);
    const refresh = (ok.data as CborMap).get(37) as Uint8Array;
    expect(refresh).toBeInstanceOf(Uint8Array);
    // The refresh token (37) without grant_type: refused too, and not rotated by the refusal.
    const bareRefresh = await post(base, '/token', cbor([[37, refresh], [5, 'sensor']]), 'cbor', app);
    expect(bareRefresh.status).toBe(400);
    expect(aceErrorName((bareRefresh.data as CborMap).get(30))).toBe('invalid_request');
    // RFC 9200 §8.11: grant_type 3 is refresh_token.
    const rotated = await post(base, '/token', cbor([[33, 3], [37, refresh]]), 'cbor', app);
    expect(rotated.status).toBe(200);
    expect((rotated.data as CborMap).get(37)).toBeInstanceOf(Uint8Array);
  });

  it.each([
    ['code', { code: 'anything', code_verifier: 'v'.repeat(50), redirect_uri: REDIRECT, audience: 'sensor' }],
    ['refresh_token', { refresh_token: 'anything', audience: 'sensor' }],
    ['device_code', { device_code: 'anything', audience: 'sensor' }],
    ['subject_token', { subject_token: 'AAAA', subject_token_type: 'urn:ietf:params:oauth:token-type:cwt', audience: 'sensor' }],
    ['code_verifier alone', { code_verifier: 'v'.repeat(50), audience: 'sensor' }],
  ])('JSON with %s and no grant_type: invalid_request', async (_what, body) => {
    const r = await post(base, '/token', body, 'json', app);
    expect(r.status).toBe(400);
    expect(r.data.error).toBe('invalid_request');
    expect(r.data.access_token).toBeUndefined();
  });

  it('grant_type 2 (client_credentials, RFC 9200 §8.11) with a code or a refresh token, the number mixed up with 1 or 3: invalid_request', async () => {
    for (const body of [cbor([[33, 2], [29, utf8('some-code')], [5, 'sensor']]), cbor([[33, 2], [37, utf8('some-refresh-token')], [5, 'sensor']])]) {
      const r = await post(base, '/token', body, 'cbor', app);
      expect(r.status).toBe(400);
      expect(aceErrorName((r.data as CborMap).get(30))).toBe('invalid_request');
    }
  });

  it('what RFC 9200 Figure 4 sends (no grant_type, nothing of another grant) is still client credentials', async () => {
    const r = await post(base, '/token', cbor([[5, 'sensor'], [9, 'read']]), 'cbor', app);
    expect(r.status).toBe(200);
    expect((r.data as CborMap).get(1)).toBeInstanceOf(Uint8Array);
  });
});

describe('one refresh token, two encodings (RFC 9200 Table 5 bytes in CBOR, text in JSON): rotation and reuse detection hold across them (held)', () => {
  it('rotated as CBOR bytes, the old one replayed as JSON text: invalid_grant, and the family is revoked (the new one fails too)', async () => {
    const verifier = 'w'.repeat(50);
    const code = await userCode(verifier);
    const first = await post(base, '/token', cbor([[33, 1], [29, utf8(code)], ['code_verifier', verifier], [27, REDIRECT]]), 'cbor', app);
    expect(first.status).toBe(200);
    const old = (first.data as CborMap).get(37) as Uint8Array;
    const rotated = await post(base, '/token', cbor([[33, 3], [37, old]]), 'cbor', app);
    expect(rotated.status).toBe(200);
    const current = (rotated.data as CborMap).get(37) as Uint8Array;
    expect(current).toBeInstanceOf(Uint8Array);
    // The old token as the text its bytes are (what a JSON client would send).
    const replay = await post(base, '/token', { grant_type: 'refresh_token', refresh_token: new TextDecoder().decode(old) }, 'json', app);
    expect([replay.status, replay.data.error]).toEqual([400, 'invalid_grant']);
    // RFC 9700 §4.14.2: a reused refresh token revokes its family, the current one included.
    const after = await post(base, '/token', { grant_type: 'refresh_token', refresh_token: new TextDecoder().decode(current) }, 'json', app);
    expect([after.status, after.data.error]).toEqual([400, 'invalid_grant']);
  });
});
