/**
 * The admin API's own guess limit (carried from review 37's notes: it relied on the token's
 * strength alone). Past CLIENT_AUTH_FAILURES wrong tokens from one address in a window, that
 * address gets 429 with Retry-After before any comparison; right tokens never count, and failed
 * client authentications at /token are a separate count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_AUTH_FAILURES, createAuthzServer, SqliteStore, type AuthzServer } from '../authz/index.js';

const ADMIN = 'admin-Vq3xT9kLm2Rw8ZpB4nYc7-guess-limit';
let server: AuthzServer;
let store: SqliteStore;
let base = '';
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'authz-admin-limit-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  server = await createAuthzServer({ store, dataDir: dir, adminToken: ADMIN });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
});

const rotate = (token: string) => fetch(`${base}/admin/rotate-key`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
const tokenWithWrongSecret = () =>
  fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('nobody:wrong-secret').toString('base64')}` }, body: JSON.stringify({ grant_type: 'client_credentials', audience: 'x' }) });

describe('admin API: guesses of the token are limited per address', () => {
  it('right tokens never count', async () => {
    for (let i = 0; i < CLIENT_AUTH_FAILURES + 5; i++) expect((await rotate(ADMIN)).status).toBe(201);
  }, 60_000);

  it(`after ${CLIENT_AUTH_FAILURES} wrong tokens: 429 with Retry-After, the right one included; /token's count is its own`, async () => {
    for (let i = 0; i < CLIENT_AUTH_FAILURES; i++) expect((await rotate(`guess-${i}`)).status).toBe(401);
    const refused = await rotate('guess-more');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(((await refused.json()) as { error: string }).error).toBe('temporarily_unavailable');
    expect((await rotate(ADMIN)).status).toBe(429);
    // Client authentication at /token is not locked by the admin guesses.
    expect((await tokenWithWrongSecret()).status).toBe(401);
  }, 60_000);
});
