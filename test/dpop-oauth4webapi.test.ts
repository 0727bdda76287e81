/**
 * DPoP (RFC 9449) at the service, driven by an independent client: oauth4webapi (panva), which
 * shares no code with keybound, makes the proofs, follows the nonce challenge (§8) and retries.
 * Client credentials, and code + PKCE with dpop_jkt (§10) and a public client's bound refresh
 * token (§5). The token's binding is checked against oauth4webapi's own thumbprint of its key.
 * Refusals over raw HTTP with hand-made proofs: replayed jti, another htu/htm, stale iat, a
 * private key in the header, alg none / HS256, an oversized proof, a wrong key at refresh.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { SignJWT, calculateJwkThumbprint, createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { coseKeyToJwk, decodeCbor, fromBase64Url, kidKeyResolver, toBase64Url, verifyCwt } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, SqliteStore, s256, type AuthzServer } from '../authz/index.js';
import { accessTokenHash, verifyDpopProof } from '../sender-constraint/index.js';
import { loginAndConsent } from './support/authz-client.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const SVC_SECRET = randomBytes(24).toString('base64url');
const RS_SECRET = randomBytes(24).toString('base64url');
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let dir: string;
let store: SqliteStore;
let server: AuthzServer;
let base: string;
let as: oauth.AuthorizationServer;
const svc: oauth.Client = { client_id: 'svc' };
const phone: oauth.Client = { client_id: 'phone' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dpop-o4w-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'api', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: 'https://api.example/records', scopes: ['read'], tokenFormat: 'jwt' });
  await registerClient(store, { id: 'svc', secret: SVC_SECRET, audiences: ['api', 'https://api.example/records'], scopes: ['read'] });
  await registerClient(store, { id: 'records-rs', secret: RS_SECRET, audiences: ['https://api.example/records'], grantTypes: [], resourceServer: true });
  await registerClient(store, { id: 'phone', audiences: ['api'], scopes: ['read'], grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT] });
  await registerUser(store, 'alice', 'alice-password-long');
  const secret = randomBytes(32);
  server = await createAuthzServer({ store, dataDir: dir, dpop: { nonceSecrets: () => ({ current: secret }), iatWindow: 30 } });
  base = (await server.listen(0)).url;
  as = await oauth.processDiscoveryResponse(new URL(base), await oauth.discoveryRequest(new URL(base), { algorithm: 'oauth2', ...insecure }));
});

afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** oauth4webapi's pattern: the first request meets the nonce challenge, the handle keeps the nonce, one retry. */
async function withNonceRetry<T>(request: () => Promise<Response>, process: (r: Response) => Promise<T>): Promise<{ result: T; challenged: boolean }> {
  try {
    return { result: await process(await request()), challenged: false };
  } catch (e) {
    if (!oauth.isDPoPNonceError(e)) throw e;
    return { result: await process(await request()), challenged: true };
  }
}

/** The OAuth error of a refused response; the nonce challenge is passed on to withNonceRetry. */
function refusalName(e: unknown): string {
  if (oauth.isDPoPNonceError(e)) throw e;
  return (e as { error?: string }).error ?? String(e);
}

/** The RFC 7638 thumbprint of the key a CWT access token is bound to (its cnf COSE_Key, as a JWK). */
async function boundThumbprint(accessToken: string): Promise<string> {
  const { cnf } = verifyCwt(fromBase64Url(accessToken), kidKeyResolver(server.keys.publicKeys(Math.floor(Date.now() / 1000))), { audience: 'api', issuer: base, clock: () => Date.now() / 1000, provider: nativeProvider });
  if (!cnf || !('coseKey' in cnf)) throw new Error('token not bound to a key');
  return calculateJwkThumbprint(coseKeyToJwk(cnf.coseKey) as JWK, 'sha256');
}

