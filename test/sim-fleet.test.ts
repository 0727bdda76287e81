import { describe, expect, it, afterAll } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeResponseBody, encodeAuthzInfoRequest } from '../device/index.js';
import {
  EnergyMeter,
  FlashError,
  FlashStorage,
  HARDWARE_PROFILES,
  IEEE_802154,
  KEYBOUND_RAM_SHARE,
  NRF24,
  PHANTOM_INACTIVE_TTL_S,
  PHANTOM_MAX_TTL_S,
  PhantomTokenCache,
  RADIO_LINKS,
  RUNTIME_FIXED_BYTES,
  SENSOR_SCOPE,
  SESSION_RAM_BYTES,
  SimDevice,
  createSimIssuer,
  deviceBudgets,
  flashRegionBytes,
  keyboundRamBytes,
  seededProvider,
  type HardwareProfile,
  Prng,
  Simulator,
  barChart,
  createProgressBar,
  frameMessage,
  renderReportHtml,
  runFleet,
  type SimReport,
} from '../firmware-sim/index.js';
import { simCommand, parseSimArgs } from '../cli/index.js';

const fixedNow = () => new Date('2030-01-01T00:00:00.000Z');
const strip = (r: SimReport) => JSON.stringify({ ...r, generatedAt: undefined });

describe('seeded randomness and the virtual clock', () => {
  it('a seed reproduces a stream; another seed does not', () => {
    expect(new Prng(42).bytes(32)).toEqual(new Prng(42).bytes(32));
    expect(new Prng(42).bytes(32)).not.toEqual(new Prng(43).bytes(32));
    expect(new Prng('a').fork('x').nextU32()).toBe(new Prng('a').fork('x').nextU32());
  });
  it('runs processes in virtual time order, same-time events in scheduling order', async () => {
    const sim = new Simulator();
    const log: string[] = [];
    sim.spawn(async () => { await sim.sleep(10); log.push(`a${sim.now}`); });
    sim.spawn(async () => { await sim.sleep(5); log.push(`b${sim.now}`); await sim.sleep(5); log.push(`c${sim.now}`); });
    await sim.run();
    expect(log).toEqual(['b5', 'a10', 'c10']);
  });
  it('fails the run when a process throws', async () => {
    const sim = new Simulator();
    sim.spawn(async () => { throw new Error('boom'); });
    await expect(sim.run()).rejects.toThrow('boom');
  });
});

describe('hardware models', () => {
  it('fragments a message that does not fit one 127-byte 802.15.4 frame, and it costs more per byte', () => {
    expect(frameMessage(IEEE_802154, 80).frames).toBe(1);
    const big = frameMessage(IEEE_802154, 300);
    expect(big.frames).toBe(3); // 101 bytes in FRAG1, 111 in each FRAGN
    expect(big.airBytes / 300).toBeGreaterThan(frameMessage(IEEE_802154, 80).airBytes / 80 - 0.5);
  });
  it('flash keeps data, counts writes and charges programming time', () => {
    const hw = HARDWARE_PROFILES['nrf52840']!;
    const meter = new EnergyMeter(hw);
    const flash = new FlashStorage(hw, meter);
    flash.put('seq', new Uint8Array([1, 2, 3]));
    expect(flash.get('seq')).toEqual(new Uint8Array([1, 2, 3]));
    expect(flash.writes).toBe(1);
    expect(meter.flashS).toBeGreaterThan(0);
    expect(flash.get('missing')).toBeUndefined();
  });
  it('every profile cites a class, a clock and currents', () => {
    for (const p of Object.values(HARDWARE_PROFILES)) {
      expect([0, 1, 2]).toContain(p.rfc7228Class);
      expect(p.sleepA).toBeLessThan(p.cpuA);
      expect(p.cycles.ed25519Verify).toBeGreaterThan(p.cycles.sha256Block);
    }
  });
});

