/**
 * Adversarial review of client authentication (RFC 6749 §2.3.1) against the real service over
 * HTTP, SQLite on disk.
 *
 * The attack: every client_secret_basic / client_secret_post attempt runs scrypt (16 MiB, tens of
 * milliseconds, on libuv's four threads), an unknown client id too (so it costs what a wrong
 * secret costs), and nothing limited failed attempts: one unauthenticated address sending wrong
 * secrets kept the thread pool busy and every real client's (and user's) check queued behind it.
 * Failed client authentications are now limited per address, before scrypt runs: past the limit
 * the answer is 429 at once; another address, and the right secret from elsewhere, are unaffected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../cose/adapters/index.js';
import { CLIENT_AUTH_FAILURES, createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'review-client-auth-'));
let store: SqliteStore;
let server: AuthzServer;
let base = '';

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerClient(store, { id: 'app', secret: 'app-secret-long-enough', audiences: ['ekg'], scopes: ['read'], grantTypes: ['client_credentials'] });
  server = await createAuthzServer({ store, dataDir: dir, cacheClientSecrets: false });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** POST /token for client_credentials with Basic credentials, from `localAddress`. */
function ask(localAddress: string, id: string, secret: string): Promise<{ status: number; error: string }> {
  return new Promise((resolve, reject) => {
    const r = request(`${base}/token`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json', authorization: basic(id, secret) } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, error: (JSON.parse(body) as { error?: string }).error ?? '' }));
    });
    r.on('error', reject);
    r.end(JSON.stringify({ grant_type: 'client_credentials', audience: 'ekg' }));
  });
}

describe('failed client authentications are limited per address (review)', () => {
  it('one address guessing secrets is cut off before scrypt; the real client elsewhere is served', { timeout: 60_000 }, async () => {
    const replies = [];
    for (let i = 0; i < CLIENT_AUTH_FAILURES + 10; i++) replies.push(await ask('127.0.0.2', i % 2 ? 'app' : `nobody-${i}`, `guess-${i}`));
    expect(replies.slice(0, CLIENT_AUTH_FAILURES).every((r) => r.status === 401 && r.error === 'invalid_client')).toBe(true);
    const cut = replies.slice(CLIENT_AUTH_FAILURES);
    for (const r of cut) expect(r).toEqual({ status: 429, error: 'temporarily_unavailable' });
    // Cut off means no scrypt: the refusals are fast (scrypt alone takes tens of ms each).
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) expect((await ask('127.0.0.2', 'app', `guess-more-${i}`)).status).toBe(429);
    expect(performance.now() - t0).toBeLessThan(20 * 15);
    // The right client from another address is served.
    expect((await ask('127.0.0.3', 'app', 'app-secret-long-enough')).status).toBe(200);
  });
});

describe('requests that stall their bodies hold no count (review, stop 34)', () => {
  it(`${CLIENT_AUTH_FAILURES} requests from one address that never finish their bodies do not refuse a real client there`, { timeout: 60_000 }, async () => {
    // Headers and the body's first byte, then nothing: each waits for the request timeout.
    const stalled = Array.from({ length: CLIENT_AUTH_FAILURES + 8 }, () => {
      const r = request(`${base}/token`, { method: 'POST', localAddress: '127.0.0.7', headers: { 'content-type': 'application/json', 'content-length': '64' } });
      r.on('error', () => {});
      r.write('{');
      return r;
    });
    try {
      // Let the service see every one of them.
      await new Promise((r) => setTimeout(r, 300));
      expect(await ask('127.0.0.7', 'app', 'app-secret-long-enough')).toEqual({ status: 200, error: '' });
    } finally {
      for (const r of stalled) r.destroy();
    }
  });
});
