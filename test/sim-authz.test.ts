import { describe, expect, it } from 'vitest';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFleet, startAuthzIssuer, SIM_LIFETIME_S, type AuthzIssuer } from '../firmware-sim/index.js';
import { demoCommand } from '../cli/demo.js';

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
    expect(r.connected.introspections).toBeGreaterThan(0);
    expect(r.connected.cacheHits).toBe(2 * r.connected.introspections);
    expect(r.theft.tries).toBeGreaterThan(0);
    expect(r.theft.accepted).toBe(0);
    expect(r.revocation.devicesApplied).toBe(r.revocation.revoked);
    expect(r.revocation.acceptedAfter).toBe(0);
    expect(r.reboots.nonceReuse).toBe(0);
    expect(r.clockless.acceptedAfterExpiry).toBe(0);
    expect(r.clockless.renewed).toBeGreaterThan(0);
  }, 60_000);
});

describe('keybound demo', () => {
  it('runs both flows and a theft attempt against the real service, prints an account and the report path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-demo-'));
    let out = '';
    const started = Date.now();
    const code = await demoCommand(['--out', dir, '--devices', '12'], { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => undefined } });
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(out).toContain('connected flow');
    expect(out).toContain('disconnected flow');
    expect(out).toMatch(/theft: 0 accepted out of \d+ tries/);
    expect(out).toContain(join(dir, 'report.html'));
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
  }, 60_000);
  it('refuses unknown options', async () => {
    let err = '';
    expect(await demoCommand(['--bogus'], { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) } })).toBe(2);
    expect(err).toContain('usage');
  });
});
