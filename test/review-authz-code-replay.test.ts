/**
 * Adversarial review of authorization-code replay (RFC 6749 §4.1.2) against the real service over
 * HTTP with SQLite on disk.
 *
 * The attack: a code travels in a URL (browser history, proxy and server logs, Referer). Anybody
 * who later finds a used one could present it with the app's public client_id, no PKCE verifier
 * needed, at any time (used codes are kept), and the service took that as a replay by the code's
 * thief and revoked the user's whole grant: access and refresh tokens. Under PKCE (RFC 7636) a
 * presentation without the code's verifier proves nothing about who holds the grant; the grant
 * now ends only for a replay that would itself have been accepted (same client, redirect URI and
 * verifier), as before for that case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s256, type SqliteStore, type AuthzServer } from '../authz/index.js';
import { PHONE_REDIRECT_URI, startPhoneService } from './support/phone-app.js';
import { errorOf, loginAndConsent, post } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'review-code-replay-'));
let store: SqliteStore;
let server: AuthzServer;
let base = '';

beforeAll(async () => {
  ({ store, server, base } = await startPhoneService(dir, ['alice']));
});
afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function signIn(verifier: string): Promise<{ code: string; refresh: string }> {
  const q = new URLSearchParams({ response_type: 'code', client_id: 'phone', redirect_uri: PHONE_REDIRECT_URI, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
  const code = await loginAndConsent(base, q, 'alice', 'alice-password');
  const r = await post(base, '/token', { grant_type: 'authorization_code', client_id: 'phone', code, code_verifier: verifier, redirect_uri: PHONE_REDIRECT_URI }, 'json');
  expect(r.status).toBe(200);
  return { code, refresh: r.data.refresh_token };
}
const redeem = (code: string, verifier: string) =>
  post(base, '/token', { grant_type: 'authorization_code', client_id: 'phone', code, code_verifier: verifier, redirect_uri: PHONE_REDIRECT_URI }, 'json');
const refresh = (token: string) => post(base, '/token', { grant_type: 'refresh_token', client_id: 'phone', refresh_token: token }, 'json');

describe('a used code found in a log cannot end the user\'s grant (review)', () => {
  it('a replay without the PKCE verifier is refused and leaves the grant alone', async () => {
    const victim = await signIn('a'.repeat(50));
    // The finder has the code (from a URL), not the verifier (it never left the app).
    expect(errorOf(await redeem(victim.code, 'x'.repeat(50)))).toBe('invalid_grant');
    const r = await refresh(victim.refresh);
    expect(r.status, JSON.stringify(r.data)).toBe(200);
  });

  it('a replay that would have been accepted (the code\'s verifier) still ends the grant', async () => {
    const verifier = 'b'.repeat(50);
    const victim = await signIn(verifier);
    expect(errorOf(await redeem(victim.code, verifier))).toBe('invalid_grant');
    expect(errorOf(await refresh(victim.refresh))).toBe('invalid_grant');
  });
});
