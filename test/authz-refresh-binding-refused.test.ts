/**
 * A refresh whose key binding the service refuses must not spend the refresh token (carried from
 * stop 37: "a rights update's refusal path runs after a refresh token was rotated"; every binding
 * refusal did, issuer.ts checkPopBinding now runs them all before the rotation). The refresh
 * token remembers its grant's req_cnf; if that binding can no longer be made (here: kid(3) named
 * the client's registered key, and the operator has since registered another), the refusal used
 * to come after the rotation. The new refresh token was never delivered, and the client's retry
 * with the one it holds read as reuse (RFC 9700 §4.14.2) and revoked the family: its access
 * token too. Real HTTP, SQLite on disk, the device authorization grant approved on the
 * verification page as a user does it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCbor, toBase64Url, utf8, CNF_LABEL, GRANT_DEVICE_CODE, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, SqliteStore, type AuthzServer } from '../authz/index.js';
import { generateKeyPair } from 'jose';
import { approveDeviceCode, basic, errorOf, post as postTo } from './support/authz-client.js';
import { dpopProofJwt, type DpopKeyPair } from './support/dpop-proof-jwt.js';

const SECRET = 'app-secret-that-is-long-enough';
const AUTH = { authorization: basic('app', SECRET) };
const keyWithKid = (kid: string): CoseKey => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, kid: utf8(kid) };
};
const firstKey = keyWithKid('app-key-1');

let dir: string;
let store: SqliteStore;
let server: AuthzServer;
let base: string;
const post = (path: string, body: Record<string, unknown>, headers: Record<string, string> = {}) => postTo(base, path, body, 'form', headers);

async function registerApp(publicKey: CoseKey): Promise<void> {
  await registerClient(store, { id: 'app', secret: SECRET, publicKey, audiences: ['ekg'], scopes: ['read'], grantTypes: [GRANT_DEVICE_CODE as never, 'refresh_token'] });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kb-refresh-binding-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerApp(firstKey);
  await registerUser(store, 'alice', 'correct horse battery');
  // RFC 7662 §4: only a token's resource servers may introspect it.
  await registerClient(store, { id: 'rs-ekg', secret: `rs-${SECRET}`, audiences: ['ekg'], grantTypes: [] });
  server = await createAuthzServer({ store, dataDir: dir });
  base = (await server.listen(0)).url;
});

afterAll(async () => {
  await server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A device code asked with req_cnf {kid(3): kid}, approved by alice on the verification page. */
async function approvedDeviceCode(audience: string, scope: string, kid: Uint8Array): Promise<string> {
  const reqCnf = toBase64Url(encodeCbor(new Map([[CNF_LABEL.kid, kid]])));
  const d = await post('/device_authorization', { audience, scope, req_cnf: reqCnf }, AUTH);
  expect(d.status, JSON.stringify(d.data)).toBe(200);
  expect(await approveDeviceCode(base, d.data.user_code, 'alice', 'correct horse battery')).toBe(200);
  return d.data.device_code;
}

/** The device grant with req_cnf {kid(3): kid}: its access and refresh tokens. */
async function deviceGrant(audience: string, scope: string, kid: Uint8Array): Promise<{ accessToken: string; refreshToken: string }> {
  const t = await post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: await approvedDeviceCode(audience, scope, kid) }, AUTH);
  expect(t.status).toBe(200);
  return { accessToken: t.data.access_token, refreshToken: t.data.refresh_token };
}

const introspect = async (token: string) => (await post('/introspect', { token }, { authorization: basic('rs-ekg', `rs-${SECRET}`) })).data.active as boolean;

describe('a refresh the service refuses for its key binding leaves the refresh token unspent', () => {
  it("the client's registered key changed: refused with invalid_request, and once it is back the same refresh token still works; the family lives", async () => {
    const { accessToken, refreshToken } = await deviceGrant('ekg', 'read', utf8('app-key-1'));
    // The operator registers another key for the client: kid(3) app-key-1 names no key of it now.
    await registerApp(keyWithKid('app-key-2'));
    const refused = await post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, AUTH);
    expect(refused.status).toBe(400);
    expect(errorOf(refused)).toBe('invalid_request');
    expect(refused.data.error_description).toContain('kid(3)');
    // And a retry is refused the same way, not taken for a reused token.
    expect(errorOf(await post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, AUTH))).toBe('invalid_request');
    expect(await introspect(accessToken)).toBe(true);
    // The key is registered again: the refresh token the client holds is still good.
    await registerApp(firstKey);
    const refreshed = await post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, AUTH);
    expect(refreshed.status).toBe(200);
    expect(refreshed.data.refresh_token).not.toBe(refreshToken);
    expect(await introspect(accessToken)).toBe(true);
    expect(await introspect(refreshed.data.access_token)).toBe(true);
  });

  it('a DPoP proof beside the bound req_cnf (two keys for one token): refused, and the same refresh token then works without it', async () => {
    await registerApp(firstKey);
    const { refreshToken } = await deviceGrant('ekg', 'read', utf8('app-key-1'));
    const key = (await generateKeyPair('ES256')) as DpopKeyPair;
    const dpop = await dpopProofJwt(key, 'POST', `${base}/token`);
    const refused = await post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, { ...AUTH, dpop });
    expect(errorOf(refused)).toBe('invalid_request');
    expect(refused.data.error_description).toContain('two keys');
    expect((await post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, AUTH)).status).toBe(200);
  });

  it('the same at the device code poll: a refused binding leaves the approval unspent, and the next poll gets the token', async () => {
    await registerApp(firstKey);
    const deviceCode = await approvedDeviceCode('ekg', 'read', utf8('app-key-1'));
    const dpop = await dpopProofJwt((await generateKeyPair('ES256')) as DpopKeyPair, 'POST', `${base}/token`);
    const refused = await post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: deviceCode }, { ...AUTH, dpop });
    expect(errorOf(refused)).toBe('invalid_request');
    const t = await post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: deviceCode }, AUTH);
    expect(t.status, JSON.stringify(t.data)).toBe(200);
    expect(await introspect(t.data.access_token)).toBe(true);
  });
});