describe('oauth4webapi, client credentials with DPoP', () => {
  it('meets the nonce challenge, retries, and gets a DPoP token bound to its key', async () => {
    const keys = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(svc, keys);
    const { result, challenged } = await withNonceRetry(
      () => oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretBasic(SVC_SECRET), { scope: 'read', audience: 'api' }, { DPoP, ...insecure }),
      (r) => oauth.processClientCredentialsResponse(as, svc, r),
    );
    expect(challenged).toBe(true);
    expect(result.token_type).toBe('dpop');
    expect(await boundThumbprint(result.access_token)).toBe(await DPoP.calculateThumbprint());
    expect(as.dpop_signing_alg_values_supported).toContain('ES256');
    expect(as.dpop_signing_alg_values_supported).not.toContain('HS256');
  });

  it('binds an Ed25519 key the same way', async () => {
    const keys = await oauth.generateKeyPair('EdDSA');
    const DPoP = oauth.DPoP(svc, keys);
    const { result } = await withNonceRetry(
      () => oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretBasic(SVC_SECRET), { scope: 'read', audience: 'api' }, { DPoP, ...insecure }),
      (r) => oauth.processClientCredentialsResponse(as, svc, r),
    );
    expect(await boundThumbprint(result.access_token)).toBe(await DPoP.calculateThumbprint());
  });
});

/** Runs the code flow's browser part headless; returns the callback parameters. */
async function authorize(extra: Record<string, string>): Promise<{ params: URLSearchParams; verifier: string }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const query = new URLSearchParams({ response_type: 'code', client_id: 'phone', redirect_uri: REDIRECT, scope: 'read', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra });
  const code = await loginAndConsent(base, query, 'alice', 'alice-password-long');
  return { params: oauth.validateAuthResponse(as, phone, new URLSearchParams({ code, iss: as.issuer }), oauth.expectNoState), verifier };
}

describe('oauth4webapi, code + PKCE with DPoP (dpop_jkt) and a bound refresh token', () => {
  it('redeems a dpop_jkt code with that key, refreshes with it, and a refresh with key B is refused', async () => {
    const keysA = await oauth.generateKeyPair('ES256');
    const A = oauth.DPoP(phone, keysA);
    const { params, verifier } = await authorize({ dpop_jkt: await A.calculateThumbprint() });
    const { result: tokens } = await withNonceRetry(
      () => oauth.authorizationCodeGrantRequest(as, phone, oauth.None(), params, REDIRECT, verifier, { DPoP: A, ...insecure }),
      (r) => oauth.processAuthorizationCodeResponse(as, phone, r),
    );
    expect(tokens.token_type).toBe('dpop');
    expect(await boundThumbprint(tokens.access_token)).toBe(await A.calculateThumbprint());
    const refresh = tokens.refresh_token!;

    const B = oauth.DPoP(phone, await oauth.generateKeyPair('ES256'));
    const refused = await withNonceRetry(
      () => oauth.refreshTokenGrantRequest(as, phone, oauth.None(), refresh, { DPoP: B, ...insecure }),
      (r) => oauth.processRefreshTokenResponse(as, phone, r).then(() => 'accepted', refusalName),
    );
    expect(refused.result).toBe('invalid_grant');
    // Without any proof too: the refresh token is the key's, not the bearer's.
    const bare = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'phone' }) });
    expect([bare.status, ((await bare.json()) as { error: string }).error]).toEqual([400, 'invalid_grant']);

    // The holder's refresh token was not spent by those tries.
    const { result: again } = await withNonceRetry(
      () => oauth.refreshTokenGrantRequest(as, phone, oauth.None(), refresh, { DPoP: A, ...insecure }),
      (r) => oauth.processRefreshTokenResponse(as, phone, r),
    );
    expect(again.token_type).toBe('dpop');
    expect(await boundThumbprint(again.access_token)).toBe(await A.calculateThumbprint());
  });

  it('a dpop_jkt code is refused with a proof by another key, or with none', async () => {
    const A = oauth.DPoP(phone, await oauth.generateKeyPair('ES256'));
    const B = oauth.DPoP(phone, await oauth.generateKeyPair('ES256'));
    const first = await authorize({ dpop_jkt: await A.calculateThumbprint() });
    const refused = await withNonceRetry(
      () => oauth.authorizationCodeGrantRequest(as, phone, oauth.None(), first.params, REDIRECT, first.verifier, { DPoP: B, ...insecure }),
      (r) => oauth.processAuthorizationCodeResponse(as, phone, r).then(() => 'accepted', refusalName),
    );
    expect(refused.result).toBe('invalid_grant');
    const second = await authorize({ dpop_jkt: await A.calculateThumbprint() });
    const bare = await oauth.authorizationCodeGrantRequest(as, phone, oauth.None(), second.params, REDIRECT, second.verifier, insecure);
    expect(((await bare.json()) as { error: string }).error).toBe('invalid_grant');
    // A malformed dpop_jkt never reaches the login page.
    const res = await fetch(`${base}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'phone', redirect_uri: REDIRECT, code_challenge: s256('x'.repeat(43)), code_challenge_method: 'S256', dpop_jkt: 'short' })}`, { redirect: 'manual' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });
});