describe('a mixed fleet on the in-simulator issuer', () => {
  let first: SimReport;
  it('is reproducible: the same seed gives the same report byte for byte apart from generatedAt', async () => {
    first = await runFleet({ scenario: 'mixed', devices: 48, seed: 'repro', now: fixedNow });
    const second = await runFleet({ scenario: 'mixed', devices: 48, seed: 'repro', now: () => new Date() });
    expect(strip(second)).toBe(strip(first));
    const html1 = renderReportHtml(first).replace(/<time[^<]*<\/time>/, '').replace(/"generatedAt":"[^"]*"/, '');
    const html2 = renderReportHtml(second).replace(/<time[^<]*<\/time>/, '').replace(/"generatedAt":"[^"]*"/, '');
    expect(html2).toBe(html1);
    const other = await runFleet({ scenario: 'mixed', devices: 48, seed: 'other', now: fixedNow });
    expect(strip(other)).not.toBe(strip(first));
  });
  it('authorizes nearly every device; the class-0 part refuses (token_store_full) rather than overflow', async () => {
    expect(first.authorizations.succeeded).toBeGreaterThan(first.authorizations.attempted * 0.8);
    const r = await runFleet({ scenario: 'disconnected', devices: 20, seed: 3, now: fixedNow });
    expect(r.refusals['token_store_full']).toBeGreaterThanOrEqual(1);
  });
  it('says why every unauthorized device failed: only the class-0 part, for want of RAM', () => {
    const failedDevices = first.unauthorized.reduce((a, u) => a + u.devices, 0);
    expect(failedDevices).toBe(first.authorizations.attempted - first.authorizations.succeeded);
    expect(failedDevices).toBeGreaterThan(0);
    for (const u of first.unauthorized) expect([u.reason, u.profile]).toEqual(['token_store_full', 'class0-avr']);
    expect(renderReportHtml(first)).toContain('Why not authorized');
  });
  it('a PoP proof queued for a sleeping device is still fresh when it wakes (no stale-iat refusals)', async () => {
    const r = await runFleet({ scenario: "disconnected", devices: 60, seed: "iat", now: fixedNow });
    const proofs = r.energyPerAuthorization.filter((e) => e.tokenType.endsWith('PoP proof')).reduce((a, e) => a + e.count, 0);
    expect(proofs).toBeGreaterThan(5);
    expect(r.unauthorized.filter((u) => u.reason !== 'token_store_full')).toEqual([]);
  });
  it('charts print counts as integers', () => {
    const svg = barChart('t', 'count', ['n'], [{ label: 'a', values: [4] }, { label: 'b', values: [2.5] }]);
    expect(svg).toContain('>4</text>');
    expect(svg).not.toContain('4.00');
    expect(svg).toContain('>2.50</text>');
  });
  it('Mac0 tokens cost a class-1 device less energy than Sign1 ones', () => {
    const e = (type: string) => first.energyPerAuthorization.find((x) => x.profile === 'cc2538' && x.tokenType === type)!.meanMilliJoule;
    expect(e('Mac0 + OSCORE')).toBeLessThan(e('Sign1 Ed25519 + OSCORE'));
  });
  it('CWTs are smaller on air than the same tokens as JWTs', () => {
    for (const b of first.bytesOnAir) {
      expect(b.tokenCwt).toBeLessThan(b.tokenJwt);
      expect(b.airCwt).toBeLessThan(b.airJwt);
    }
  });
});

describe('the scenarios hold their promises', () => {
  it('theft: zero stolen tokens or proofs accepted out of every try', async () => {
    const r = await runFleet({ scenario: 'theft', devices: 16, seed: 'thief', now: fixedNow });
    expect(r.theft.tries).toBeGreaterThanOrEqual(r.authorizations.succeeded * 3);
    expect(r.authorizations.succeeded).toBeGreaterThan(10);
    expect(r.theft.accepted).toBe(0);
    for (const a of Object.values(r.theft.byAttack)) expect(a.accepted).toBe(0);
  });
  it('revocation reaches sleeping devices through the retained list; nothing revoked is served', async () => {
    const r = await runFleet({ scenario: 'revocation', devices: 12, seed: 'rev', now: fixedNow });
    expect(r.revocation.revoked).toBeGreaterThan(0);
    expect(r.revocation.devicesApplied).toBe(r.revocation.revoked);
    expect(r.revocation.acceptedAfter).toBe(0);
    expect(r.revocation.requestsAfter).toBe(r.revocation.revoked);
  });
  it('reboot storm: clients re-establish OSCORE contexts (RFC 9203 §4.3), no AEAD nonce is ever reused, old messages stay refused', async () => {
    const r = await runFleet({ scenario: 'reboot-storm', devices: 12, seed: 'storm', now: fixedNow });
    expect(r.reboots.reboots).toBeGreaterThanOrEqual(12 * 4);
    expect(r.reboots.succeeded).toBe(r.reboots.requests);
    expect(r.reboots.nonceReuse).toBe(0);
    // Each served OSCORE request costs the device an unprotect and a protect (RFC 8613 §8.2-8.3).
    expect(r.profiles.reduce((a, p) => a + p.cryptoAeads, 0)).toBeGreaterThanOrEqual(2 * r.reboots.succeeded);
    expect(r.reboots.replaysRefused).toBe(r.reboots.replaysTried);
    expect(r.reboots.flashWrites).toBeGreaterThan(0);
  });
  it('clock-less devices: refused after exi, the old token never again, a new one accepted', async () => {
    const r = await runFleet({ scenario: 'clockless', devices: 8, seed: 'exi', now: fixedNow });
    expect(r.clockless.acceptedAfterExpiry).toBe(0);
    expect(r.clockless.expiredRefused).toBe(8);
    expect(r.clockless.reusedTokenRefused).toBe(8);
    expect(r.clockless.renewed).toBe(8);
  });
});

