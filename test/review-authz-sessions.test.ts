/**
 * Adversarial review of the browser sessions (authz/browser-sessions.ts) against the real service
 * over HTTP with SQLite on disk.
 *
 * The attack: sessions are bounded (MAX_SESSIONS) by dropping the oldest, and any GET of /device
 * or /authorize makes one, with no credential. An unauthenticated client requesting /device
 * MAX_SESSIONS times from one address pushed every other session out: a user between opening the
 * sign-in page and submitting it got "The form expired", and kept getting it while the flood
 * lasted. Once the table is full, an address that already holds many sessions now gives up its own
 * oldest instead of somebody else's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, get } from 'node:http';
import { MAX_SESSIONS, s256, type SqliteStore, type AuthzServer } from '../authz/index.js';
import { PHONE_REDIRECT_URI, startPhoneService } from './support/phone-app.js';

const dir = mkdtempSync(join(tmpdir(), 'review-sessions-'));
const redirectUri = PHONE_REDIRECT_URI;
let store: SqliteStore;
let server: AuthzServer;
let base = '';

beforeAll(async () => {
  ({ store, server, base } = await startPhoneService(dir, ['alice'], {}));
});
afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a flood of anonymous sessions does not push out a user\'s sign-in (review)', () => {
  it('the user signs in after another address opened MAX_SESSIONS sessions meanwhile', { timeout: 120_000 }, async () => {
    const q = new URLSearchParams({ response_type: 'code', client_id: 'phone', redirect_uri: redirectUri, code_challenge: s256('v'.repeat(50)), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
    // The user (from ::ffff:127.0.0.1 via IPv4 loopback) opens the sign-in page.
    const opened = await fetch(`${base}/authorize?${q}`);
    const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
    const html = await opened.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const request = /name="request" value="([^"]+)"/.exec(html)![1]!;

    // The flood comes from another address (127.0.0.2, still loopback), over kept-alive connections.
    const flooder = new Agent({ keepAlive: true, maxSockets: 32, localAddress: '127.0.0.2' });
    const open = () =>
      new Promise<string>((resolve, reject) => {
        get(`${base}/device`, { agent: flooder }, (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.headers['set-cookie'] ?? '')));
        }).on('error', reject);
      });
    let made = 0;
    const worker = async () => {
      while (made < MAX_SESSIONS + 100) {
        made++;
        expect(await open()).toContain('kb_session=');
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    flooder.destroy();

    const login = await fetch(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, next: '/consent', request, username: 'alice', password: 'alice-password' }),
    });
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('id="approve"');
  });
});
