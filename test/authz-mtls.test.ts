/**
 * RFC 8705 against the real CLI service, with certificates made by Debian's openssl and requests
 * made by curl: tls_client_auth (a client CA and a registered subject DN), self_signed_tls_client_auth
 * (a registered certificate), certificate-bound JWT access tokens whose cnf x5t#S256 equals the
 * thumbprint `openssl x509 -outform DER | openssl dgst -sha256` gives, verified with jose against
 * /jwks.json; another certificate, an untrusted chain with the same DN, or none, is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, SqliteStore } from '../authz/index.js';
import { makeCa, makeCertificates, makeClientCertificate, opensslX5t } from './support/tls-certificates.js';
import { curl } from './support/curl.js';
import { stop, waitForLine } from './support/processes.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'authz-mtls-'));
const dataDir = join(dir, 'as');
const f = (name: string) => join(dir, name);
let service: ChildProcess;
let base = '';

const clientCert = (name: string, subj: string, ca?: string) => makeClientCertificate(dir, name, subj, ca);
const x5t = (pem: string) => opensslX5t(f(pem));

beforeAll(async () => {
  makeCertificates(dir);
  makeCa(dir, 'clientca', '/CN=keybound client CA');
  makeCa(dir, 'rogueca', '/CN=rogue CA');
  clientCert('app', '/O=Clinic/CN=app', 'clientca');
  clientCert('eve', '/O=Clinic/CN=eve', 'clientca');
  clientCert('fake-app', '/O=Clinic/CN=app', 'rogueca'); // the right DN, an untrusted chain
  clientCert('device', '/CN=phone-7');
  clientCert('other-device', '/CN=phone-7');
  mkdirSync(dataDir, { mode: 0o700 });
  const store = new SqliteStore(join(dataDir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'api', scopes: ['read'] });
  await registerClient(store, { id: 'phone-7', audiences: ['api'], scopes: ['read'], tlsClientAuth: { method: 'self_signed_tls_client_auth', certificates: [readFileSync(f('device.pem'), 'utf8')] } });
  await registerClient(store, { id: 'secret-app', secret: 'secret-app-secret-0123456789', audiences: ['api'], scopes: ['read'] });
  await registerClient(store, { id: 'api-gw', secret: 'api-gw-secret-0123456789', audiences: ['api'], grantTypes: [] });
  store.close();
  // The CLI registration the README shows (RFC 8705 §2.1.2: one subject DN).
  await run(process.execPath, ['bin/keybound.js', 'authz', 'register-client', 'app', '--data-dir', dataDir, '--audience', 'api', '--scope', 'read', '--grant-type', 'client_credentials', '--tls-client-auth-subject-dn', 'CN=app,O=Clinic']);
  service = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--port', '0', '--tls-cert', f('server.pem'), '--tls-key', f('server.key'), '--tls-client-ca', f('clientca.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  service.stderr!.resume(); // pino JSON logs: drained
  base = (await waitForLine(service, /listening on (\S+)/))[1]!;
}, 60_000);

afterAll(() => stop(service));

/** curl to /token, trusting the service's CA only, with the client certificate `cert` (or none). */
async function curlToken(form: Record<string, string>, cert?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await curl(`${base}/token`, { cacert: f('ca.pem'), ...(cert ? { cert: { pem: f(`${cert}.pem`), key: f(`${cert}.key`) } } : {}) }, form);
  return { status: r.status, body: r.json ?? {} };
}

async function jwks(): Promise<JSONWebKeySet> {
  return (await curl(`${base}/jwks.json`, { cacert: f('ca.pem') })).json as unknown as JSONWebKeySet;
}

