/**
 * Adversarial review of the device authorization endpoint (RFC 8628 §3.1) as deployed: the real
 * service over HTTP, SQLite on disk.
 *
 * The attack: a public device client (a TV app) authenticates with nothing but its client_id, so
 * anybody can POST /device_authorization, and each request wrote a device-code row (up to ~1 KiB
 * with a req_cnf) that nothing ever deleted, even once expired: one unauthenticated address fills
 * the service's disk at the speed of its requests. Public clients now get a bounded number of
 * device codes per address per window (429 temporarily_unavailable beyond), another address is
 * unaffected, and expired device codes are pruned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, DEVICE_AUTHORIZATIONS_PER_ADDRESS, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { errorOf, post } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'review-device-flood-'));
let now = 1_800_000_000;
let store: SqliteStore;
let server: AuthzServer;
let base = '';
const rows = () => (store.db.prepare('SELECT COUNT(*) AS n FROM device_codes').get() as { n: number }).n;

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'tv', scopes: ['watch'] });
  await registerClient(store, { id: 'tv-app', audiences: ['tv'], scopes: ['watch'], grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
  server = await createAuthzServer({ store, dataDir: dir, clock: () => now });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** POST /device_authorization as the public client, from `localAddress`. */
function ask(localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(`${base}/device_authorization`, { method: 'POST', localAddress, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    r.on('error', reject);
    r.end('client_id=tv-app&scope=watch');
  });
}

describe('an unauthenticated flood of device authorizations is bounded (review)', () => {
  it('one address gets its share of device codes, then 429; another address still gets one; expired codes go', async () => {
    const replies = [];
    for (let i = 0; i < DEVICE_AUTHORIZATIONS_PER_ADDRESS + 50; i++) replies.push(await ask('127.0.0.2'));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(DEVICE_AUTHORIZATIONS_PER_ADDRESS);
    const refused = replies.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(50);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(JSON.parse(r.body).error).toBe('temporarily_unavailable');
    }
    expect(rows()).toBe(DEVICE_AUTHORIZATIONS_PER_ADDRESS);
    // Another address (a real TV) is served.
    expect((await ask('127.0.0.3')).status).toBe(200);
    // Confidential-client checks still come first: an unknown client gets invalid_client.
    expect(errorOf(await post(base, '/device_authorization', { client_id: 'nobody', scope: 'watch' }, 'form'))).toBe('invalid_client');

    // Long after they expired (an hour past), the codes are gone once new ones are made.
    now += 2 * 3600;
    for (let i = 0; i < 3; i++) expect((await ask('127.0.0.4')).status).toBe(200);
    expect(rows()).toBeLessThanOrEqual(3);
  });
});
