/**
 * Pushed authorization requests (RFC 9126) driven by an independent client, oauth4webapi: the
 * request pushed with client authentication, the browser sent to /authorize with only client_id
 * and request_uri, the code redeemed with PKCE S256. A request_uri is used once, by its own
 * client, before it expires; a client registered with require_pushed_authorization_requests
 * cannot skip /par; /par refuses what /authorize would. JARM (response_mode=jwt): the response
 * is a JWT verified with jose against /jwks.json and by oauth4webapi, and a tampered one fails.
 * DPoP at /par (RFC 9449 §10.1): the code is bound to the proof's key, redeemed with it only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { SignJWT, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, SqliteStore, type AuthzServer } from '../authz/index.js';
import { loginAndConsentRedirect } from './support/authz-client.js';

const REDIRECT = 'https://app.example/cb';
const dir = mkdtempSync(join(tmpdir(), 'authz-par-'));
let store: SqliteStore;
let server: AuthzServer;
let base = '';
let now = 1_800_000_000;
let as: oauth.AuthorizationServer;
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback HTTP in this test; the service serves HTTPS in production
const client = { client_id: 'app' } satisfies oauth.Client;
const appAuth = oauth.ClientSecretPost('s3cret-app-0123456789');
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  const code = { audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code' as const], redirectUris: [REDIRECT] };
  await registerClient(store, { id: 'app', secret: 's3cret-app-0123456789', ...code });
  await registerClient(store, { id: 'other', secret: 's3cret-other-0123456789', ...code });
  await registerClient(store, { id: 'strict', secret: 's3cret-strict-0123456789', requirePar: true, ...code });
  await registerUser(store, 'alice', PASSWORD);
  server = await createAuthzServer({ store, dataDir: dir, clock: () => now });
  base = (await server.listen(0)).url;
  as = await oauth.processDiscoveryResponse(new URL(base), await oauth.discoveryRequest(new URL(base), { ...insecure, algorithm: 'oauth2' }));
}, 30_000);

afterAll(async () => {
  await server?.close();
  store?.close();
});

/** Pushes an authorization request as `who` (oauth4webapi); returns its request_uri and PKCE verifier. */
async function push(who: oauth.Client = client, auth: oauth.ClientAuth = appAuth, extra: Record<string, string> = {}, DPoP?: oauth.DPoPHandle): Promise<{ requestUri: string; verifier: string; expiresIn: number }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const params = { redirect_uri: REDIRECT, response_type: 'code', scope: 'read', audience: 'ekg', state: 'st-1', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra };
  const res = await oauth.pushedAuthorizationRequest(as, who, auth, params, { ...insecure, ...(DPoP ? { DPoP } : {}) });
  const r = await oauth.processPushedAuthorizationResponse(as, who, res);
  return { requestUri: r.request_uri, verifier, expiresIn: r.expires_in };
}

const authorizeStatus = async (q: Record<string, string>): Promise<number> => (await fetch(`${base}/authorize?${new URLSearchParams(q)}`, { redirect: 'manual' })).status;

