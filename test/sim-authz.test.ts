import { describe, expect, it } from 'vitest';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFleet, startAuthzIssuer, MAX_BROKER_DEVICES, PHANTOM_MAX_TTL_S, SIM_LIFETIME_S, type AuthzIssuer } from '../firmware-sim/index.js';
import { demoCommand, parseSimArgs } from '../cli/index.js';

describe('a small fleet through the real authorization service over loopback HTTP', () => {
  it('provisions devices from authz/, gets tokens, introspects, revokes; every scenario check holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-authz-'));
    let issuer: AuthzIssuer | undefined;
    const r = await runFleet({
      scenario: 'mixed',
      devices: 12,
      seed: 'authz',
      issuer: async (_prng, clock) => (issuer = await startAuthzIssuer({ dataDir: dir, clock, lifetime: SIM_LIFETIME_S })),
    });
    expect(issuer!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(r.issuer).toContain('authz/ service over HTTP');
    expect(existsSync(join(dir, 'authz.sqlite'))).toBe(true);
    expect(r.authorizations.succeeded).toBeGreaterThanOrEqual(10);
    // The gateway's phantom-token cache, against the real service's introspection and revocation.
    const c = r.connected;
    expect(c.referenceTokens).toBeGreaterThan(0);
    expect(c.cacheHits).toBeGreaterThan(0);
    expect(c.cacheHits + c.introspections).toBe(c.gatewayRequests);
    expect(c.cacheEvictions).toBe(0);
    // Nothing evicted: every introspection is a token's first request or a cache entry that expired.
    expect(c.introspections).toBe(c.referenceTokens + c.cacheExpired);
    // A token revoked at the service is still served from the cache, but never past the entry's TTL,
    // and then refused because the service now says inactive.
    expect(c.revokedTokens).toBeGreaterThan(0);
    expect(c.servedAfterRevocation).toBeGreaterThan(0);
    expect(c.maxServedAfterRevocationS).toBeLessThanOrEqual(PHANTOM_MAX_TTL_S);
    expect(c.revokedRefused).toBe(c.revokedTokens);
    expect(r.refusals['gateway_inactive_token']).toBe(c.revokedTokens);
    expect(r.theft.tries).toBeGreaterThan(0);
    expect(r.theft.accepted).toBe(0);
    expect(r.revocation.devicesApplied).toBe(r.revocation.revoked);
    expect(r.revocation.acceptedAfter).toBe(0);
    expect(r.reboots.nonceReuse).toBe(0);
    expect(r.clockless.acceptedAfterExpiry).toBe(0);
    expect(r.clockless.renewed).toBeGreaterThan(0);
  }, 60_000);
});

describe('a small fleet through the real authorization service and the real broker over loopback', () => {
  it('devices wake, connect with a PoP CONNECT, get what the broker queued, and serve it; the thief gets nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-broker-'));
    const r = await runFleet({
      scenario: 'mixed',
      devices: 12,
      seed: 'broker',
      relay: 'broker',
      issuer: async (_prng, clock) => startAuthzIssuer({ dataDir: dir, clock, lifetime: SIM_LIFETIME_S }),
    });
    expect(r.relay).toMatch(/^keybound broker \(aedes\) at mqtt:\/\/127\.0\.0\.1:\d+/);
    expect(r.issuer).toContain('authz/ service over HTTP');
    expect(r.authorizations.succeeded).toBeGreaterThanOrEqual(10);
    expect(r.radio.wakes).toBeGreaterThan(0);
    // The broker refused the thief's replayed CONNECT and its stolen broker token (CONNACK 4).
    expect(r.theft.byAttack['broker: replayed CONNECT']?.tries).toBeGreaterThan(0);
    expect(r.theft.byAttack['broker: stolen broker token, own key']?.tries).toBeGreaterThan(0);
    expect(r.refusals['connack_4']).toBe(r.theft.byAttack['broker: replayed CONNECT']!.tries + r.theft.byAttack['broker: stolen broker token, own key']!.tries);
    expect(r.theft.accepted).toBe(0);
    // Revocation lists went out retained on ace/trl/<audience> and reached the sleeping devices.
    expect(r.revocation.revoked).toBeGreaterThan(0);
    expect(r.revocation.devicesApplied).toBe(r.revocation.revoked);
    expect(r.revocation.acceptedAfter).toBe(0);
    expect(r.reboots.nonceReuse).toBe(0);
    expect(r.clockless.acceptedAfterExpiry).toBe(0);
  }, 60_000);
  it('takes small fleets only, and says so', async () => {
    await expect(runFleet({ scenario: 'theft', devices: MAX_BROKER_DEVICES + 1, seed: 'x', relay: 'broker' })).rejects.toThrow(/at most 200 devices/);
    expect(parseSimArgs(['--relay', 'broker', '--devices', String(MAX_BROKER_DEVICES + 1)])).toMatch(/--relay broker takes at most/);
    expect(parseSimArgs(['--relay', 'radio'])).toMatch(/--relay must be sim or broker/);
    expect(parseSimArgs(['--relay', 'broker', '--devices', '6'])).toMatchObject({ relay: 'broker', devices: 6 });
  });
});

describe('keybound demo', () => {
  it('runs, as npm start does (default fleet), both flows and a theft attempt against the real service and broker, prints an account and the report path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-demo-'));
    let out = '';
    const started = Date.now();
    const code = await demoCommand(['--out', dir], { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => undefined } });
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(out).toMatch(/relay: keybound broker \(aedes\) at mqtt:\/\/127\.0\.0\.1/);
    expect(out).toContain('connected flow');
    expect(out).toContain('disconnected flow');
    expect(out).toMatch(/theft: 0 accepted out of \d+ tries/);
    expect(out).toContain(join(dir, 'report.html'));
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
  }, 60_000);
  it('refuses unknown options', async () => {
    let err = '';
    expect(await demoCommand(['--bogus'], { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) } })).toBe(2);
    expect(err).toMatch(/unknown option --bogus \(see keybound demo --help\)/);
  });
});
