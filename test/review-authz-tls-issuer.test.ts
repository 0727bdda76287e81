/**
 * Adversarial review of HTTPS (issue 9, finding 8): `keybound authz serve --tls-cert --tls-key`
 * as its own process, a certificate from Debian's openssl, curl.
 *
 * The attack: the service served HTTPS but took `--issuer http://…`, and its metadata (RFC 8414)
 * then sent every client to http:// endpoints: client secrets, codes and tokens crossed the
 * network in clear to whoever answers there, the TLS listener notwithstanding. A service with a
 * certificate refuses a plain-http issuer at start; an https issuer is served as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stop, waitForLine } from './support/processes.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'review-tls-issuer-'));
const dataDir = join(dir, 'as');
const procs: ChildProcess[] = [];
const serve = (issuer: string) => {
  const p = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--init', '--port', '0', '--issuer', issuer, '--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  return p;
};

beforeAll(() => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.pem', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'pipe' });
  mkdirSync(dataDir, { mode: 0o700 });
});
afterAll(async () => {
  for (const p of procs) await stop(p);
  rmSync(dir, { recursive: true, force: true });
});

describe('a service with a certificate never advertises http (review)', () => {
  it('refuses --issuer http://… with --tls-cert, and serves https metadata for an https issuer', async () => {
    const bad = serve('http://as.example');
    let stderr = '';
    bad.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      bad.once('exit', (c) => resolve(c));
      // Should it start, read what it advertises (and stop it), so the failure says what leaked.
      void waitForLine(bad, /listening on (\S+)/).then(async (m) => {
        const { stdout } = await run('curl', ['-sS', '-k', '--max-time', '10', `${m[1]}/.well-known/oauth-authorization-server`], { encoding: 'utf8' });
        stderr += `started; token_endpoint ${(JSON.parse(stdout) as { token_endpoint: string }).token_endpoint}`;
        await stop(bad);
      }, () => undefined);
    });
    expect(stderr).toMatch(/https/);
    expect(stderr).not.toMatch(/started/);
    expect(code).not.toBe(0);

    const good = serve('https://as.example');
    const url = (await waitForLine(good, /listening on (\S+)/))[1]!;
    const { stdout } = await run('curl', ['-sS', '-k', '--max-time', '10', `${url}/.well-known/oauth-authorization-server`], { encoding: 'utf8' });
    const meta = JSON.parse(stdout) as Record<string, unknown>;
    expect(meta.issuer).toBe('https://as.example');
    expect(meta.token_endpoint).toBe('https://as.example/token');
  });
});