async function rawPar(form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/par`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('PAR with oauth4webapi (RFC 9126 §2, §4)', () => {
  it('metadata names the endpoint', () => {
    expect(as.pushed_authorization_request_endpoint).toBe(`${base}/par`);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
  });

  it('pushes, authorizes with request_uri only, and redeems the code with PKCE S256', async () => {
    const { requestUri, verifier, expiresIn } = await push();
    expect(requestUri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
    expect(expiresIn).toBe(60);
    const redirect = await loginAndConsentRedirect(base, new URLSearchParams({ client_id: 'app', request_uri: requestUri }), 'alice', PASSWORD);
    // oauth4webapi checks state and the RFC 9207 iss of the response.
    const callback = oauth.validateAuthResponse(as, client, redirect, 'st-1');
    const res = await oauth.authorizationCodeGrantRequest(as, client, appAuth, callback, REDIRECT, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { recognizedTokenTypes: { pop: () => {} } });
    expect(tokens.token_type).toBe('pop');
    expect(tokens.scope).toBe('read');
    // Used once: the same request_uri again is refused.
    expect(await authorizeStatus({ client_id: 'app', request_uri: requestUri })).toBe(400);
  });

  it("refuses another client's request_uri without burning it, a guessed one, and an expired one", async () => {
    const { requestUri } = await push();
    expect(await authorizeStatus({ client_id: 'other', request_uri: requestUri })).toBe(400);
    expect(await authorizeStatus({ client_id: 'app', request_uri: `${requestUri.slice(0, -4)}AAAA` })).toBe(400);
    expect(await authorizeStatus({ client_id: 'app', request_uri: requestUri })).toBe(200);
    const late = await push();
    now += 61;
    try {
      expect(await authorizeStatus({ client_id: 'app', request_uri: late.requestUri })).toBe(400);
    } finally {
      now -= 61;
    }
  });

  it('a client registered with require_pushed_authorization_requests cannot skip /par', async () => {
    const strict = { client_id: 'strict' };
    const direct = { client_id: 'strict', response_type: 'code', redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', audience: 'ekg', scope: 'read' };
    expect(await authorizeStatus(direct)).toBe(400);
    const { requestUri } = await push(strict, oauth.ClientSecretPost('s3cret-strict-0123456789'));
    expect(await authorizeStatus({ client_id: 'strict', request_uri: requestUri })).toBe(200);
  });
});

describe('/par refuses what /authorize would, and unauthenticated pushes', () => {
  const good = { client_id: 'app', client_secret: 's3cret-app-0123456789', response_type: 'code', redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', audience: 'ekg', scope: 'read' };
  it('answers 201 to a good push, 401 to a wrong secret', async () => {
    expect((await rawPar(good)).status).toBe(201);
    expect(await rawPar({ ...good, client_secret: 'wrong-secret-0123456789' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });
  it('refuses request_uri inside a push, plain PKCE, no PKCE, an unregistered redirect URI, another client_id, a scope beyond the client', async () => {
    const { code_challenge_method: _m, code_challenge: _c, ...noPkce } = good;
    for (const [name, form, error] of [
      ['request_uri', { ...good, request_uri: 'urn:ietf:params:oauth:request_uri:x' }, 'invalid_request'],
      ['plain PKCE', { ...good, code_challenge_method: 'plain' }, 'invalid_request'],
      ['no PKCE', noPkce, 'invalid_request'],
      ['redirect URI', { ...good, redirect_uri: 'https://evil.example/cb' }, 'invalid_request'],
      ['implicit', { ...good, response_type: 'token' }, 'invalid_request'],
      ['scope', { ...good, scope: 'write' }, 'invalid_scope'],
    ] as const) {
      const r = await rawPar(form as Record<string, string>);
      expect([name, r.status, r.body.error]).toEqual([name, 400, error]);
    }
    const r = await rawPar({ ...good, client_id: 'other' });
    expect(r.status).toBe(401); // the secret is app's: client authentication fails first
  });
});

describe('JARM: response_mode=jwt', () => {
  it('the code comes back inside a JWT signed by the /jwks.json key, with iss, aud, exp and state; oauth4webapi accepts it and the code redeems', async () => {
    const { requestUri, verifier } = await push(client, appAuth, { response_mode: 'jwt' });
    const redirect = await loginAndConsentRedirect(base, new URLSearchParams({ client_id: 'app', request_uri: requestUri }), 'alice', PASSWORD);
    expect([...redirect.searchParams.keys()]).toEqual(['response']);
    const { payload } = await jwtVerify(redirect.searchParams.get('response')!, createRemoteJWKSet(new URL(`${base}/jwks.json`)), { issuer: base, audience: 'app', currentDate: new Date(now * 1000) });
    expect(payload).toMatchObject({ state: 'st-1', code: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(as.response_modes_supported).toEqual(expect.arrayContaining(['jwt', 'query.jwt']));
    // The service's clock is `now`: oauth4webapi's clock is moved there (clockSkew) to check exp.
    const jarmClient = { client_id: 'app', authorization_signed_response_alg: as.authorization_signing_alg_values_supported![0]!, [oauth.clockSkew]: now - Math.floor(Date.now() / 1000) };
    const callback = await oauth.validateJwtAuthResponse(as, jarmClient, redirect, 'st-1', insecure);
    expect(callback.get('code')).toBe(payload.code);
    const res = await oauth.authorizationCodeGrantRequest(as, client, appAuth, callback, REDIRECT, verifier, insecure);
    expect((await oauth.processAuthorizationCodeResponse(as, client, res, { recognizedTokenTypes: { pop: () => {} } })).token_type).toBe('pop');
  });

  it('a response whose payload was changed does not verify, and an unsupported response_mode is an error with iss', async () => {
    const { requestUri } = await push(client, appAuth, { response_mode: 'query.jwt' });
    const redirect = await loginAndConsentRedirect(base, new URLSearchParams({ client_id: 'app', request_uri: requestUri }), 'alice', PASSWORD);
    const [h, p, sig] = redirect.searchParams.get('response')!.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, code: 'A'.repeat(43) })).toString('base64url')}.${sig}`;
    await expect(jwtVerify(forged, createRemoteJWKSet(new URL(`${base}/jwks.json`)), { issuer: base, audience: 'app', currentDate: new Date(now * 1000) })).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    const res = await fetch(`${base}/authorize?${new URLSearchParams({ client_id: 'app', response_type: 'code', redirect_uri: REDIRECT, response_mode: 'form_post', state: 's' })}`, { redirect: 'manual' });
    const to = new URL(res.headers.get('location')!);
    expect([to.searchParams.get('error'), to.searchParams.get('iss'), to.searchParams.get('state')]).toEqual(['invalid_request', base, 's']);
  });
});