describe('JWT access tokens (RFC 9068) for an audience registered with token format jwt', () => {
  const API = 'https://api.example/records';
  async function jwtToken(alg: string): Promise<{ token: string; DPoP: oauth.DPoPHandle }> {
    const DPoP = oauth.DPoP(svc, await oauth.generateKeyPair(alg));
    const { result } = await withNonceRetry(
      () => oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretBasic(SVC_SECRET), { scope: 'read', audience: API }, { DPoP, ...insecure }),
      (r) => oauth.processClientCredentialsResponse(as, svc, r),
    );
    expect(result.token_type).toBe('dpop');
    return { token: result.access_token, DPoP };
  }

  it("oauth4webapi's resource-server side accepts the token and its DPoP proof; cnf.jkt is oauth4webapi's thumbprint", async () => {
    const { token, DPoP } = await jwtToken('ES256');
    // The request a client makes to the API, captured instead of sent (no API in this test).
    let captured: Request | undefined;
    const url = new URL(`${API}/7?x=1`);
    await oauth.protectedResourceRequest(token, 'GET', url, new Headers(), null, {
      DPoP,
      [oauth.customFetch]: async (u: string, init: RequestInit) => {
        captured = new Request(u, init);
        return new Response('{}', { status: 200 });
      },
    });
    const claims = await oauth.validateJwtAccessToken(as, captured!, API, { ...insecure, requireDPoP: true });
    expect(claims).toMatchObject({ iss: as.issuer, aud: API, client_id: 'svc', sub: 'svc', scope: 'read' });
    expect((claims.cnf as { jkt: string }).jkt).toBe(await DPoP.calculateThumbprint());
    // Our own proof check agrees on the same request (ath over the token, htu without the query).
    const proof = await verifyDpopProof(captured!.headers.get('dpop')!, { method: 'GET', url: url.href, accessToken: token, now: Math.floor(Date.now() / 1000) });
    expect(proof.jkt).toBe(await DPoP.calculateThumbprint());
    // jose, with the service's /jwks.json: signed by the same keys as the CWTs, typ at+jwt.
    const { protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${base}/jwks.json`)), { typ: 'at+jwt', issuer: base, audience: API });
    expect(server.keys.publicKeys(Math.floor(Date.now() / 1000)).map((k) => toBase64Url(k.kid!))).toContain(protectedHeader.kid);
  });

  it('binds an RSA DPoP key (PS256) in a JWT; a CWT audience refuses it (unsupported_pop_key)', async () => {
    const { token, DPoP } = await jwtToken('PS256');
    expect((decodeJwt(token).cnf as { jkt: string }).jkt).toBe(await DPoP.calculateThumbprint());
    const refused = await withNonceRetry(
      () => oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretBasic(SVC_SECRET), { scope: 'read', audience: 'api' }, { DPoP, ...insecure }),
      (r) => oauth.processClientCredentialsResponse(as, svc, r).then(() => 'accepted', refusalName),
    );
    expect(refused.result).toBe('unsupported_pop_key');
  });

  it('the resource server introspects the JWT (cnf.jkt), and once the client revokes it, it is inactive', async () => {
    const { token, DPoP } = await jwtToken('ES256');
    const introspect = async (): Promise<Record<string, unknown>> => {
      const r = await fetch(`${base}/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`records-rs:${RS_SECRET}`).toString('base64')}` }, body: new URLSearchParams({ token }) });
      return (await r.json()) as Record<string, unknown>;
    };
    const active = await introspect();
    // RFC 9449 §6.2: token_type DPoP and cnf as the JSON object {jkt}, as an RFC 7662 resource server reads it.
    expect(active).toMatchObject({ active: true, aud: API, client_id: 'svc', token_type: 'DPoP' });
    expect(active.cnf).toEqual({ jkt: await DPoP.calculateThumbprint() });
    const revoked = await fetch(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${SVC_SECRET}`).toString('base64')}` }, body: new URLSearchParams({ token }) });
    expect(revoked.status).toBe(200);
    expect(await introspect()).toEqual({ active: false });
  });

  it('registration: a JWT audience is a signed audience with exp (not mac0, encrypt0 or clock-less)', async () => {
    await expect(registerAudience(store, nativeProvider, { id: 'jwt-mac', tokenFormat: 'jwt', protection: 'mac0' })).rejects.toThrow(/JWT access tokens/);
    await expect(registerAudience(store, nativeProvider, { id: 'jwt-exi', tokenFormat: 'jwt', clockless: true })).rejects.toThrow(/JWT access tokens/);
    await expect(registerAudience(store, nativeProvider, { id: 'jwt-odd', tokenFormat: 'xml' as never })).rejects.toThrow(/cwt, jwt or reference/);
    expect((await registerAudience(store, nativeProvider, { id: 'ref-api', tokenFormat: 'reference' })).referenceTokens).toBe(true);
  });

  it('no bearer JWTs: without a DPoP proof or req_cnf the request is refused', async () => {
    const r = await oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretBasic(SVC_SECRET), { scope: 'read', audience: API }, insecure);
    expect([r.status, ((await r.json()) as { error: string }).error]).toEqual([400, 'invalid_request']);
  });
});

describe('proofs the service refuses (raw HTTP, hand-made proofs)', () => {
  let priv: CryptoKey;
  let jwk: JWK;
  let nonce: string;
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    priv = pair.privateKey;
    jwk = await exportJWK(pair.publicKey);
    nonce = (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' })).headers.get('dpop-nonce')!;
    expect(nonce).toMatch(/^\d+\./);
  });
  let n = 0;
  const proof = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: CryptoKey | Uint8Array = priv, alg = 'ES256'): Promise<string> =>
    new SignJWT({ jti: `t-${++n}-${Date.now()}`, htm: 'POST', htu: `${base}/token`, iat: Math.floor(Date.now() / 1000), nonce, ...claims })
      .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...header } as never)
      .sign(key);
  async function token(dpop: string): Promise<{ status: number; error?: string; tokenType?: string; nonce: string | null }> {
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${SVC_SECRET}`).toString('base64')}`, dpop },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', audience: 'api' }),
    });
    const body = (await res.json()) as { error?: string; token_type?: string };
    return { status: res.status, ...(body.error ? { error: body.error } : {}), ...(body.token_type ? { tokenType: body.token_type } : {}), nonce: res.headers.get('dpop-nonce') };
  }

  it('a sound hand-made proof is accepted; the same proof again (same jti) is refused', async () => {
    const p = await proof();
    expect(await token(p)).toMatchObject({ status: 200, tokenType: 'DPoP' });
    expect(await token(p)).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
  });
  it('a proof for another URI or method, or with a stale or future iat', async () => {
    expect(await token(await proof({ htu: `${base}/introspect` }))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
    expect(await token(await proof({ htm: 'GET' }))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
    expect(await token(await proof({ iat: Math.floor(Date.now() / 1000) - 120 }))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
    expect(await token(await proof({ iat: Math.floor(Date.now() / 1000) + 120 }))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
  });
  it('no nonce or a forged one: use_dpop_nonce with a fresh DPoP-Nonce', async () => {
    const r = await token(await proof({ nonce: undefined }));
    expect(r).toMatchObject({ status: 400, error: 'use_dpop_nonce' });
    expect(r.nonce).toMatch(/^\d+\./);
    expect(await token(await proof({ nonce: `${nonce.split('.')[0]}.${'A'.repeat(22)}` }))).toMatchObject({ status: 400, error: 'use_dpop_nonce' });
  });
  it('a private key in the header, alg none, HS256, an oversized proof, two DPoP headers', async () => {
    const privJwk = await exportJWK(priv);
    expect(await token(await proof({}, { jwk: privJwk }))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'dpop+jwt', jwk })}.${b64({ jti: 'none-1', htm: 'POST', htu: `${base}/token`, iat: Math.floor(Date.now() / 1000), nonce })}.`;
    expect(await token(none)).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
    const hs = await proof({}, { jwk: { kty: 'oct', k: 'c2VjcmV0' } }, new Uint8Array(32).fill(1), 'HS256');
    expect(await token(hs)).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
    expect(await token(await proof({ pad: 'x'.repeat(6000) }))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
    expect(await token(`${await proof()}, ${await proof()}`)).toMatchObject({ status: 400, error: 'invalid_dpop_proof' });
  });
  it('a proof whose ath names a token is fine at /token (no token presented); the thumbprint is the RFC 7638 one', async () => {
    expect(await token(await proof({ ath: accessTokenHash('x') }))).toMatchObject({ status: 200, tokenType: 'DPoP' });
  });
});
