/**
 * Finding 6: consent is bound to what it shows. The attack, in a real Chromium against the real
 * service: the person opens client A's consent page; in the same browser session a top-level
 * navigation (another tab, or a link an attacker got them to follow; SameSite=Lax cookies ride
 * along) opens an authorization request for client B with a wider scope; the person goes back to
 * A's page and presses Allow. That Allow must issue a code for A exactly, never for B.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './support/chromium.js';
import { fromBase64Url, verifyCwt } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-consent-'));
let store: SqliteStore;
let as: AuthzServer;
let asUrl = '';
let browser: Browser;
let apps: Server;
let appsUrl = '';
/** What each client's redirect URI received, by path (/a, /b). */
const received = new Map<string, URLSearchParams>();
const verifierA = 'a'.repeat(64);
const verifierB = 'b'.repeat(64);
const authCodes = () => (store.db.prepare('SELECT client_id AS clientId, scope FROM auth_codes').all() as { clientId: string; scope: string }[]);

function authorizeUrl(client: 'a' | 'b'): string {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: `app-${client}`,
    redirect_uri: `${appsUrl}/${client}`,
    code_challenge: s256(client === 'a' ? verifierA : verifierB),
    code_challenge_method: 'S256',
    scope: client === 'a' ? 'read' : 'read write',
    audience: 'ekg',
    state: `state-${client}`,
  });
  return `${asUrl}/authorize?${q}`;
}

async function signIn(page: Page): Promise<void> {
  await page.fill('#username', 'alice');
  await page.fill('#password', 'correct horse');
  await page.click('#login');
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  // Both clients' redirect targets: a real loopback server recording what each was sent.
  apps = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    received.set(u.pathname, u.searchParams);
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<p id="done">${u.pathname}</p>`);
  });
  await new Promise<void>((r) => apps.listen(0, '127.0.0.1', r));
  appsUrl = `http://127.0.0.1:${(apps.address() as AddressInfo).port}`;
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read', 'write'] });
  await registerClient(store, { id: 'app-a', name: 'Reader A', secret: 'secret-a', audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code'], redirectUris: [`${appsUrl}/a`] });
  await registerClient(store, { id: 'app-b', name: 'Writer B', secret: 'secret-b', audiences: ['ekg'], scopes: ['read', 'write'], grantTypes: ['authorization_code'], redirectUris: [`${appsUrl}/b`] });
  await registerUser(store, 'alice', 'correct horse');
  as = await createAuthzServer({ store, dataDir: dir });
  asUrl = (await as.listen(0)).url;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await as?.close();
  store?.close();
  await new Promise((r) => apps.close(r));
});

async function exchange(client: 'a' | 'b', code: string): Promise<{ status: number; scope?: string }> {
  const res = await fetch(`${asUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: client === 'a' ? verifierA : verifierB, redirect_uri: `${appsUrl}/${client}`, client_id: `app-${client}`, client_secret: `secret-${client}` }),
  });
  if (res.status !== 200) return { status: res.status };
  const body = (await res.json()) as { access_token: string };
  const v = verifyCwt(fromBase64Url(body.access_token), as.keys.publicKeys(Date.now() / 1000)[0]!, { audience: 'ekg', clock: () => Date.now() / 1000, provider: nativeProvider });
  return { status: 200, scope: v.claims.scope as string };
}

describe('consent approves the request its page shows, whatever was opened since (Chromium)', () => {
  it("A's consent page, B's request opened by a top-level navigation in the same session, Allow on A's page: a code for A only, none for B", async () => {
    received.clear();
    const context = await browser.newContext();
    const pageA = await context.newPage();
    await pageA.goto(authorizeUrl('a'));
    await signIn(pageA);
    expect(await pageA.textContent('#client')).toBe('Reader A');
    expect(await pageA.textContent('#scope')).toBe('read');
    // The swap: a top-level navigation in the same browser (cookies included) opens B's request.
    const pageB = await context.newPage();
    await pageB.goto(authorizeUrl('b'));
    expect(await pageB.textContent('#client')).toBe('Writer B');
    // Back to A's page, which still says "Reader A, read": Allow.
    await pageA.bringToFront();
    await pageA.click('#approve');
    await pageA.waitForSelector('#done');
    expect(received.has('/b')).toBe(false);
    expect(authCodes().filter((c) => c.clientId === 'app-b')).toEqual([]);
    // A's approval worked for A, exactly as shown: A's redirect, A's state, A's scope.
    const a = received.get('/a')!;
    expect(a.get('state')).toBe('state-a');
    expect(await exchange('a', a.get('code')!)).toEqual({ status: 200, scope: 'read' });
    // B's request is still open and separate: approving it on its own page gives B its own code.
    await pageB.click('#approve');
    await pageB.waitForSelector('#done');
    expect(received.get('/b')!.get('state')).toBe('state-b');
    expect(await exchange('b', received.get('/b')!.get('code')!)).toEqual({ status: 200, scope: 'read write' });
    await context.close();
  });

  it('a consent POST naming no request, a forged one, or an already decided one issues nothing (403)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(authorizeUrl('a'));
    await signIn(page);
    const csrf = await page.getAttribute('input[name="csrf"]', 'value');
    const request = (await page.getAttribute('input[name="request"]', 'value'))!;
    expect(request).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const before = authCodes().length;
    const post = (fields: Record<string, string>) => page.request.post(`${asUrl}/consent`, { form: { csrf: csrf!, decision: 'approve', ...fields }, maxRedirects: 0 });
    for (const fields of <Record<string, string>[]>[{}, { request: '' }, { request: request.slice(0, -2) + (request.endsWith('AA') ? 'BB' : 'AA') }]) {
      const res = await post(fields);
      expect(res.status()).toBe(403);
      expect(res.headers().location).toBeUndefined();
    }
    expect(authCodes().length).toBe(before);
    // The refusals were the request check's: the page's own id goes through, once.
    const ok = await post({ request });
    expect(ok.status()).toBe(303);
    expect(new URL(ok.headers().location!).searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await post({ request })).status()).toBe(403);
    expect(authCodes().length).toBe(before + 1);
    await context.close();
  });
});
