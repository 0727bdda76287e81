/** `keybound authz ...` through the CLI's own function, against a real SQLite store on disk. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/index.js';
import { decodeProvisioningBundle, encodeCoseKey, toBase64Url } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { SqliteStore } from '../authz/index.js';

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
}

describe('keybound authz', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keybound-cli-'));

  it('registers a device and a client, then provisions a bundle the device can load', async () => {
    const a = io();
    expect(await main(['authz', 'register-device', 'tube-123', '--data-dir', dir, '--clockless', '--scope', 'read_result'], a.io)).toBe(0);
    expect(a.out.stdout).toContain('registered device tube-123');
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'Vq3-xT9_kLm2Rw8ZpB4nYc7\n');
    const b = io();
    expect(await main(['authz', 'register-client', 'ekg-abc', '--data-dir', dir, '--secret-file', secretFile, '--audience', 'tube-123', '--scope', 'read_result', '--grant-type', 'client_credentials'], b.io)).toBe(0);
    const rs = io();
    expect(await main(['authz', 'register-client', 'gw-rs', '--data-dir', dir, '--secret-file', secretFile, '--audience', 'tube-123', '--resource-server'], rs.io)).toBe(0);
    const store = new SqliteStore(join(dir, 'authz.sqlite'));
    try {
      expect(await store.getClient('gw-rs')).toMatchObject({ resourceServer: true, grantTypes: [] });
      expect(await store.getClient('ekg-abc')).toMatchObject({ resourceServer: false, grantTypes: ['client_credentials'] });
    } finally {
      store.close();
    }
    const out = join(dir, 'tube-123.cbor');
    const c = io();
    expect(await main(['authz', 'provision', 'tube-123', '--data-dir', dir, '--out', out, '--issuer', 'https://as.example'], c.io)).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const bundle = decodeProvisioningBundle(new Uint8Array(readFileSync(out)));
    expect(bundle.audience).toBe('tube-123');
    expect(bundle.trustAnchors.length).toBeGreaterThan(0);
    expect(c.out.stdout + c.out.stderr).not.toMatch(/"d"|k:/);
  });

  it('registers a client by its public key (JWK or COSE_Key file) and a device with its own key for rs_cnf', async () => {
    const client = nativeProvider.generateKeyPair('Ed25519');
    const jwkFile = join(dir, 'client.jwk.json');
    writeFileSync(jwkFile, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: toBase64Url(client.x), d: toBase64Url(client.d!) }));
    const rs = nativeProvider.generateKeyPair('Ed25519');
    const rsFile = join(dir, 'rs.cose');
    writeFileSync(rsFile, encodeCoseKey({ kty: 'OKP', crv: 'Ed25519', x: rs.x }));
    const a = io();
    expect(await main(['authz', 'register-device', 'tube-9', '--data-dir', dir, '--rs-key', rsFile], a.io)).toBe(0);
    const b = io();
    expect(await main(['authz', 'register-client', 'ekg-key', '--data-dir', dir, '--public-key', jwkFile, '--audience', 'tube-9'], b.io)).toBe(0);
    const store = new SqliteStore(join(dir, 'authz.sqlite'));
    try {
      const c = await store.getClient('ekg-key');
      expect(c?.publicKey?.x).toEqual(client.x);
      expect(c?.publicKey?.d).toBeUndefined(); // only the public half is kept
      expect(c?.secretHash).toBeUndefined();
      expect((await store.getAudience('tube-9'))?.rsKey?.x).toEqual(rs.x);
    } finally {
      store.close();
    }
    const junk = join(dir, 'junk.key');
    writeFileSync(junk, 'd: 0123456789abcdef-secret-ish');
    const c = io();
    expect(await main(['authz', 'register-client', 'bad-key', '--data-dir', dir, '--public-key', junk], c.io)).toBe(1);
    expect(c.out.stderr).toMatch(/not a COSE_Key or JWK/);
    expect(c.out.stderr).not.toContain('secret-ish');
  });

  it('answers a wrong command line with one clear line and exit 2', async () => {
    const a = io();
    expect(await main(['authz', 'register-device', '--data-dir', dir], a.io)).toBe(2);
    expect(a.out.stderr.trim().split('\n')).toHaveLength(1);
    const b = io();
    expect(await main(['authz', 'nope'], b.io)).toBe(2);
    const c = io();
    expect(await main(['authz', 'register-device', 'x', '--data-dir', dir, '--protection', 'rot13'], c.io)).toBe(2);
  });
});

describe('keybound authz provision --out into a directory that does not exist', () => {
  it("names the operator's path and its missing directory, not the temporary file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybound-cli-out-'));
    expect(await main(['authz', 'register-device', 'tube-1', '--data-dir', dir, '--init', '--scope', 'read'], io().io)).toBe(0);
    const out = join(dir, 'missing', 'tube-1.cbor');
    const r = io();
    expect(await main(['authz', 'provision', 'tube-1', '--data-dir', dir, '--out', out, '--issuer', 'https://as.example'], r.io)).toBe(1);
    expect(r.out.stderr).toContain(`cannot write ${out}: its directory ${join(dir, 'missing')} does not exist`);
    expect(r.out.stderr).not.toMatch(/\.tmp/);
  });
});
