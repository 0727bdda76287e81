/**
 * Adversarial review of the device verification page (RFC 8628 §3.3, §5.4) as deployed: the
 * real service over HTTP, SQLite on disk, Chromium.
 *
 * The attack: the attacker starts a device authorization for the same app the victim uses (a TV
 * app) and gets the victim's browser to open its verification_uri_complete once (a link, a
 * redirect) while signed out. The page stored the attacker's user code in the victim's session,
 * and when the victim later opened the plain /device page to connect their own TV and signed in,
 * the form came pre-filled with the attacker's code; the confirmation shows the same app and
 * scope the victim expects, and Allow connects the attacker's device to the victim's account.
 * The code from verification_uri_complete now travels only with the sign-in form of that page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, SqliteStore, type AuthzServer } from '../authz/index.js';
import { post } from './support/authz-client.js';
import { launchChromium } from './support/chromium.js';

const dir = mkdtempSync(join(tmpdir(), 'review-device-seed-'));
let store: SqliteStore;
let server: AuthzServer;
let browser: Browser;
let base = '';

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'tv', scopes: ['watch'] });
  await registerClient(store, { id: 'tv-app', audiences: ['tv'], scopes: ['watch'], grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
  await registerUser(store, 'alice', 'alice-password');
  server = await createAuthzServer({ store, dataDir: dir });
  base = (await server.listen(0)).url;
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const deviceCode = async () => (await post(base, '/device_authorization', { client_id: 'tv-app', scope: 'watch' }, 'form')).data as { user_code: string; verification_uri_complete: string };
async function signIn(page: import('playwright-core').Page): Promise<void> {
  await page.fill('#username', 'alice');
  await page.fill('#password', 'alice-password');
  await page.click('#login');
  await page.waitForSelector('#user_code');
}

describe('a user code opened once does not wait in the session for a later sign-in (review)', () => {
  it('the plain /device page is not pre-filled with a code another page brought in; verification_uri_complete still is', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    const attacker = await deviceCode();
    await page.goto(attacker.verification_uri_complete); // the victim closes this sign-in page
    await page.goto(`${base}/device`); // later: connecting their own TV
    await signIn(page);
    expect(await page.inputValue('#user_code')).toBe('');
    await context.close();

    // Positive: signing in from verification_uri_complete itself still brings its code along.
    const own = await deviceCode();
    const fresh = await browser.newPage();
    fresh.setDefaultTimeout(5000);
    await fresh.goto(own.verification_uri_complete);
    await signIn(fresh);
    expect(await fresh.inputValue('#user_code')).toBe(own.user_code);
    await fresh.close();
  });
});
