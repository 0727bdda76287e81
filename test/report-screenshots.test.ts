/**
 * What a person sees (issue 15 "Must show"): the demo report (from a real `keybound demo` run, with
 * the real service and broker), the fleet report (from `keybound sim`) and each page of the
 * authorization service (served by a real running service on a loopback port) rendered by headless
 * Chromium, saved as PNGs under a temporary directory this test prints, and checked through the
 * DOM for what a person needs: titles, pass/fail marks with words, the flows' sequence charts with
 * the thief's refused tries, the form fields. A screenshot must not be blank (distinct colours).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './support/chromium.js';
import { distinctColours, saveScreenshot } from './support/screenshot.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { GRANT_DEVICE_CODE } from '../cose/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { demoCommand, simCommand } from '../cli/index.js';
import { DEMO_REPORT_TITLE, type FlowEvent, type SimReport } from '../firmware-sim/index.js';

/** A page with text, marks and a chart has hundreds of colours (anti-aliasing); a blank one a few. */
const MIN_COLOURS = 32;
/** Every number in a report's number cells: "1,234", "0.5", "12.35 s", "3 / 0", "2 / 5 / 2 (291 s)". */
const FORMATTED = /^(-?\d{1,3}(,\d{3})*(\.\d+)?(e-\d+)?( [a-zA-Z%/]+)?)( \/ -?\d{1,3}(,\d{3})*(\.\d+)?(e-\d+)?( [a-zA-Z%]+)?)*( \(-?\d{1,3}(,\d{3})*(\.\d+)? s\))?$/;
const VERDICT_TEXT = /^(✔ pass|✘ FAIL|– not run|ℹ info)$/;

const quiet = { write: () => true };
const out = mkdtempSync(join(tmpdir(), 'keybound-screenshots-'));
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  // Where a person finds the PNGs to look at.
  console.log(`screenshots: ${out}`);
}, 60_000);
afterAll(async () => browser?.close());

/** Opens a report file with no network, and collects what it asked for and any script error. */
async function openReport(file: string): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(pathToFileURL(file).href);
  return { page, requests, errors };
}

async function notBlank(page: Page, name: string): Promise<string> {
  const { file, png } = await saveScreenshot(page, out, name);
  expect(await distinctColours(browser, png), `${file} looks blank`).toBeGreaterThan(MIN_COLOURS);
  return file;
}

async function checkVerdicts(page: Page): Promise<string[]> {
  const verdicts = await page.locator('#checks td.verdict').allTextContents();
  expect(verdicts.length).toBeGreaterThan(5);
  for (const v of verdicts) expect(v.trim()).toMatch(VERDICT_TEXT);
  return verdicts.map((v) => v.trim());
}

async function checkNumberFormat(page: Page): Promise<void> {
  const cells = await page.locator('td.n').allTextContents();
  expect(cells.length).toBeGreaterThan(10);
  for (const c of cells) expect(c.trim(), 'a number cell outside the one format').toMatch(FORMATTED);
  // Bar values, too, and no bare 4-digit run anywhere in the charts' labels.
  for (const v of await page.locator('svg text.v').allTextContents()) if (/\d/.test(v)) expect(v).toMatch(FORMATTED);
}

describe('the blank check', () => {
  it('rejects a blank page (so a blank screenshot would fail the tests below)', async () => {
    const page = await browser.newPage();
    await page.setContent('<html><body style="background:#fff"></body></html>');
    const png = await page.screenshot({ fullPage: true });
    expect(await distinctColours(browser, png)).toBeLessThanOrEqual(2);
    await page.close();
  });
});