describe('keybound sim', () => {
  it('parses and refuses arguments', () => {
    expect(parseSimArgs(['--devices', '0'])).toMatch(/--devices/);
    expect(parseSimArgs(['--scenario', 'nope'])).toMatch(/--scenario/);
    expect(parseSimArgs(['--devices', '5', '--seed', 'x'])).toMatchObject({ devices: 5, seed: 'x' });
  });
  it('writes the report and no progress bar when stderr is not a TTY', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
    let out = '';
    let err = '';
    const code = await simCommand(['--scenario', 'theft', '--devices', '6', '--seed', '1', '--report', join(dir, 'r.html'), '--json', join(dir, 'r.json')], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
    });
    expect(code).toBe(0);
    expect(out).toContain('theft: 0 accepted');
    expect(err).toBe('');
  });
  it('draws a progress bar only when asked or on a TTY', () => {
    let text = '';
    const bar = createProgressBar({ write: (s: string) => (text += s) }, { force: true, now: () => 0 });
    bar.update(5, 10);
    bar.finish();
    expect(text).toContain('5/10');
    const quiet = createProgressBar({ write: () => { throw new Error('wrote'); } });
    quiet.update(1, 2);
    expect(quiet.enabled).toBe(false);
  });
});

describe('the HTML report in headless Chromium, with no network', () => {
  let browser: Browser | undefined;
  afterAll(async () => browser?.close());
  it('renders its charts and the theft summary from a file:// URL, and asks for nothing', async () => {
    const r = await runFleet({ scenario: 'mixed', devices: 24, seed: 'html', now: fixedNow });
    const dir = mkdtempSync(join(tmpdir(), 'sim-html-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, renderReportHtml(r));
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    expect(await page.locator('svg').count()).toBe(4);
    expect(await page.locator('svg rect').count()).toBeGreaterThan(8);
    expect(await page.locator('#theft-summary').textContent()).toContain('0 stolen tokens or proofs accepted');
    const embedded = JSON.parse((await page.locator('#report-json').textContent())!);
    expect(embedded.devices).toBe(24);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);
});

describe("the gateway's phantom-token cache", () => {
  const token = (n: number) => new Uint8Array(32).fill(n);
  it('answers a token it has seen from the cache, keyed by the token, until min(exp, max TTL)', () => {
    let now = 1000;
    const cache = new PhantomTokenCache(() => now);
    expect(cache.lookup(token(1))).toEqual({ hit: false, expired: false });
    expect(cache.store(token(1), { active: true, exp: now + 3600 })).toBe(now + PHANTOM_MAX_TTL_S);
    expect(cache.lookup(token(1))).toEqual({ hit: true, active: true });
    expect(cache.lookup(token(2))).toEqual({ hit: false, expired: false });
    now += PHANTOM_MAX_TTL_S;
    expect(cache.lookup(token(1))).toEqual({ hit: false, expired: true });
    // A token that expires before the max TTL takes its entry with it.
    expect(cache.store(token(3), { active: true, exp: now + 10 })).toBe(now + 10);
    now += 10;
    expect(cache.lookup(token(3)).hit).toBe(false);
    expect([cache.hits, cache.misses, cache.expired]).toEqual([1, 4, 2]);
  });
  it('keeps an inactive answer only briefly', () => {
    let now = 0;
    const cache = new PhantomTokenCache(() => now);
    cache.store(token(1), { active: false });
    expect(cache.lookup(token(1))).toEqual({ hit: true, active: false });
    now += PHANTOM_INACTIVE_TTL_S;
    expect(cache.lookup(token(1)).hit).toBe(false);
  });
  it('is bounded: when full the least recently used entry goes, expired ones first', () => {
    let now = 0;
    const cache = new PhantomTokenCache(() => now, { maxEntries: 2 });
    cache.store(token(1), { active: true });
    cache.store(token(2), { active: true });
    cache.lookup(token(1)); // 2 is now the least recently used
    cache.store(token(3), { active: true });
    expect(cache.size).toBe(2);
    expect(cache.evictions).toBe(1);
    expect(cache.lookup(token(2)).hit).toBe(false);
    expect(cache.lookup(token(1)).hit).toBe(true);
    now += PHANTOM_MAX_TTL_S;
    cache.store(token(4), { active: true });
    cache.store(token(5), { active: true });
    expect(cache.evictions).toBe(1); // the full cache dropped its expired entries, nothing live
  });
  it('connected fleet: hits and introspections come from the cache; a revoked token is served at most one TTL', async () => {
    const r = await runFleet({ scenario: 'connected', devices: 40, seed: 'phantom', now: fixedNow });
    const c = r.connected;
    expect(c.referenceTokens).toBe(40);
    expect(c.cacheHits).toBeGreaterThan(0);
    expect(c.cacheHits + c.introspections).toBe(c.gatewayRequests);
    expect(c.cacheEvictions).toBe(0);
    expect(c.cacheExpired).toBeGreaterThan(0);
    expect(c.introspections).toBe(c.referenceTokens + c.cacheExpired);
    expect(c.revokedTokens).toBe(20);
    expect(c.servedAfterRevocation).toBeGreaterThan(0);
    expect(c.maxServedAfterRevocationS).toBeGreaterThan(0);
    expect(c.maxServedAfterRevocationS).toBeLessThanOrEqual(PHANTOM_MAX_TTL_S);
    expect(c.revokedRefused).toBe(c.revokedTokens);
    // A cache too small for the fleet evicts live entries and introspects far more often.
    const small = await runFleet({ scenario: 'connected', devices: 40, seed: 'phantom', now: fixedNow, gatewayCacheEntries: 4 });
    expect(small.connected.cacheEvictions).toBeGreaterThan(0);
    expect(small.connected.introspections).toBeGreaterThan(c.introspections);
    expect(small.connected.revokedRefused).toBe(small.connected.revokedTokens);
  });
});

describe("RAM budgets come from the part's RAM", () => {
  it('a stated share of RAM, split so that the budgets fit it', () => {
    for (const hw of Object.values(HARDWARE_PROFILES)) {
      const b = deviceBudgets(hw);
      expect(keyboundRamBytes(hw)).toBe(Math.floor(hw.ramBytes * KEYBOUND_RAM_SHARE));
      const used = RUNTIME_FIXED_BYTES + b.tokenBudgetBytes + b.maxSessions * SESSION_RAM_BYTES;
      if (b.tokenBudgetBytes > 0) expect(used).toBeLessThanOrEqual(keyboundRamBytes(hw));
    }
    expect(deviceBudgets(HARDWARE_PROFILES['class0-avr']!)).toMatchObject({ tokenBudgetBytes: 0, maxSessions: 0 });
    const b1 = deviceBudgets(HARDWARE_PROFILES['msp430']!);
    const b2 = deviceBudgets(HARDWARE_PROFILES['nrf52840']!);
    expect(b2.tokenBudgetBytes).toBeGreaterThan(b1.tokenBudgetBytes);
    expect(b2.maxSessions).toBeGreaterThan(b1.maxSessions);
    expect(b1.maxSessions).toBeGreaterThanOrEqual(1);
  });
  it('the same part with less RAM refuses the token it took before (token_store_full), with no code change', async () => {
    const epoch = 1_800_000_000;
    const prng = new Prng('ram');
    const issuer = createSimIssuer(prng.fork('as'), () => epoch);
    await issuer.register([{ id: 'd', protection: 'sign1', clockless: false }]);
    const bundle = await issuer.bundleFor('d');
    const { token } = await issuer.issue({ audience: 'd', clientId: 'c', scope: SENSOR_SCOPE });
    const present = (hw: HardwareProfile): string => {
      const dev = new SimDevice({ id: 'd', hw, bundle, prng: prng.fork(`dev:${hw.ramBytes}`), sim: new Simulator(), epoch });
      // RFC 9200 §5.10.1: the token alone (the store is what is budgeted; the ACE-OSCORE exchange
      // answers the same refusal as a bare 5.03, without the code's name).
      const answer = dev.handle('authz-info', encodeAuthzInfoRequest({ token }));
      // RFC 9200 §5.10.1: an accepted token is answered with an empty map (0xa0).
      return answer.length === 1 && answer[0] === 0xa0 ? 'accepted' : (decodeResponseBody(answer).error ?? 'refused');
    };
    const nrf = HARDWARE_PROFILES['nrf52840']!;
    expect(present(nrf)).toBe('accepted');
    expect(present({ ...nrf, ramBytes: 4 * 1024 })).toBe('token_store_full');
  });
});

describe("flash: keybound's region, refusal when full, wear against endurance", () => {
  const hw = HARDWARE_PROFILES['class0-avr']!;
  it('takes a stated region of the part, refuses a write that would not fit (ERR_FLASH_FULL) and keeps what it had', () => {
    const flash = new FlashStorage(hw, new EnergyMeter(hw));
    expect(flash.regionBytes).toBe(flashRegionBytes(hw));
    expect(flash.regionBytes).toBeLessThanOrEqual(hw.flashBytes);
    expect(flash.regionBytes % hw.flashPageBytes).toBe(0);
    const room = flash.regionBytes - hw.flashPageBytes; // one page kept free to compact into
    flash.put('a', new Uint8Array(room - 8 - 1 - 100));
    // Rewriting a key replaces its record: the live bytes do not add up.
    for (let i = 0; i < 20; i++) flash.put('a', new Uint8Array(room - 8 - 1 - 100).fill(i));
    expect(flash.liveBytes).toBe(room - 100);
    let err: unknown;
    try {
      flash.put('b', new Uint8Array(100));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlashError);
    expect((err as FlashError).code).toBe('ERR_FLASH_FULL');
    expect(flash.get('b')).toBeUndefined();
    expect(flash.get('a')![0]).toBe(19);
    expect(flash.refusedWrites).toBe(1);
    flash.put('b', new Uint8Array(100 - 8 - 1)); // exactly fits
    expect(() => new FlashStorage(hw, new EnergyMeter(hw), { regionBytes: hw.flashBytes * 2 })).toThrow(RangeError);
  });
  it('counts erase cycles per page against the endurance and refuses past it (ERR_FLASH_WORN)', () => {
    const worn: HardwareProfile = { ...hw, flashEndurance: 3 };
    const flash = new FlashStorage(worn, new EnergyMeter(worn));
    const value = new Uint8Array(100);
    let writes = 0;
    expect(() => {
      for (;;) {
        flash.put('k', value);
        writes++;
      }
    }).toThrow(expect.objectContaining({ code: 'ERR_FLASH_WORN' }));
    const record = value.length + 1 + 8;
    expect(writes).toBe(Math.floor((3 * flash.regionBytes) / record));
    expect(flash.eraseCyclesPerPage).toBeCloseTo((writes * record) / flash.regionBytes, 9);
    expect(flash.wearFraction).toBeGreaterThan(0.95);
    expect(flash.wearFraction).toBeLessThanOrEqual(1);
    expect(flash.get('k')).toEqual(value);
  });
  it('the report gives the fleet\'s worst wear as a fraction of endurance', async () => {
    const r = await runFleet({ scenario: 'reboot-storm', devices: 12, seed: 'storm', now: fixedNow });
    expect(r.flash.writes).toBe(r.reboots.flashWrites);
    expect(r.flash.maxWearFraction).toBeGreaterThan(0);
    expect(r.flash.maxWearFraction).toBe(Math.max(...r.profiles.map((p) => p.maxFlashWearFraction)));
    expect(r.flash.refusedWrites).toBe(0);
  });
});

describe("the class-0 part's nRF24L01+ link", () => {
  it('the class-0 part talks over nRF24 packets of 32 payload bytes, 24 after the network header', () => {
    expect(HARDWARE_PROFILES['class0-avr']!.radio).toBe('nrf24');
    expect(RADIO_LINKS.nrf24).toBe(NRF24);
    expect([250_000, 1_000_000, 2_000_000]).toContain(NRF24.bitsPerSecond);
    expect(NRF24.maxFrameBytes - NRF24.macOverhead).toBe(24);
    expect(frameMessage(NRF24, 24).frames).toBe(1);
    expect(frameMessage(NRF24, 25).frames).toBe(2);
    expect(frameMessage(NRF24, 300).frames).toBe(13);
    // A token fragments far more on nRF24 than on 802.15.4.
    expect(frameMessage(NRF24, 250).frames).toBeGreaterThan(frameMessage(IEEE_802154, 250).frames * 3);
  });
});