describe('DPoP at /par (RFC 9449 §10.1)', () => {
  // oauth4webapi signs proofs with its clock: moved to the service's (`now`), as for JARM above.
  const dpopClient = (): oauth.Client => ({ ...client, [oauth.clockSkew]: now - Math.floor(Date.now() / 1000) });
  async function codeBoundTo(DPoP: oauth.DPoPHandle): Promise<{ callback: URLSearchParams; verifier: string }> {
    const { requestUri, verifier } = await push(client, appAuth, {}, DPoP);
    const redirect = await loginAndConsentRedirect(base, new URLSearchParams({ client_id: 'app', request_uri: requestUri }), 'alice', PASSWORD);
    return { callback: oauth.validateAuthResponse(as, client, redirect, 'st-1'), verifier };
  }

  it("binds the code to the proof's key: redeemed with a proof by that key, token_type DPoP", async () => {
    const DPoP = oauth.DPoP(dpopClient(), await oauth.generateKeyPair('ES256'));
    const { callback, verifier } = await codeBoundTo(DPoP);
    const res = await oauth.authorizationCodeGrantRequest(as, client, appAuth, callback, REDIRECT, verifier, { ...insecure, DPoP });
    expect((await oauth.processAuthorizationCodeResponse(as, client, res)).token_type).toBe('dpop');
  });

  it('refuses the code with a proof by another key, or with none', async () => {
    const DPoP = oauth.DPoP(dpopClient(), await oauth.generateKeyPair('ES256'));
    for (const thief of [oauth.DPoP(dpopClient(), await oauth.generateKeyPair('ES256')), undefined]) {
      const { callback, verifier } = await codeBoundTo(DPoP);
      const res = await oauth.authorizationCodeGrantRequest(as, client, appAuth, callback, REDIRECT, verifier, { ...insecure, ...(thief ? { DPoP: thief } : {}) });
      expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([400, 'invalid_grant']);
    }
  });

  it('records a proof only once its client is authenticated: a proof sent with a wrong secret writes nothing, and still works once (found in stop 35)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(publicKey);
    const proof = await new SignJWT({ htm: 'POST', htu: `${base}/par`, jti: `par-${now}`, iat: now }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: kty!, crv: crv!, x: x!, y: y! } }).sign(privateKey);
    const form = (secret: string) => new URLSearchParams({ client_id: 'app', client_secret: secret, redirect_uri: REDIRECT, response_type: 'code', scope: 'read', audience: 'ekg', state: 'st-1', code_challenge: 'c'.repeat(43), code_challenge_method: 'S256' });
    const post = (secret: string) => fetch(`${base}/par`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof }, body: form(secret) });
    // Anyone can make proofs; before, each was written to the store before the client was known.
    expect((await post('wrong-secret-0123456789')).status).toBe(401);
    expect((await post('s3cret-app-0123456789')).status).toBe(201);
    const again = await post('s3cret-app-0123456789');
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_dpop_proof' });
  });

  it('refuses a dpop_jkt that names another key than the proof', async () => {
    const DPoP = oauth.DPoP(dpopClient(), await oauth.generateKeyPair('ES256'));
    await expect(push(client, appAuth, { dpop_jkt: 'A'.repeat(43) }, DPoP)).rejects.toMatchObject({ error: 'invalid_dpop_proof', error_description: expect.stringContaining('dpop_jkt') });
  });
});
