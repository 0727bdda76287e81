/**
 * Walkthrough (stop 36): `--issuer 127.0.0.1:8080` (a URL without its scheme) was taken by
 * `authz serve` and `authz provision`: it went into every token's iss, the metadata's endpoints
 * and the device's bundle, and named nothing a client could reach. An issuer is an http(s) URL
 * with no query or fragment (RFC 8414 §2), refused otherwise before anything is written or served.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/index.js';

const BIN = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kb-issuer-url-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
}

describe('--issuer is a URL', () => {
  it('provision refuses an issuer that is not an http(s) URL, or has a query, fragment or trailing "/", and writes no bundle', async () => {
    expect(await main(['authz', 'register-device', 'tube-1', '--data-dir', dir, '--init', '--scope', 'read'], io().io)).toBe(0);
    const out = join(dir, 'tube-1.cbor');
    for (const [issuer, says] of [
      ['127.0.0.1:8080', /must be a URL such as/],
      ['localhost:8080', /https:\/\/ \(or http:\/\/\) URL/],
      ['as.example', /must be a URL/],
      ['ftp://as.example', /https:\/\//],
      ['https://as.example?x=1', /no query or fragment/],
      ['https://as.example#top', /no query or fragment/],
      ['https://as.example/', /without "\/"/],
      ['https://user:pw@as.example', /no user or password/],
      // The URL parser trims these; iss would keep them (review 37).
      [' https://as.example', /starts or ends with a space/],
      ['https://as.example\t', /starts or ends with a space/],
    ] as const) {
      const r = io();
      expect(await main(['authz', 'provision', 'tube-1', '--data-dir', dir, '--out', out, '--issuer', issuer], r.io), issuer).toBe(2);
      expect(r.out.stderr, issuer).toMatch(says);
      expect(r.out.stderr).not.toContain('pw@');
      expect(existsSync(out)).toBe(false);
    }
    const bad = io();
    expect(await main(['authz', 'provision', 'tube-1', '--data-dir', dir, '--out', out, '--issuer', 'https://as.example', '--as-url', '127.0.0.1:8080'], bad.io)).toBe(2);
    expect(existsSync(out)).toBe(false);
    const ok = io();
    expect(await main(['authz', 'provision', 'tube-1', '--data-dir', dir, '--out', out, '--issuer', 'http://127.0.0.1:8080', '--as-url', 'http://127.0.0.1:8080'], ok.io)).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('authz serve refuses it at start (exit 2), before it listens', () => {
    const r = spawnSync(process.execPath, [BIN, 'authz', 'serve', '--data-dir', dir, '--port', '0', '--issuer', '127.0.0.1:8080'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--issuer must be a URL such as/);
    expect(r.stdout + r.stderr).not.toMatch(/listening on/);
  }, 90_000);
});
