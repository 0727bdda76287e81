/**
 * Certificate-bound tokens (RFC 8705 §3) at `keybound gateway serve`: certificates made by
 * Debian's openssl, requests made by curl. The service (in process, HTTPS asking for client
 * certificates) binds a JWT to the client's self-signed certificate; the gateway (HTTPS, asking
 * for client certificates) lets it through only over a connection with that certificate, whose
 * x5t#S256 is what `openssl x509 -outform DER | openssl dgst -sha256` gives. The same token with
 * another certificate, or none, is refused, and the upstream never receives it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { gatewayServe } from '../cli/index.js';
import type { Gateway } from '../gateway/index.js';
import { makeCertificates, makeClientCertificate, opensslX5t, type TestCertificates } from './support/tls-certificates.js';
import { curl } from './support/curl.js';

const dir = mkdtempSync(join(tmpdir(), 'gateway-mtls-'));
const f = (name: string) => join(dir, name);
let certs: TestCertificates;
let store: SqliteStore;
let service: AuthzServer;
let upstream: http.Server;
let gateway: Gateway;
const gateways: Gateway[] = [];
let gatewayUrl: string;
const behind: string[] = []; // [trusting 127.0.0.1, trusting another address]
let token: string;
const seen: http.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  certs = makeCertificates(dir);
  makeClientCertificate(dir, 'device', '/CN=phone-7');
  makeClientCertificate(dir, 'other', '/CN=phone-7');
  store = new SqliteStore(f('authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'api', scopes: ['read'] });
  await registerClient(store, { id: 'phone-7', audiences: ['api'], scopes: ['read'], tlsClientAuth: { method: 'self_signed_tls_client_auth', certificates: [readFileSync(f('device.pem'), 'utf8')] } });
  service = await createAuthzServer({ store, dataDir: dir, tls: { cert: certs.cert, key: certs.key, requestClientCert: true } });
  const base = (await service.listen(0)).url;
  const issued = await curl(`${base}/token`, { cacert: certs.files.ca, cert: { pem: f('device.pem'), key: f('device.key') } }, { grant_type: 'client_credentials', client_id: 'phone-7', audience: 'api', scope: 'read' });
  expect(issued.status).toBe(200);
  token = issued.json!.access_token as string;
  writeFileSync(f('jwks.json'), (await curl(`${base}/jwks.json`, { cacert: certs.files.ca })).body);
  upstream = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  let out = '';
  gateway = await gatewayServe(
    ['--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, '--audience', 'api', '--jwks', f('jwks.json'), '--port', '0', '--tls-cert', certs.files.cert, '--tls-key', certs.files.key, '--tls-request-client-cert', '--log-level', 'error'],
    { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } },
    {},
  );
  gatewayUrl = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  // Behind a TLS terminator (plain HTTP from it): the certificate comes in a header, only from the trusted address.
  for (const proxy of ['127.0.0.1', '10.9.9.9']) {
    let line = '';
    gateways.push(
      await gatewayServe(
        ['--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, '--audience', 'api', '--jwks', f('jwks.json'), '--port', '0', '--client-cert-header', 'X-Client-Cert', '--trusted-proxy', proxy, '--log-level', 'error'],
        { stdout: { write: (t: string) => (line += t) }, stderr: { write: () => true } },
        {},
      ),
    );
    behind.push(/listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!);
  }
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  for (const g of gateways) await g.close();
  await new Promise<void>((r) => upstream?.close(() => r()));
  await service?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('certificate-bound tokens at the gateway (RFC 8705 §3)', () => {
  it('lets the token through over a connection with the bound certificate (x5t#S256 as openssl computes it)', async () => {
    const r = await curl(`${gatewayUrl}/records/1`, { cacert: certs.files.ca, cert: { pem: f('device.pem'), key: f('device.key') }, headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    expect(seen.at(-1)!['x-keybound-x5t-s256']).toBe(opensslX5t(f('device.pem')));
    expect(seen.at(-1)!.authorization).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain(token.slice(-40));
  });

  it('refuses the same token with another certificate (same subject) or none, before the upstream', async () => {
    const before = seen.length;
    for (const cert of [{ pem: f('other.pem'), key: f('other.key') }, undefined]) {
      const r = await curl(`${gatewayUrl}/records/1`, { cacert: certs.files.ca, ...(cert ? { cert } : {}), headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(401);
      expect(r.json?.error).toBe('invalid_token');
    }
    // The certificate-bound token cannot pass as a DPoP token either.
    expect((await curl(`${gatewayUrl}/records/1`, { cacert: certs.files.ca, cert: { pem: f('device.pem'), key: f('device.key') }, headers: { authorization: `DPoP ${token}`, dpop: 'x.y.z' } })).status).toBe(401);
    expect(seen.length).toBe(before);
  });

  it('behind a TLS terminator: takes the certificate header only from the trusted address, and never forwards it', async () => {
    const escaped = (name: string) => encodeURIComponent(readFileSync(f(name), 'utf8'));
    const ok = await fetch(`${behind[0]}/records/2`, { headers: { authorization: `Bearer ${token}`, 'x-client-cert': escaped('device.pem') } });
    expect(ok.status).toBe(200);
    expect(seen.at(-1)!['x-keybound-x5t-s256']).toBe(opensslX5t(f('device.pem')));
    expect(seen.at(-1)!['x-client-cert']).toBeUndefined();
    const before = seen.length;
    expect((await fetch(`${behind[0]}/records/2`, { headers: { authorization: `Bearer ${token}`, 'x-client-cert': escaped('other.pem') } })).status).toBe(401);
    expect((await fetch(`${behind[0]}/records/2`, { headers: { authorization: `Bearer ${token}`, 'x-client-cert': 'not%20a%20certificate' } })).status).toBe(400);
    // The same header from an address that is not the terminator is ignored: no certificate, refused.
    expect((await fetch(`${behind[1]}/records/2`, { headers: { authorization: `Bearer ${token}`, 'x-client-cert': escaped('device.pem') } })).status).toBe(401);
    expect(seen.length).toBe(before);
  });
});
