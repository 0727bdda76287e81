/**
 * Adversarial review of the issuance budget (issue 9, finding 9) against the real service over
 * HTTP with SQLite on disk.
 *
 * The attack: the budget was counted per client id, and a public client's id is shared by every
 * user of the app (RFC 6749 §2.1: an app on many phones). One user, holding nothing but her own
 * refresh token, refreshes in a loop and spends the whole app's budget: every other user of the
 * app is then refused (429) at sign-in and at refresh for the rest of the window. A public client
 * is budgeted per client and user instead; a confidential client stays budgeted per client id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s256, type SqliteStore, type AuthzServer } from '../authz/index.js';
import { PHONE_REDIRECT_URI, startPhoneService } from './support/phone-app.js';
import { errorOf, loginAndConsent, post } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'review-budget-'));
const LIMIT = { tokens: 4, windowSeconds: 60 };
const now = 1_800_000_000;
const redirectUri = PHONE_REDIRECT_URI;
let store: SqliteStore;
let server: AuthzServer;
let base = '';

beforeAll(async () => {
  ({ store, server, base } = await startPhoneService(dir, ['mallory', 'alice'], { clock: () => now, issuanceLimit: LIMIT }));
});
afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function signIn(user: string): Promise<{ status: number; refresh: string; error?: string }> {
  const verifier = `${user}-`.padEnd(50, 'v');
  const q = new URLSearchParams({ response_type: 'code', client_id: 'phone', redirect_uri: redirectUri, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
  const code = await loginAndConsent(base, q, user, `${user}-password`);
  const r = await post(base, '/token', { grant_type: 'authorization_code', client_id: 'phone', code, code_verifier: verifier, redirect_uri: redirectUri }, 'json');
  return { status: r.status, refresh: r.data.refresh_token, ...(r.status === 200 ? {} : { error: errorOf(r) }) };
}
const refresh = (token: string) => post(base, '/token', { grant_type: 'refresh_token', client_id: 'phone', refresh_token: token }, 'json');

describe('one user of a public client cannot spend the whole app\'s issuance budget (review)', () => {
  it('a user refreshing in a loop is limited, and another user of the same app still signs in and refreshes', async () => {
    const mallory = await signIn('mallory');
    expect(mallory.status).toBe(200);
    let token = mallory.refresh;
    let limited = 0;
    for (let i = 0; i < LIMIT.tokens * 2; i++) {
      const r = await refresh(token);
      if (r.status === 200) token = r.data.refresh_token;
      else {
        expect(r.status).toBe(429);
        expect(errorOf(r)).toBe('temporarily_unavailable');
        limited++;
      }
    }
    // Her own budget holds: she got LIMIT tokens in all (the sign-in included), the rest refused.
    expect(limited).toBe(LIMIT.tokens + 1);
    // Her refresh token survived the refusals (nothing consumed before the budget said no).
    expect((await refresh(token)).status).toBe(429);

    const alice = await signIn('alice');
    expect(alice).toMatchObject({ status: 200 });
    expect((await refresh(alice.refresh)).status).toBe(200);
  });
});
