/**
 * The page and admin handlers called as functions (no socket): what server.ts routes to is
 * testable on its own, as token-endpoint.ts is.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  createAuthzServer,
  handleAdmin,
  handleAuthorize,
  handleConsent,
  handleDeviceVerification,
  handleLogin,
  registerAudience,
  registerClient,
  registerUser,
  s256,
  SqliteStore,
  type AuthzServer,
  type WebRequest,
  type WebResponse,
} from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-handlers-'));
let store: SqliteStore;
let as: AuthzServer;
const ADMIN = 'handler-admin-token';

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read', 'write'] });
  for (const [id, scopes] of [['app-a', ['read']], ['app-b', ['read', 'write']]] as const) {
    await registerClient(store, { id, secret: `${id}-secret`, audiences: ['ekg'], scopes: [...scopes], grantTypes: ['authorization_code'], redirectUris: [`https://${id}.example/cb`] });
  }
  await registerUser(store, 'alice', 'correct horse');
  // Created, never listening: the handlers need its context only.
  as = await createAuthzServer({ store, dataDir: dir, adminToken: ADMIN, issuer: 'https://as.example' });
});

afterAll(async () => {
  await as?.close();
  store?.close();
});

function request(method: string, path: string, init: { cookie?: string; authorization?: string; form?: Record<string, string>; body?: string } = {}): WebRequest {
  const body = init.form ? new URLSearchParams(init.form).toString() : (init.body ?? '');
  return {
    method,
    url: new URL(path, 'https://as.example'),
    ...(init.cookie ? { cookie: init.cookie } : {}),
    ...(init.authorization ? { authorization: init.authorization } : {}),
    remoteAddress: '192.0.2.7',
    body: new TextEncoder().encode(body),
  };
}
const text = (r: WebResponse) => (typeof r.body === 'string' ? r.body : new TextDecoder().decode(r.body));
const field = (r: WebResponse, name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(text(r))?.[1];
const cookieOf = (r: WebResponse) => r.headers['set-cookie']!.split(';')[0]!;
const authorize = (client: 'app-a' | 'app-b', cookie?: string) =>
  handleAuthorize(
    as.web,
    request('GET', `/authorize?${new URLSearchParams({ response_type: 'code', client_id: client, redirect_uri: `https://${client}.example/cb`, code_challenge: s256('v'.repeat(50)), code_challenge_method: 'S256', scope: client === 'app-a' ? 'read' : 'read write', audience: 'ekg' })}`, cookie ? { cookie } : {}),
  );

describe('authorize, login and consent as functions', () => {
  it('the consent form names its request; opening another in the session does not change what it approves', async () => {
    const loginA = await authorize('app-a');
    const requestA = field(loginA, 'request')!;
    const signedIn = await handleLogin(as.web, request('POST', '/login', { cookie: cookieOf(loginA), form: { csrf: field(loginA, 'csrf')!, next: '/consent', request: requestA, username: 'alice', password: 'correct horse' } }));
    expect(signedIn.status).toBe(200);
    expect(field(signedIn, 'request')).toBe(requestA);
    const cookie = cookieOf(signedIn);
    const consentB = await authorize('app-b', cookie);
    expect(field(consentB, 'request')).not.toBe(requestA);
    const out = await handleConsent(as.web, request('POST', '/consent', { cookie, form: { csrf: field(signedIn, 'csrf')!, request: requestA, decision: 'approve' } }));
    expect(out.status).toBe(303);
    expect(out.headers.location).toMatch(/^https:\/\/app-a\.example\/cb\?code=/);
    const codes = store.db.prepare('SELECT client_id AS c, scope AS s FROM auth_codes').all();
    expect(codes).toEqual([{ c: 'app-a', s: 'read' }]);
    // Used once; B's own id still opens B only.
    expect((await handleConsent(as.web, request('POST', '/consent', { cookie, form: { csrf: field(signedIn, 'csrf')!, request: requestA, decision: 'approve' } }))).status).toBe(403);
    const b = await handleConsent(as.web, request('POST', '/consent', { cookie, form: { csrf: field(signedIn, 'csrf')!, request: field(consentB, 'request')!, decision: 'deny' } }));
    // RFC 9207 §2: the error names the issuer too.
    expect(b.headers.location).toBe('https://app-b.example/cb?error=access_denied&iss=https%3A%2F%2Fas.example');
  });

  it('sign-in for a request id the session does not hold: 400, no consent form', async () => {
    const login = await authorize('app-a');
    const out = await handleLogin(as.web, request('POST', '/login', { cookie: cookieOf(login), form: { csrf: field(login, 'csrf')!, next: '/consent', request: 'x'.repeat(43), username: 'alice', password: 'correct horse' } }));
    expect(out.status).toBe(400);
    expect(text(out)).not.toContain('name="decision"');
  });
});

describe('device verification and the admin API as functions', () => {
  it('GET /device without a session starts one and asks to sign in', async () => {
    const out = await handleDeviceVerification(as.web, request('GET', '/device?user_code=ABCD-EFGH'));
    expect(out.status).toBe(200);
    expect(out.headers['set-cookie']).toMatch(/^kb_session=/);
    expect(text(out)).toContain('action="/login"');
  });
  it('admin: no or a wrong bearer is 401; a repeated JSON name is 400; a clean body registers', async () => {
    expect((await handleAdmin(as.web, request('POST', '/admin/users', { body: '{}' }))).status).toBe(401);
    expect((await handleAdmin(as.web, request('POST', '/admin/users', { authorization: 'Bearer nope', body: '{}' }))).status).toBe(401);
    const auth = `Bearer ${ADMIN}`;
    const dup = await handleAdmin(as.web, request('POST', '/admin/users', { authorization: auth, body: '{"username":"bob","password":"pw-bob-123456","username":"root"}' }));
    expect(dup.status).toBe(400);
    expect(await store.getUser('root')).toBeUndefined();
    expect((await handleAdmin(as.web, request('GET', '/admin/provision/%E0%A4%A', { authorization: auth }))).status).toBe(400);
    expect((await handleAdmin(as.web, request('POST', '/admin/users', { authorization: auth, body: '{"username":"bob","password":"pw-bob-123456"}' }))).status).toBe(201);
  });
});