describe('RFC 8705 metadata', () => {
  it('says tokens are certificate-bound, lists both methods, and the mTLS aliases are this listener', async () => {
    const m = (await curl(`${base}/.well-known/oauth-authorization-server`, { cacert: f('ca.pem') })).json!;
    expect(m.tls_client_certificate_bound_access_tokens).toBe(true);
    expect(m.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']));
    expect(m.mtls_endpoint_aliases).toMatchObject({ token_endpoint: `${base}/token` });
  });
});

describe('tls_client_auth (RFC 8705 §2.1) and certificate-bound tokens (§3)', () => {
  it('issues a JWT whose cnf x5t#S256 is what openssl computes for the client certificate, verified against /jwks.json', async () => {
    const r = await curlToken({ grant_type: 'client_credentials', client_id: 'app', audience: 'api' }, 'app');
    expect(r.status).toBe(200);
    expect(r.body.token_type).toBe('Bearer');
    const { payload, protectedHeader } = await jwtVerify(r.body.access_token as string, createLocalJWKSet(await jwks()), { issuer: base, audience: 'api', typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({ client_id: 'app', sub: 'app', scope: 'read' });
    expect((payload.cnf as Record<string, string>)['x5t#S256']).toBe(x5t('app.pem'));
  });

  it('refuses another certificate of the same CA, the right DN under an untrusted CA, and no certificate', async () => {
    for (const cert of ['eve', 'fake-app', undefined]) {
      const r = await curlToken({ grant_type: 'client_credentials', client_id: 'app', audience: 'api' }, cert);
      expect([cert, r.status, r.body.error]).toEqual([cert, 401, 'invalid_client']);
    }
  });

  it('refuses a secret for a certificate client, and a certificate for a secret client is just a TLS detail', async () => {
    const r = await curlToken({ grant_type: 'client_credentials', client_id: 'app', client_secret: 'guess', audience: 'api' }, 'app');
    expect([r.status, r.body.error]).toEqual([401, 'invalid_client']);
    // A secret client with a certificate on the connection gets what it always got: a PoP CWT.
    const s = await curlToken({ grant_type: 'client_credentials', client_id: 'secret-app', client_secret: 'secret-app-secret-0123456789', audience: 'api' }, 'eve');
    expect([s.status, s.body.token_type]).toEqual([200, 'PoP']);
  });
});

describe('self_signed_tls_client_auth (RFC 8705 §2.2)', () => {
  it('authenticates the registered self-signed certificate and binds its token to it; another with the same name is refused', async () => {
    const r = await curlToken({ grant_type: 'client_credentials', client_id: 'phone-7', audience: 'api' }, 'device');
    expect(r.status).toBe(200);
    const { payload } = await jwtVerify(r.body.access_token as string, createLocalJWKSet(await jwks()), { issuer: base, audience: 'api' });
    expect((payload.cnf as Record<string, string>)['x5t#S256']).toBe(x5t('device.pem'));
    const other = await curlToken({ grant_type: 'client_credentials', client_id: 'phone-7', audience: 'api' }, 'other-device');
    expect([other.status, other.body.error]).toEqual([401, 'invalid_client']);
  });
});

describe('a certificate-bound token at /introspect and /revoke (RFC 8705 §3.2, RFC 7662, RFC 7009)', () => {
  it('introspects as Bearer with cnf x5t#S256 for the resource server, and is inactive once its client revokes it', async () => {
    const r = await curlToken({ grant_type: 'client_credentials', client_id: 'app', audience: 'api' }, 'app');
    const token = r.body.access_token as string;
    const introspect = () => curl(`${base}/introspect`, { cacert: f('ca.pem') }, { client_id: 'api-gw', client_secret: 'api-gw-secret-0123456789', token });
    expect((await introspect()).json).toMatchObject({ active: true, token_type: 'Bearer', client_id: 'app', aud: 'api', cnf: { 'x5t#S256': x5t('app.pem') } });
    const revoked = await curl(`${base}/revoke`, { cacert: f('ca.pem'), cert: { pem: f('app.pem'), key: f('app.key') } }, { client_id: 'app', token });
    expect(revoked.status).toBe(200);
    expect((await introspect()).json).toEqual({ active: false });
  });
});

describe('registration (RFC 8705 §2.1.2)', () => {
  it('takes exactly one identity, never beside a secret, and only certificates for self-signed', async () => {
    const store = new SqliteStore(':memory:');
    try {
      const reg = (tlsClientAuth: never, extra: Record<string, unknown> = {}) => registerClient(store, { id: 'x', tlsClientAuth, ...extra });
      await expect(reg({ method: 'tls_client_auth', subjectDn: 'CN=x', sanDns: 'x.example' } as never)).rejects.toThrow(/exactly one/);
      await expect(reg({ method: 'tls_client_auth' } as never)).rejects.toThrow(/exactly one/);
      await expect(reg({ method: 'tls_client_auth', subjectDn: 'CN=x\u0000' } as never)).rejects.toThrow(/printable/);
      await expect(reg({ method: 'tls_client_auth', subjectDn: 'CN=x' } as never, { secret: 'a-strong-secret-0123456789' })).rejects.toThrow(/not both/);
      await expect(reg({ method: 'self_signed_tls_client_auth', certificates: [readFileSync(f('app.key'), 'utf8')] } as never)).rejects.toThrow(/certificate/);
      await expect(reg({ method: 'self_signed_tls_client_auth', certificates: [] } as never)).rejects.toThrow(/1 to 4/);
      await expect(reg({ method: 'password' } as never)).rejects.toThrow(/tls_client_auth or self_signed/);
    } finally {
      store.close();
    }
  });
});
