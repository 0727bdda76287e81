import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/chromium.js';
import { fromBase64Url, verifyCwt } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-browser-'));
let store: SqliteStore;
let as: AuthzServer;
let asUrl = '';
let browser: Browser;
let client: Server;
let clientUrl = '';
const verifier = 'k'.repeat(64);
let received: { code?: string; state?: string } = {};

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  // The client app's redirect target: a real loopback server that records what it was sent.
  client = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/cb') received = { code: u.searchParams.get('code') ?? undefined, state: u.searchParams.get('state') ?? undefined };
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<p id="done">received</p>');
  });
  await new Promise<void>((r) => client.listen(0, '127.0.0.1', r));
  clientUrl = `http://127.0.0.1:${(client.address() as AddressInfo).port}/cb`;
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerClient(store, { id: 'doctor-app', name: 'Doctor App', secret: 'app-secret', audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code'], redirectUris: [clientUrl] });
  await registerUser(store, 'alice', 'correct horse');
  as = await createAuthzServer({ store, dataDir: dir });
  asUrl = (await as.listen(0)).url;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await as?.close();
  store?.close();
  await new Promise((r) => client.close(r));
});

describe('a person signs in and approves in a real browser', () => {
  it('login page, consent page naming client, audience and scope, then the client gets its token', async () => {
    const page = await browser.newPage();
    const q = new URLSearchParams({ response_type: 'code', client_id: 'doctor-app', redirect_uri: clientUrl, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'xyz' });
    await page.goto(`${asUrl}/authorize?${q}`);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong');
    await page.click('#login');
    expect(await page.textContent('#error')).toContain('Wrong');
    await page.fill('#username', 'alice');
    await page.fill('#password', 'correct horse');
    await page.click('#login');
    expect(await page.textContent('#client')).toBe('Doctor App');
    expect(await page.textContent('#audience')).toBe('ekg');
    expect(await page.textContent('#scope')).toBe('read');
    await page.click('#approve');
    await page.waitForSelector('#done');
    expect(received.state).toBe('xyz');
    const res = await fetch(`${asUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: received.code!, code_verifier: verifier, redirect_uri: clientUrl, client_id: 'doctor-app', client_secret: 'app-secret' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string };
    const v = verifyCwt(fromBase64Url(body.access_token), as.keys.publicKeys(Date.now() / 1000)[0]!, { audience: 'ekg', clock: () => Date.now() / 1000, provider: nativeProvider });
    expect(v.claims.sub).toBe('alice');
    await page.close();
  });
});