describe('the demo report (keybound demo: real service and broker)', () => {
  let file = '';
  let report: SimReport;
  beforeAll(async () => {
    const dir = join(out, 'demo');
    mkdirSync(dir);
    expect(await demoCommand(['--out', dir], { stdout: quiet, stderr: quiet })).toBe(0);
    file = join(dir, 'report.html');
    report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as SimReport;
  }, 120_000);

  it('has its own title and tells the doctor → EKG → test tube story in three charts', async () => {
    const { page, requests, errors } = await openReport(file);
    expect(await page.title()).toBe(DEMO_REPORT_TITLE);
    expect(await page.locator('h1').textContent()).toBe(DEMO_REPORT_TITLE);
    expect(await page.title()).not.toMatch(/fleet simulation/);
    for (const flow of ['connected', 'disconnected', 'theft']) expect(await page.locator(`#chart-${flow}`).count(), flow).toBe(1);
    const lanes = await page.locator('#chart-connected .lane text').allTextContents();
    expect(lanes).toEqual(["Doctor's app", 'Authorization service', 'Gateway', 'Broker (MQTT)', 'EKG']);
    expect(await page.locator('#chart-disconnected .lane text').allTextContents()).toContain('Test tube (offline)');
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    expect(errors).toEqual([]);
    console.log(`demo report: ${await notBlank(page, 'demo-report')}`);
    await page.locator('#chart-theft').screenshot({ path: join(out, 'demo-theft-chart.png') });
    await page.close();
  }, 60_000);

  it("draws the flows from the events the demo ran, the thief's refused tries included", async () => {
    const { page } = await openReport(file);
    const recorded = (flow: string, pred: (e: FlowEvent) => boolean) => report.flows.events.filter((e) => e.flow === flow && pred(e));
    // One arrow per recorded message, in each chart.
    for (const flow of ['connected', 'disconnected', 'theft']) {
      expect(await page.locator(`#chart-${flow} g.msg`).count(), flow).toBe(recorded(flow, () => true).length);
    }
    // The thief: every refused try is drawn with a mark and its refusal code; none got through.
    const refused = recorded('theft', (e) => e.to === 'thief' && e.outcome === 'refused');
    expect(refused.length).toBeGreaterThanOrEqual(3);
    const drawn = page.locator('#chart-theft g.msg.refused[data-to="thief"]');
    expect(await drawn.count()).toBe(refused.length);
    const labels = await drawn.locator('text.ml').allTextContents();
    labels.forEach((l, i) => expect(l).toBe(`✗ refused: ${refused[i]!.reason}`));
    expect(await page.locator('#chart-theft g.msg.breach').count()).toBe(0);
    // With the real broker, the thief also replays the device's CONNECT, and the broker refuses it.
    expect(await page.locator('#chart-theft g.msg[data-from="thief"][data-to="relay"]', { hasText: 'CONNECT' }).count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-theft g.msg.refused[data-from="relay"][data-to="thief"]').count()).toBeGreaterThan(0);
    // Disconnected: the token waits in the broker until the tube wakes, and the tube answers.
    expect(await page.locator('#chart-disconnected g.msg[data-from="relay"][data-to="tube"]', { hasText: 'when it wakes' }).count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-disconnected g.msg.ok[data-from="tube"][data-to="ekg"]').count()).toBeGreaterThan(0);
    // Connected: the gateway introspects the reference token; after revocation it refuses the app.
    expect(await page.locator('#chart-connected g.msg[data-from="gateway"][data-to="authz"]', { hasText: 'introspect' }).count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-connected g.msg.refused[data-from="gateway"][data-to="app"]').count()).toBe(recorded('connected', (e) => e.from === 'gateway' && e.outcome === 'refused').length);
    await page.close();
  }, 60_000);

  it('marks every check pass or fail with a mark and a word, and formats every number one way', async () => {
    const { page } = await openReport(file);
    const verdicts = await checkVerdicts(page);
    expect(verdicts).toContain('✔ pass');
    expect(verdicts).not.toContain('✘ FAIL');
    await checkNumberFormat(page);
    await page.close();
  }, 60_000);
});

describe('the fleet report (keybound sim)', () => {
  it('has the fleet title, marked checks, its charts and one number format', async () => {
    const dir = join(out, 'fleet');
    mkdirSync(dir);
    const file = join(dir, 'fleet.html');
    expect(await simCommand(['--scenario', 'mixed', '--devices', '48', '--seed', 'shots', '--report', file], { stdout: quiet, stderr: quiet })).toBe(0);
    const { page, requests, errors } = await openReport(file);
    expect(await page.title()).toBe('keybound fleet simulation: mixed, 48 devices, seed shots');
    expect(await page.locator('#theft-summary').textContent()).toMatch(/^✔ Theft: 0 stolen tokens or proofs accepted out of [\d,]+ tries\.$/);
    const verdicts = await checkVerdicts(page);
    expect(verdicts).not.toContain('✘ FAIL');
    expect(await page.locator('svg').count()).toBe(4);
    await checkNumberFormat(page);
    // Byte counts past a thousand: the separators really appear.
    expect(await page.locator('td.n', { hasText: ',' }).count()).toBeGreaterThan(0);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    expect(errors).toEqual([]);
    console.log(`fleet report: ${await notBlank(page, 'fleet-report')}`);
    await page.close();
  }, 120_000);
});

describe("the service's pages (a real service on a loopback port)", () => {
  let store: SqliteStore;
  let as: AuthzServer;
  let base = '';
  const redirect = 'http://127.0.0.1:9/cb';
  let context: BrowserContext;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pages-'));
    store = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
    await registerClient(store, {
      id: 'doctor-app',
      name: 'Doctor App',
      secret: 'app-secret-long-enough',
      audiences: ['ekg'],
      scopes: ['read'],
      grantTypes: ['authorization_code', GRANT_DEVICE_CODE as never],
      redirectUris: [redirect],
    });
    await registerUser(store, 'alice', 'correct horse battery');
    as = await createAuthzServer({ store, dataDir: dir });
    base = (await as.listen(0)).url;
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    await as?.close();
    store?.close();
  });

  async function pageShows(page: Page, name: string, title: string, fields: string[]): Promise<void> {
    expect(await page.locator('h1').textContent(), name).toBe(title);
    expect(await page.title(), name).toBe(title);
    for (const f of fields) expect(await page.locator(f).isVisible(), `${name}: ${f}`).toBe(true);
    // The stylesheet from /static/authz.css applied (a strict CSP forbids inline styles).
    expect(await page.evaluate('getComputedStyle(document.body).maxWidth')).toBe('448px');
    console.log(`${name}: ${await notBlank(page, name)}`);
  }

  it('sign in, a wrong password, consent: titles, fields and buttons', async () => {
    context = await browser.newContext({ viewport: { width: 800, height: 600 } });
    const page = await context.newPage();
    const q = new URLSearchParams({ response_type: 'code', client_id: 'doctor-app', redirect_uri: redirect, code_challenge: s256('v'.repeat(64)), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 's' });
    await page.goto(`${base}/authorize?${q}`);
    await pageShows(page, 'page-login', 'Sign in', ['#username', '#password', '#login']);
    expect(await page.locator('#password').getAttribute('type')).toBe('password');
    expect(await page.locator('input[name="csrf"]').count()).toBe(1);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong password');
    await page.click('#login');
    await pageShows(page, 'page-login-error', 'Sign in', ['#error', '#username', '#password']);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'correct horse battery');
    await page.click('#login');
    await pageShows(page, 'page-consent', 'Allow access?', ['#client', '#audience', '#scope', '#approve', '#deny']);
    expect(await page.textContent('#client')).toBe('Doctor App');
    expect(await page.textContent('#audience')).toBe('ekg');
    expect(await page.textContent('#scope')).toBe('read');
    await page.close();
  }, 60_000);

  it('device verification: sign in, the code form, the confirmation naming the request, done', async () => {
    const res = await fetch(`${base}/device_authorization`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('doctor-app:app-secret-long-enough').toString('base64')}` },
      body: new URLSearchParams({ audience: 'ekg', scope: 'read' }),
    });
    expect(res.status).toBe(200);
    const d = (await res.json()) as { user_code: string; verification_uri: string };
    const ctx = await browser.newContext({ viewport: { width: 800, height: 600 } });
    const page = await ctx.newPage();
    await page.goto(d.verification_uri);
    await pageShows(page, 'page-device-login', 'Sign in', ['#username', '#password', '#login']);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'correct horse battery');
    await page.click('#login');
    await pageShows(page, 'page-device-code', 'Connect a device', ['#user_code', '#continue']);
    // A mistyped code: the same form again, with the error a person can act on.
    await page.fill('#user_code', d.user_code === 'BBBB-BBBB' ? 'CCCC-CCCC' : 'BBBB-BBBB');
    await page.click('#continue');
    await pageShows(page, 'page-device-code-error', 'Connect a device', ['#error', '#user_code', '#continue']);
    expect(await page.textContent('#error')).toContain('not valid');
    await page.fill('#user_code', d.user_code);
    await page.click('#continue');
    await pageShows(page, 'page-device-confirm', 'Connect this device?', ['#code', '#client', '#audience', '#scope', '#approve', '#deny']);
    expect(await page.textContent('#client')).toBe('Doctor App');
    await page.click('#approve');
    await pageShows(page, 'page-device-done', 'Done', ['#message']);
    expect(await page.textContent('#message')).toContain('connected');
    await ctx.close();
  }, 60_000);
});
