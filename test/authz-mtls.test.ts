/**
 * RFC 8705 against the real CLI service, with certificates made by Debian's openssl and requests
 * made by curl: tls_client_auth (a client CA and a registered subject DN), self_signed_tls_client_auth
 * (a registered certificate), certificate-bound JWT access tokens whose cnf x5t#S256 equals the
 * thumbprint `openssl x509 -outform DER | openssl dgst -sha256` gives, verified with jose against
 * /jwks.json; another certificate, an untrusted chain with the same DN, or none, is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, SqliteStore } from '../authz/index.js';
import { makeCertificates } from './support/tls-certificates.js';
import { stop, waitForLine } from './support/processes.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'authz-mtls-'));
const dataDir = join(dir, 'as');
const f = (name: string) => join(dir, name);
let service: ChildProcess;
let base = '';

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}
/** An EC P-256 client certificate `name` with `subj`, signed by `ca` (or self-signed without one). */
function clientCert(name: string, subj: string, ca?: string): void {
  if (!ca) {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subj);
    return;
  }
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
  writeFileSync(f(`${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}
/** What openssl alone says the x5t#S256 of a certificate is (RFC 8705 §3.1). */
function opensslX5t(pem: string): string {
  const der = execFileSync('openssl', ['x509', '-in', f(pem), '-outform', 'DER']);
  const hex = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(' ')[0]!;
  return Buffer.from(hex, 'hex').toString('base64url');
}

beforeAll(async () => {
  makeCertificates(dir);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'clientca.key', '-out', 'clientca.pem', '-days', '2', '-subj', '/CN=keybound client CA');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'rogueca.key', '-out', 'rogueca.pem', '-days', '2', '-subj', '/CN=rogue CA');
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
  store.close();
  // The CLI registration the README shows (RFC 8705 §2.1.2: one subject DN).
  await run(process.execPath, ['bin/keybound.js', 'authz', 'register-client', 'app', '--data-dir', dataDir, '--audience', 'api', '--scope', 'read', '--grant-type', 'client_credentials', '--tls-client-auth-subject-dn', 'CN=app,O=Clinic']);
  service = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--port', '0', '--tls-cert', f('server.pem'), '--tls-key', f('server.key'), '--tls-client-ca', f('clientca.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  service.stderr!.resume(); // pino JSON logs: drained
  base = (await waitForLine(service, /listening on (\S+)/))[1]!;
}, 60_000);

afterAll(() => stop(service));

/** curl, trusting the service's CA only, with the client certificate `cert` (or none). */
async function curlToken(form: Record<string, string>, cert?: string, extra: string[] = []): Promise<{ status: number; body: Record<string, unknown> }> {
  const args = ['-sS', '--max-time', '10', '--cacert', f('ca.pem'), '-w', '\n%{http_code}', ...extra];
  if (cert) args.push('--cert', f(`${cert}.pem`), '--key', f(`${cert}.key`));
  for (const [k, v] of Object.entries(form)) args.push('--data-urlencode', `${k}=${v}`);
  const { stdout } = await run('curl', [...args, `${base}/token`], { encoding: 'utf8' });
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: JSON.parse(stdout.slice(0, i)) as Record<string, unknown> };
}

async function jwks(): Promise<JSONWebKeySet> {
  const { stdout } = await run('curl', ['-sS', '--cacert', f('ca.pem'), `${base}/jwks.json`], { encoding: 'utf8' });
  return JSON.parse(stdout) as JSONWebKeySet;
}

describe('RFC 8705 metadata', () => {
  it('says tokens are certificate-bound, lists both methods, and the mTLS aliases are this listener', async () => {
    const { stdout } = await run('curl', ['-sS', '--cacert', f('ca.pem'), `${base}/.well-known/oauth-authorization-server`], { encoding: 'utf8' });
    const m = JSON.parse(stdout) as Record<string, unknown>;
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
    expect((payload.cnf as Record<string, string>)['x5t#S256']).toBe(opensslX5t('app.pem'));
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
    expect((payload.cnf as Record<string, string>)['x5t#S256']).toBe(opensslX5t('device.pem'));
    const other = await curlToken({ grant_type: 'client_credentials', client_id: 'phone-7', audience: 'api' }, 'other-device');
    expect([other.status, other.body.error]).toEqual([401, 'invalid_client']);
  });
});
