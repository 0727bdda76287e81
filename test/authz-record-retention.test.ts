/**
 * Retention (authz/record-retention.ts): the service deletes issued-token records that expired
 * more than `retentionDays` ago, and nothing else: a token still live, one expired inside the
 * window and a clock-less token stay. Before, every record was kept for ever (~3.3 GB a day at 100
 * tokens a second).
 * Against a real service on a real port with SQLite on disk; the store-level cases for both
 * stores are in test/store-contract.test.ts ("retention").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { main } from '../cli/index.js';
import { basic, post } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-retention-'));
const LIFETIME = 600;
const DAY = 86_400;
let now = 1_800_000_000;
let store: SqliteStore;
let server: AuthzServer;
let base: string;
const auth = { authorization: basic('app', 'app-secret-0123456789') };
const issue = async (audience = 'ekg'): Promise<string> => {
  const r = await post(base, '/token', { grant_type: 'client_credentials', audience, scope: 'read' }, 'json', auth);
  expect(r.status).toBe(200);
  return (r.data as { access_token: string }).access_token;
};
const rows = () => (store.db.prepare('SELECT COUNT(*) AS n FROM tokens').get() as { n: number }).n;

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'], lifetime: LIFETIME });
  await registerAudience(store, nativeProvider, { id: 'tube', scopes: ['read'], lifetime: LIFETIME, clockless: true });
  await registerClient(store, { id: 'app', secret: 'app-secret-0123456789', audiences: ['ekg', 'tube'], scopes: ['read'] });
  server = await createAuthzServer({ store, dataDir: dir, clock: () => now, retentionDays: 1 });
  base = (await server.listen(0)).url;
});

afterAll(async () => {
  await server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('record retention', () => {
  it('deletes a token record a day past its expiry, and keeps the live, the recently expired and the clock-less ones', async () => {
    await issue();
    await issue('tube'); // clock-less: its device counts exi from receipt, the record stays
    now += LIFETIME + DAY / 2;
    await issue(); // expired inside the window by the time of the purge below: kept
    expect(rows()).toBe(3);
    // Nothing is past the window yet.
    expect(await server.purgeExpiredRecords()).toBe(0);
    now += DAY / 2 + LIFETIME;
    await issue();
    expect(await server.purgeExpiredRecords()).toBe(1);
    expect(rows()).toBe(3);
    now += DAY + LIFETIME + 1;
    expect(await server.purgeExpiredRecords()).toBe(2);
    // The clock-less token's record is all that is left.
    expect(store.db.prepare('SELECT audience FROM tokens').all()).toEqual([{ audience: 'tube' }]);
  });

  it('keeps every record with retentionDays Infinity, and refuses a retention that is no number of days', async () => {
    const keepAll = await createAuthzServer({ store, dataDir: dir, clock: () => now + 100 * DAY, retentionDays: Number.POSITIVE_INFINITY });
    try {
      expect(await keepAll.purgeExpiredRecords()).toBe(0);
      expect(rows()).toBe(1);
    } finally {
      await keepAll.close();
    }
    for (const retentionDays of [-1, Number.NaN]) await expect(createAuthzServer({ store, dataDir: dir, retentionDays })).rejects.toThrow(RangeError);
  });

  it('keybound authz serve refuses a --retention-days that is not a whole number of days or forever', async () => {
    for (const bad of ['soon', '-3', '1.5', '']) {
      const out = { stdout: '', stderr: '' };
      const io = { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } };
      expect(await main(['authz', 'serve', '--data-dir', dir, '--port', '0', '--retention-days', bad], io)).not.toBe(0);
      expect(out.stderr).toContain('--retention-days');
      expect(out.stdout).not.toContain('listening');
    }
  });
});
