/**
 * Adversarial review of HTTPS (issue 9, finding 8) for the browser pages: `keybound authz serve
 * --tls-cert --tls-key` as its own process, Debian's openssl for the certificate, Chromium.
 *
 * The attack: a network attacker on the user's path makes the browser load any plain-HTTP URL of
 * the service's host (a link, an image, a redirect; cookies are not bound to a port). The session
 * cookie had no `Secure` attribute, so Chromium sent the signed-in session to the attacker in
 * clear, who could then approve any authorization request as the user. Over HTTPS the cookie is
 * Secure and never leaves over plain HTTP; the signed-in flow still works over HTTPS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, registerUser, s256, SqliteStore } from '../authz/index.js';
import { launchChromium } from './support/chromium.js';
import { stop, waitForLine } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'review-cookie-'));
const dataDir = join(dir, 'as');
const HOST = 'as.test';
let service: ChildProcess;
let eavesdropper: Server;
let browser: Browser;
let tlsPort = 0;
let plainPort = 0;
const seenInClear: string[] = [];

beforeAll(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.pem', '-days', '2', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`], { cwd: dir, stdio: 'pipe' });
  mkdirSync(dataDir, { mode: 0o700 });
  const store = new SqliteStore(join(dataDir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerClient(store, { id: 'phone', audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code'], redirectUris: ['https://app.test/cb'] });
  await registerUser(store, 'alice', 'alice-password');
  store.close();
  service = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--init', '--port', '0', '--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
  service.stderr!.resume(); // its JSON log: drained, so a full pipe never blocks it
  tlsPort = Number(new URL((await waitForLine(service, /listening on (\S+)/))[1]!).port);
  // The attacker's plain-HTTP endpoint on the service's host name (another port of the same host).
  eavesdropper = createServer((req, res) => {
    seenInClear.push(req.headers.cookie ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => eavesdropper.listen(0, '127.0.0.1', r));
  plainPort = (eavesdropper.address() as AddressInfo).port;
  // Name resolution as on a real network: as.test is the service's host (not loopback to Chromium).
  browser = await launchChromium([`--host-resolver-rules=MAP ${HOST} 127.0.0.1`]);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => eavesdropper?.close(r));
  await stop(service);
  rmSync(dir, { recursive: true, force: true });
});

describe('the session cookie never crosses the network in clear (review)', () => {
  it('a signed-in session served over HTTPS is not sent to plain HTTP on the same host', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const q = new URLSearchParams({ response_type: 'code', client_id: 'phone', redirect_uri: 'https://app.test/cb', code_challenge: s256('v'.repeat(50)), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
    await page.goto(`https://${HOST}:${tlsPort}/authorize?${q}`);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password');
    await page.click('#login');
    await page.waitForSelector('#approve');
    // Positive: signed in over HTTPS, the session is there.
    const cookies = await context.cookies(`https://${HOST}:${tlsPort}`);
    expect(cookies.map((c) => c.name)).toContain('kb_session');

    await page.goto(`http://${HOST}:${plainPort}/pixel`);
    // Chromium may also ask this host for /favicon.ico: every request it sent in clear is checked.
    expect(seenInClear.length).toBeGreaterThanOrEqual(1);
    for (const cookie of seenInClear) expect(cookie).not.toContain('kb_session');
    await context.close();
  });
});
