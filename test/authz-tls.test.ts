/**
 * Finding 8: secrets never travel in clear. The real CLI serves HTTPS with certificates made by
 * Debian's openssl (a private CA); curl reads the metadata over it; the broker's revocation-list
 * poller and its introspection (client secret in, unsigned answer out) reach the service over
 * HTTPS trusting that CA only; and a broker given a non-loopback http:// service URL does not start.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { coseKeyFromMap, coseKeyToMap, decodeCbor, encodeCbor, publicCoseKey, toBase64Url, verifyRevocationList, type CborMap } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, SqliteStore } from '../authz/index.js';
import { fetchRevocationList, httpIntrospection } from '../broker/index.js';
import { brokerCommand, brokerServe } from '../cli/index.js';
import { makeCertificates } from './support/tls-certificates.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'authz-tls-'));
const dataDir = join(dir, 'as');
const pem = (name: string) => join(dir, name);
let service: ChildProcess;
let base = '';
let ca = '';
const popKey = nativeProvider.generateKeyPair('Ed25519');

beforeAll(async () => {
  makeCertificates(dir);
  ca = readFileSync(pem('ca.pem'), 'utf8');
  mkdirSync(dataDir, { mode: 0o700 });
  const store = new SqliteStore(join(dataDir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'broker-t', referenceTokens: true, scopes: ['read'] });
  await registerClient(store, { id: 'broker-t-rs', secret: 'rs-secret', audiences: ['broker-t'], grantTypes: [] });
  await registerClient(store, { id: 'app', secret: 'app-secret', audiences: ['broker-t'], scopes: ['read'], grantTypes: ['client_credentials'] });
  store.close();
  service = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--init', '--port', '0', '--tls-cert', pem('server.pem'), '--tls-key', pem('server.key')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  base = await new Promise<string>((resolve, reject) => {
    let out = '';
    service.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    service.once('exit', (code) => reject(new Error(`authz serve exited ${code}`)));
  });
}, 60_000);

afterAll(async () => {
  if (service && service.exitCode === null) {
    const exited = new Promise((r) => service.once('exit', r));
    service.kill('SIGTERM');
    await exited;
  }
});

const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' });

/** A reference token for broker-t over HTTPS: the client secret travels inside TLS. */
async function getToken(): Promise<string> {
  const body = JSON.stringify({ grant_type: 'client_credentials', audience: 'broker-t', scope: 'read', req_cnf: toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey({ kty: 'OKP', crv: 'Ed25519', x: popKey.x }))]]))) });
  const { stdout } = await curl('--cacert', pem('ca.pem'), '-u', 'app:app-secret', '-H', 'content-type: application/json', '--data-binary', body, `${base}/token`);
  return (JSON.parse(stdout) as { access_token: string }).access_token;
}

