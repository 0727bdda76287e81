/**
 * `authz serve --profile fapi2` (FAPI 2.0 Security Profile) against the real CLI service, with
 * curl and openssl certificates: every authorization request must be pushed; a shared secret is
 * refused at /par and /token; a signed-assertion client authenticates but gets no token that is
 * not sender-constrained (with a DPoP proof it gets a DPoP-bound one); PKCE plain or absent is
 * refused at /par; a client authenticated by its certificate gets a token bound to it. The mode does not start without client certificates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientAssertion, publicCoseKey, toBase64Url, utf8, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, registerUser, SqliteStore } from '../authz/index.js';
import { makeCa, makeCertificates, makeClientCertificate, opensslX5t } from './support/tls-certificates.js';
import { curl, type CurlOptions } from './support/curl.js';
import { stop, waitForLine } from './support/processes.js';
import { main } from '../cli/index.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-fapi2-'));
const dataDir = join(dir, 'as');
const f = (name: string) => join(dir, name);
const REDIRECT = 'https://bank-app.example/cb';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'; // RFC 7636 Appendix B
const assertionKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8('signed-app-key') };
})();
let service: ChildProcess;
let base = '';
let ca: CurlOptions;
let withCert: CurlOptions;

beforeAll(async () => {
  makeCertificates(dir);
  makeCa(dir, 'clientca', '/CN=keybound client CA');
  makeClientCertificate(dir, 'bank-app', '/O=Bank/CN=bank-app', 'clientca');
  ca = { cacert: f('ca.pem') };
  withCert = { ...ca, cert: { pem: f('bank-app.pem'), key: f('bank-app.key') } };
  mkdirSync(dataDir, { mode: 0o700 });
  const store = new SqliteStore(join(dataDir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'accounts', scopes: ['read'] });
  const code = { audiences: ['accounts'], scopes: ['read'], grantTypes: ['authorization_code' as const, 'client_credentials' as const], redirectUris: [REDIRECT] };
  await registerClient(store, { id: 'bank-app', tlsClientAuth: { method: 'tls_client_auth', subjectDn: 'CN=bank-app,O=Bank' }, ...code });
  await registerClient(store, { id: 'secret-app', secret: 'secret-app-secret-0123456789', ...code });
  await registerClient(store, { id: 'signed-app', publicKey: publicCoseKey(assertionKey), ...code });
  await registerUser(store, 'alice', 'correct horse battery');
  store.close();
  service = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--port', '0', '--profile', 'fapi2', '--tls-cert', f('server.pem'), '--tls-key', f('server.key'), '--tls-client-ca', f('clientca.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  service.stderr!.resume(); // pino JSON logs: drained
  base = (await waitForLine(service, /listening on (\S+)/))[1]!;
}, 60_000);

afterAll(() => stop(service));

const pushed = { client_id: 'bank-app', response_type: 'code', redirect_uri: REDIRECT, code_challenge: CHALLENGE, code_challenge_method: 'S256', audience: 'accounts', scope: 'read', state: 's1' };

function assertion(): string {
  return toBase64Url(createClientAssertion({ clientId: 'signed-app', audience: base, key: assertionKey, now: Date.now() / 1000, provider: nativeProvider }));
}

describe('FAPI 2.0 mode: what it requires', () => {
  it('metadata: PAR required, only mTLS and assertion client authentication, certificate-bound tokens', async () => {
    const m = (await curl(`${base}/.well-known/oauth-authorization-server`, ca)).json!;
    expect(m.require_pushed_authorization_requests).toBe(true);
    expect(m.token_endpoint_auth_methods_supported).toEqual(['tls_client_auth', 'self_signed_tls_client_auth', 'cwt_assertion']);
    expect(m.tls_client_certificate_bound_access_tokens).toBe(true);
    expect(m.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('refuses an authorization request that was not pushed', async () => {
    const q = new URLSearchParams({ ...pushed });
    expect((await curl(`${base}/authorize?${q}`, ca)).status).toBe(400);
  });

  it('/par: a certificate client pushes; without PKCE S256 it is refused; a secret client is refused', async () => {
    const ok = await curl(`${base}/par`, withCert, pushed);
    expect(ok.status).toBe(201);
    expect(ok.json!.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    // The pushed request opens the sign-in page at /authorize (the one way in).
    expect((await curl(`${base}/authorize?${new URLSearchParams({ client_id: 'bank-app', request_uri: ok.json!.request_uri as string })}`, ca)).status).toBe(200);
    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = pushed;
    expect(await curl(`${base}/par`, withCert, noPkce)).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect(await curl(`${base}/par`, withCert, { ...pushed, code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) })).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect(await curl(`${base}/par`, withCert, { ...pushed, response_type: 'token' })).toMatchObject({ status: 400 });
    const secret = await curl(`${base}/par`, ca, { ...pushed, client_id: 'secret-app', client_secret: 'secret-app-secret-0123456789' });
    expect([secret.status, secret.json!.error]).toEqual([401, 'invalid_client']);
  });

  it('/token: no secret clients, no token without a sender constraint, a DPoP-bound or certificate-bound token', async () => {
    const secret = await curl(`${base}/token`, ca, { grant_type: 'client_credentials', client_id: 'secret-app', client_secret: 'secret-app-secret-0123456789', audience: 'accounts' });
    expect([secret.status, secret.json!.error]).toEqual([401, 'invalid_client']);
    // Authenticated (a signed assertion is allowed), but its token would be bound to nothing HTTP can check.
    const signed = await curl(`${base}/token`, ca, { grant_type: 'client_credentials', client_id: 'signed-app', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:cwt-bearer', client_assertion: assertion(), audience: 'accounts' });
    expect([signed.status, signed.json!.error, String(signed.json!.error_description)]).toEqual([400, 'invalid_request', expect.stringContaining('sender-constrained')]);
    // The same assertion client with a DPoP proof (RFC 9449 §4.2, made with jose): sender-constrained, issued.
    const dpopKey = await generateKeyPair('ES256');
    const proof = await new SignJWT({ htm: 'POST', htu: `${base}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(dpopKey.publicKey) })
      .sign(dpopKey.privateKey);
    const dpop = await curl(`${base}/token`, { ...ca, headers: { DPoP: proof } }, { grant_type: 'client_credentials', client_id: 'signed-app', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:cwt-bearer', client_assertion: assertion(), audience: 'accounts' });
    expect([dpop.status, dpop.json!.token_type]).toEqual([200, 'DPoP']);
    const bound = await curl(`${base}/token`, withCert, { grant_type: 'client_credentials', client_id: 'bank-app', audience: 'accounts' });
    expect(bound.status).toBe(200);
    const payload = JSON.parse(Buffer.from((bound.json!.access_token as string).split('.')[1]!, 'base64url').toString()) as { cnf: Record<string, string> };
    expect(payload.cnf['x5t#S256']).toBe(opensslX5t(f('bank-app.pem')));
  });

  it('does not start without client certificates (tokens could be bound to nothing)', async () => {
    // The CLI in process (a thin shell: the same function `keybound` runs).
    const out = { stdout: '', stderr: '' };
    const io = { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } };
    expect(await main(['authz', 'serve', '--data-dir', dataDir, '--port', '0', '--profile', 'fapi2', '--tls-cert', f('server.pem'), '--tls-key', f('server.key')], io)).not.toBe(0);
    expect(out.stderr).toContain('--profile fapi2 needs');
    expect(out.stdout).not.toContain('listening');
  });
});