describe('keybound authz serve --tls-cert --tls-key serves HTTPS', () => {
  it('curl --cacert reads the metadata, and every URL in it is https', async () => {
    expect(base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { stdout } = await curl('--cacert', pem('ca.pem'), `${base}/.well-known/oauth-authorization-server`);
    const meta = JSON.parse(stdout) as Record<string, unknown>;
    expect(meta.issuer).toBe(base);
    for (const k of ['token_endpoint', 'authorization_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'jwks_uri', 'trl_endpoint']) expect(meta[k]).toMatch(/^https:\/\//);
  });
  it('refuses a client that does not trust the CA, and speaks no plain HTTP on its port', async () => {
    await expect(curl(`${base}/.well-known/oauth-authorization-server`)).rejects.toMatchObject({ code: 60 /* peer certificate cannot be authenticated */ });
    await expect(curl('--cacert', pem('other.pem'), `${base}/keys`)).rejects.toMatchObject({ code: 60 });
    // Plain HTTP on the TLS port gets no HTTP answer at all: curl's 52 (empty reply) or 56 (receive failure).
    await expect(curl('--fail', base.replace('https:', 'http:') + '/.well-known/oauth-authorization-server')).rejects.toSatisfy((e: { code?: number }) => e.code === 52 || e.code === 56);
  });
  it('--tls-cert without --tls-key is a usage error', async () => {
    const r = await run(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--init', '--tls-cert', pem('server.pem')]).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('--tls-cert and --tls-key go together') });
  });
});

describe('the broker reaches the service over HTTPS, trusting the private CA', () => {
  it('the revocation-list poller fetches the signed list; without the CA (or with another) it gets nothing', async () => {
    const log: string[] = [];
    const list = await fetchRevocationList({ authzUrl: base, ca, audience: 'broker-t', log: (l) => log.push(l) });
    expect(log).toEqual([]);
    const { stdout } = await run('curl', ['-sS', '--cacert', pem('ca.pem'), `${base}/keys`], { encoding: 'buffer' });
    const keys = (decodeCbor(new Uint8Array(stdout)) as CborMap[]).map(coseKeyFromMap);
    expect(verifyRevocationList(list!, keys[0]!, { audience: 'broker-t', provider: nativeProvider }).audience).toBe('broker-t');
    for (const trust of [undefined, readFileSync(pem('other.pem'), 'utf8')]) {
      const refused: string[] = [];
      expect(await fetchRevocationList({ authzUrl: base, ...(trust ? { ca: trust } : {}), audience: 'broker-t', log: (l) => refused.push(l) })).toBeUndefined();
      expect(refused.join()).toMatch(/certificate/);
    }
  });
  it('introspection sends its secret over HTTPS and reads the answer; a wrong CA fails closed', async () => {
    const token = await getToken();
    const introspect = httpIntrospection(base, { clientId: 'broker-t-rs', clientSecret: 'rs-secret' }, ca);
    const bytes = new Uint8Array(Buffer.from(token, 'base64url'));
    expect(await introspect(bytes)).toMatchObject({ active: true, aud: 'broker-t' });
    const untrusted = httpIntrospection(base, { clientId: 'broker-t-rs', clientSecret: 'rs-secret' }, readFileSync(pem('other.pem')));
    await expect(untrusted(bytes)).rejects.toMatchObject({ code: 'introspection_failed' });
  });
  it('keybound broker serve --authz-url https://... --authz-ca starts, polls, and logs no failure', async () => {
    writeFileSync(pem('rs-secret'), 'rs-secret\n');
    const { stdout } = await run('curl', ['-sS', '--cacert', pem('ca.pem'), '-o', pem('keys.cbor'), `${base}/keys`]);
    expect(stdout).toBe('');
    const out = { stdout: '', stderr: '' };
    const io = { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } };
    const args = ['--audience', 'broker-t', '--trust', pem('keys.cbor'), '--port', '0', '--authz-url', base, '--client-id', 'broker-t-rs', '--client-secret-file', pem('rs-secret')];
    const broker = await brokerServe([...args, '--authz-ca', pem('ca.pem')], io);
    await broker.close();
    expect(out.stderr).not.toMatch(/fetch failed/);
    // Without the CA the same start logs the refused certificate (the poller never trusts it by default).
    const without = await brokerServe(args, io);
    await without.close();
    expect(out.stderr).toMatch(/revocation list fetch failed: .*certificate/);
  });
});

describe('a broker refuses to reach the service in clear off loopback', () => {
  const setup = () => {
    writeFileSync(pem('rs-secret'), 'rs-secret\n');
    writeFileSync(pem('trust.cbor'), encodeCbor([coseKeyToMap(publicCoseKey({ kty: 'OKP', crv: 'Ed25519', x: popKey.x }))]));
    const out = { stdout: '', stderr: '' };
    const io = { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } };
    const args = (url: string) => ['--audience', 'broker-t', '--trust', pem('trust.cbor'), '--port', '0', '--authz-url', url, '--client-id', 'broker-t-rs', '--client-secret-file', pem('rs-secret'), '--trl-poll', '0'];
    return { out, io, args };
  };
  it('broker serve --authz-url http://10.1.2.3:8080 (never contacted): a typed error at start, exit 1', async () => {
    const { out, io, args } = setup();
    await expect(brokerServe(args('http://10.1.2.3:8080'), io)).rejects.toMatchObject({ code: 'insecure_authz_url' });
    expect(await brokerCommand(['serve', ...args('http://10.1.2.3:8080')], io)).toBe(1);
    expect(out.stderr).toMatch(/must be reached over https .*\(insecure_authz_url\)/);
    expect(out.stdout).not.toMatch(/listening/);
    for (const url of ['http://example.com', 'http://[::ffff:10.1.2.3]:80', 'ftp://127.0.0.1/', 'not a url']) {
      await expect(brokerServe(args(url), io)).rejects.toMatchObject({ code: 'insecure_authz_url' });
    }
  });
  it('http on loopback (127.0.0.1, localhost, [::1]) and https anywhere are allowed', async () => {
    const { io, args } = setup();
    for (const url of ['http://127.0.0.1:9', 'http://localhost:9', 'http://[::1]:9', 'https://10.1.2.3:8443']) {
      const broker = await brokerServe(args(url), io);
      await broker.close();
    }
  });
});
