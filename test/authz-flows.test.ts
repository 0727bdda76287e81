/**
 * End-to-end flows of the authorization service over real HTTP on loopback, with SQLite on disk:
 * a crash (SIGKILL of a child process) and restart that loses nothing; the device authorization
 * grant's denial and its CBOR form; token exchange and PKCE in JSON / form; CSRF on the login and
 * consent forms; and a person approving a device in a real headless Chromium.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/chromium.js';
import {
  coseKeyFromMap,
  coseKeyToMap,
  createCwt,
  decodeCbor,
  encodeCbor,
  fromBase64Url,
  fromUtf8,
  publicCoseKey,
  toBase64Url,
  tokenHash,
  utf8,
  verifyCwt,
  verifyRevocationList,
  type CborMap,
  type CoseKey,
  GRANT_DEVICE_CODE,
  GRANT_TOKEN_EXCHANGE,
  TOKEN_TYPE_CWT,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  createAuthzServer,
  registerAudience,
  registerClient,
  registerUser,
  s256,
  SqliteStore,
  CLIENT_ASSERTION_TYPE,
  type AuthzServer,
} from '../authz/index.js';
import { basic, post as postTo, type Enc, type Reply } from './support/authz-client.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const REDIRECT = 'http://127.0.0.1:9/cb';
const APP_AUTH = { authorization: basic('app', 's3cret-app') };
const RS_AUTH = { authorization: basic('rs-ekg', 'rs-secret') };

/** RFC 9200 §8.4: CBOR error codes are integers where one is registered; JSON carries the names. */
const ACE_ERROR_NAMES: Record<number, string> = {
  1: 'invalid_request',
  2: 'invalid_client',
  3: 'invalid_grant',
  4: 'unauthorized_client',
  5: 'unsupported_grant_type',
  6: 'invalid_scope',
  7: 'unsupported_pop_key',
  8: 'incompatible_ace_profiles',
};
function errorName(r: Reply): string | undefined {
  const v: unknown = r.data instanceof Map ? r.data.get(30) : r.data?.error;
  return typeof v === 'number' ? (ACE_ERROR_NAMES[v] ?? `unregistered ${v}`) : (v as string | undefined);
}

const deviceKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8('ekg-dev-key') };
})();
const clientPop: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('P-256');
  return { kty: 'EC2', crv: 'P-256', x: p.x, y: p.y!, d: p.d, kid: utf8('app-pop') };
})();
const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(clientPop))]])));

/** The same registrations in each data directory. */
async function seed(dbFile: string): Promise<void> {
  const store = new SqliteStore(dbFile);
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read', 'write'], rsKey: publicCoseKey(deviceKey) });
  await registerAudience(store, nativeProvider, { id: 'tube', clockless: true, scopes: ['read'], exchangeFrom: ['ekg'], lifetime: 600 });
  await registerAudience(store, nativeProvider, { id: 'tv', scopes: ['read'] });
  await registerClient(store, {
    id: 'app',
    name: 'Doctor App',
    secret: 's3cret-app',
    audiences: ['ekg', 'tv'],
    scopes: ['read', 'write'],
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token', GRANT_DEVICE_CODE as never],
    redirectUris: [REDIRECT],
  });
  await registerClient(store, { id: 'ekg-dev', publicKey: publicCoseKey(deviceKey), audiences: ['ekg', 'tube'], scopes: ['read'], grantTypes: ['client_credentials', GRANT_TOKEN_EXCHANGE as never] });
  await registerClient(store, { id: 'rs-ekg', secret: 'rs-secret', audiences: ['ekg'], grantTypes: [] });
  await registerUser(store, 'alice', 'correct horse');
  store.close();
}

const cookieOf = (res: Response): string => res.headers.get('set-cookie')!.split(';')[0]!;
const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)![1]!;
const requestOf = (html: string): string => /name="request" value="([^"]+)"/.exec(html)![1]!;
const formHeaders = (cookie: string) => ({ cookie, 'content-type': 'application/x-www-form-urlencoded' });

/** Signs in on the verification page; returns the signed-in session's cookie and CSRF token. */
async function signInForDevice(base: string): Promise<{ cookie: string; csrf: string }> {
  let res = await fetch(`${base}/device`);
  const first = cookieOf(res);
  const csrf = csrfOf(await res.text());
  res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: formHeaders(first), body: new URLSearchParams({ csrf, next: '/device', username: 'alice', password: 'correct horse' }) });
  expect(res.status).toBe(303);
  const cookie = cookieOf(res);
  res = await fetch(`${base}/device`, { headers: { cookie } });
  return { cookie, csrf: csrfOf(await res.text()) };
}

async function decideDevice(base: string, userCode: string, decision: 'approve' | 'deny'): Promise<Response> {
  const { cookie, csrf } = await signInForDevice(base);
  return fetch(`${base}/device`, { method: 'POST', headers: formHeaders(cookie), body: new URLSearchParams({ csrf, user_code: userCode, decision }) });
}

async function loginAndConsent(base: string, verifier: string): Promise<string> {
  const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'st' });
  let res = await fetch(`${base}/authorize?${q}`, { redirect: 'manual' });
  expect(res.status).toBe(200);
  const cookie = cookieOf(res);
  const html = await res.text();
  const request = requestOf(html);
  res = await fetch(`${base}/login`, { method: 'POST', headers: formHeaders(cookie), body: new URLSearchParams({ csrf: csrfOf(html), next: '/consent', request, username: 'alice', password: 'correct horse' }) });
  expect(res.status).toBe(200);
  const cookie2 = cookieOf(res);
  res = await fetch(`${base}/consent`, { method: 'POST', redirect: 'manual', headers: formHeaders(cookie2), body: new URLSearchParams({ csrf: csrfOf(await res.text()), request, decision: 'approve' }) });
  expect(res.status).toBe(303);
  return new URL(res.headers.get('location')!).searchParams.get('code')!;
}

async function keysAt(base: string): Promise<CoseKey[]> {
  const res = await fetch(`${base}/keys`);
  return (decodeCbor(new Uint8Array(await res.arrayBuffer())) as CborMap[]).map((m) => coseKeyFromMap(m));
}

async function trlAt(base: string, audience: string) {
  const bytes = new Uint8Array(await (await fetch(`${base}/trl/${audience}`)).arrayBuffer());
  const keys = await keysAt(base);
  return verifyRevocationList(bytes, keys[0]!, { audience, provider: nativeProvider });
}

function waitForLine(proc: ChildProcess, pattern: RegExp, ms = 15_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${seen.slice(-500)}`)), ms);
    const onData = (d: Buffer) => {
      seen += d.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (seen += d.toString()));
    proc.once('exit', (code, signal) => reject(new Error(`exited with ${code ?? signal}: ${seen.slice(-500)}`)));
  });
}

describe('a crash and restart loses nothing (first server in a child process, killed with SIGKILL)', () => {
  // The issuer is configured, as a deployment does: a port-0 listener's URL changes on restart.
  const ISSUER = 'urn:example:keybound-as';
  const T0 = 1_800_000_000;
  const dir = mkdtempSync(join(tmpdir(), 'authz-flows-restart-'));
  const dbFile = join(dir, 'authz.sqlite');
  let child: ChildProcess | undefined;
  let base = '';
  let now = T0;
  let store: SqliteStore | undefined;
  let server: AuthzServer | undefined;
  const post = (path: string, body: Parameters<typeof postTo>[2], enc: Enc, headers: Record<string, string> = {}) => postTo(base, path, body, enc, headers);
  const assertion = (cti: string) =>
    toBase64Url(createCwt({ iss: 'ekg-dev', sub: 'ekg-dev', aud: ISSUER, exp: now + 60, iat: now, cti: utf8(cti) }, deviceKey, { provider: nativeProvider }));

  // State made before the crash, checked after it.
  const before: {
    kid?: Uint8Array;
    ccToken?: string;
    usedCode?: string;
    usedCodeVerifier?: string;
    usedCodeAccess?: string;
    refresh?: string;
    device?: { device_code: string; user_code: string };
    trlSequence?: number;
    revokedHash?: Uint8Array;
    ekgDevToken?: string;
    exiSequence?: bigint;
  } = {};

  const exiSequenceOf = (cti: Uint8Array): bigint => {
    expect(fromUtf8(cti.subarray(0, 5))).toBe('tube\0');
    return new DataView(cti.buffer, cti.byteOffset + 5, 8).getBigUint64(0);
  };

  async function startServerInProcess(): Promise<void> {
    store = new SqliteStore(dbFile);
    server = await createAuthzServer({ store, dataDir: dir, clock: () => now, issuer: ISSUER });
    base = (await server.listen(0)).url;
  }
  async function stopServerInProcess(): Promise<void> {
    await server?.close();
    store?.close();
    server = undefined;
    store = undefined;
  }

  beforeAll(async () => {
    await seed(dbFile);
    const script = `import { join } from 'node:path';
import { createAuthzServer, SqliteStore } from ${JSON.stringify(join(root, 'authz/index.ts'))};
const dir = process.env.KB_DIR;
const now = Number(process.env.KB_NOW);
const store = new SqliteStore(join(dir, 'authz.sqlite'));
const server = await createAuthzServer({ store, dataDir: dir, clock: () => now, issuer: process.env.KB_ISSUER });
const { url } = await server.listen(0);
console.log('listening on ' + url);`;
    child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, KB_DIR: dir, KB_NOW: String(T0), KB_ISSUER: ISSUER },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    base = (await waitForLine(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
  }, 20_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    await stopServerInProcess();
  });

  it('issues state at the first server: tokens, a used code, a refresh token, a pending device code, a revocation, an exi token', async () => {
    before.kid = (await keysAt(base))[0]!.kid;
    const cc = await post('/token', { grant_type: 'client_credentials', audience: 'ekg', scope: 'read', req_cnf: reqCnf }, 'json', APP_AUTH);
    expect(cc.status).toBe(200);
    before.ccToken = cc.data.access_token;

    before.usedCodeVerifier = 'a'.repeat(50);
    before.usedCode = await loginAndConsent(base, before.usedCodeVerifier);
    const used = await post('/token', { grant_type: 'authorization_code', code: before.usedCode, code_verifier: before.usedCodeVerifier, redirect_uri: REDIRECT }, 'json', APP_AUTH);
    expect(used.status).toBe(200);
    before.usedCodeAccess = used.data.access_token;

    const verifier = 'b'.repeat(50);
    const code = await loginAndConsent(base, verifier);
    const withRefresh = await post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, 'form', APP_AUTH);
    expect(withRefresh.status).toBe(200);
    before.refresh = withRefresh.data.refresh_token;

    const d = await post('/device_authorization', { audience: 'ekg', scope: 'read' }, 'json', APP_AUTH);
    expect(d.status).toBe(200);
    before.device = d.data;
    const pending = await post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: d.data.device_code }, 'json', APP_AUTH);
    expect(errorName(pending)).toBe('authorization_pending');

    const tv = await post('/token', { grant_type: 'client_credentials', audience: 'tv' }, 'json', APP_AUTH);
    expect((await post('/revoke', { token: tv.data.access_token }, 'form', APP_AUTH)).status).toBe(200);
    const list = await trlAt(base, 'tv');
    expect(list.sequence).toBe(1);
    before.trlSequence = list.sequence;
    before.revokedHash = tokenHash(fromBase64Url(tv.data.access_token));

    const own = await post('/token', { grant_type: 'client_credentials', audience: 'ekg', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('pre-1'), req_cnf: toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(deviceKey))]]))) }, 'json');
    expect(own.status).toBe(200);
    before.ekgDevToken = own.data.access_token;
    const x = await post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience: 'tube', subject_token: own.data.access_token, subject_token_type: TOKEN_TYPE_CWT, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('pre-2') }, 'json');
    expect(x.status).toBe(200);
    const v = verifyCwt(fromBase64Url(x.data.access_token), (await keysAt(base))[0]!, { audience: 'tube', issuer: ISSUER, clock: () => now, provider: nativeProvider });
    before.exiSequence = exiSequenceOf(v.claims.cti!);
    expect(before.exiSequence).toBeGreaterThan(0n);
  });

  it('is killed with SIGKILL and a fresh server opens the same data directory', async () => {
    const exited = new Promise<NodeJS.Signals | null>((r) => child!.once('exit', (_c, s) => r(s)));
    child!.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    await expect(fetch(`${base}/keys`)).rejects.toThrow();
    now = T0 + 30;
    await startServerInProcess();
  });

  it('serves the same signing key, and a token issued before verifies with it and introspects active for its RS', async () => {
    const keys = await keysAt(base);
    expect(keys.map((k) => toBase64Url(k.kid!))).toContain(toBase64Url(before.kid!));
    const token = fromBase64Url(before.ccToken!);
    const byKid = (h: { kid?: Uint8Array }) => keys.find((k) => k.kid && h.kid && Buffer.compare(k.kid, h.kid) === 0);
    const v = verifyCwt(token, byKid, { audience: 'ekg', issuer: ISSUER, clock: () => now, provider: nativeProvider });
    expect(v.claims.sub).toBe('app');
    const i = await post('/introspect', new Map<number, unknown>([[11, token], [24, 'rs-ekg'], [25, utf8('rs-secret')]]) as CborMap, 'cbor');
    expect(i.data.get(10)).toBe(true);
    expect(i.data.get(3)).toBe('ekg');
  });

  it('keeps the revocation list: same sequence and entries, and the next revocation continues upward', async () => {
    const list = await trlAt(base, 'tv');
    expect(list.sequence).toBe(before.trlSequence);
    expect(list.fullSet?.map((h) => toBase64Url(h))).toEqual([toBase64Url(before.revokedHash!)]);
    const tv = await post('/token', { grant_type: 'client_credentials', audience: 'tv' }, 'json', APP_AUTH);
    expect((await post('/revoke', { token: tv.data.access_token }, 'json', APP_AUTH)).status).toBe(200);
    const next = await trlAt(base, 'tv');
    expect(next.sequence).toBe(before.trlSequence! + 1);
    expect(next.fullSet).toHaveLength(2);
  });

  it('still refuses the authorization code used before the crash (invalid_grant), in both encodings, and ends its grant', async () => {
    // The code's token is still known and active: what follows is a known code refused, not a forgotten one.
    expect((await post('/introspect', { token: before.usedCodeAccess! }, 'json', RS_AUTH)).data.active).toBe(true);
    const body = { grant_type: 'authorization_code', code: before.usedCode!, code_verifier: before.usedCodeVerifier!, redirect_uri: REDIRECT };
    expect(errorName(await post('/token', body, 'json', APP_AUTH))).toBe('invalid_grant');
    const cbor = new Map<number | string, unknown>([[33, 1], [29, utf8(before.usedCode!)], ['code_verifier', before.usedCodeVerifier!], [27, REDIRECT], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap;
    expect(errorName(await post('/token', cbor, 'cbor'))).toBe('invalid_grant');
    // RFC 6749 §4.1.2: recognised as a replay, it revokes what the code gave (a forgotten code would not).
    expect((await post('/introspect', { token: before.usedCodeAccess! }, 'json', RS_AUTH)).data).toEqual({ active: false });
  });

  it('rotates a refresh token issued before the crash, and still detects its reuse', async () => {
    const r = await post('/token', { grant_type: 'refresh_token', refresh_token: before.refresh! }, 'json', APP_AUTH);
    expect(r.status).toBe(200);
    expect(r.data.refresh_token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(r.data.refresh_token).not.toBe(before.refresh);
    expect(errorName(await post('/token', { grant_type: 'refresh_token', refresh_token: before.refresh! }, 'json', APP_AUTH))).toBe('invalid_grant');
  });

  it('approves after the restart a device code that was pending before it, and the poller gets its token', async () => {
    const res = await decideDevice(base, before.device!.user_code, 'approve');
    expect(res.status).toBe(200);
    const t = await post('/token', new Map<number | string, unknown>([[33, GRANT_DEVICE_CODE], ['device_code', before.device!.device_code], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap, 'cbor');
    expect(t.status).toBe(200);
    const v = verifyCwt(t.data.get(1), (await keysAt(base))[0]!, { audience: 'ekg', issuer: ISSUER, clock: () => now, provider: nativeProvider });
    expect(v.claims.sub).toBe('alice');
  });

  it('exchanges a subject token issued before the crash, and the exi cti sequence continues upward', async () => {
    const x = await post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience: 'tube', subject_token: before.ekgDevToken!, subject_token_type: TOKEN_TYPE_CWT, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('post-1') }, 'json');
    expect(x.status).toBe(200);
    const v = verifyCwt(fromBase64Url(x.data.access_token), (await keysAt(base))[0]!, { audience: 'tube', issuer: ISSUER, clock: () => now, provider: nativeProvider });
    expect(exiSequenceOf(v.claims.cti!)).toBe(before.exiSequence! + 1n);
    // The assertion replay cache survived as well: the pre-crash assertion is refused.
    const replay = await post('/token', { grant_type: 'client_credentials', audience: 'ekg', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('pre-1') }, 'json');
    expect(errorName(replay)).toBe('invalid_client');
  });

  it('survives a clean close of server and store too: reopened, it keeps the key and the sequences', async () => {
    await stopServerInProcess();
    await startServerInProcess();
    expect((await keysAt(base)).map((k) => toBase64Url(k.kid!))).toContain(toBase64Url(before.kid!));
    expect((await trlAt(base, 'tv')).sequence).toBe(before.trlSequence! + 1);
    const x = await post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience: 'tube', subject_token: before.ekgDevToken!, subject_token_type: TOKEN_TYPE_CWT, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('post-2') }, 'json');
    const v = verifyCwt(fromBase64Url(x.data.access_token), (await keysAt(base))[0]!, { audience: 'tube', issuer: ISSUER, clock: () => now, provider: nativeProvider });
    expect(exiSequenceOf(v.claims.cti!)).toBe(before.exiSequence! + 2n);
  });
});

// One server with a clock the tests move, for the flows below.
const dir = mkdtempSync(join(tmpdir(), 'authz-flows-'));
let now = 1_800_000_000;
const clock = () => now;
let store: SqliteStore;
let server: AuthzServer;
let base = '';
const post = (path: string, body: Parameters<typeof postTo>[2], enc: Enc, headers: Record<string, string> = {}) => postTo(base, path, body, enc, headers);
/** Each POST on the verification page counts against the per-address limit (RFC 8628 §5.1): start each flow in a fresh window. */
const freshWindow = () => (now += 301);

beforeAll(async () => {
  await seed(join(dir, 'authz.sqlite'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  server = await createAuthzServer({ store, dataDir: dir, clock });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server?.close();
  store?.close();
});

describe('device authorization grant (RFC 8628)', () => {
  const pollJson = (deviceCode: string) => post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: deviceCode, client_id: 'app', client_secret: 's3cret-app' }, 'json');
  const pollCbor = (deviceCode: string) => post('/token', new Map<number | string, unknown>([[33, GRANT_DEVICE_CODE], ['device_code', deviceCode], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap, 'cbor');

  it('the user denies on the verification page: polling (JSON) gets access_denied, then the code is gone', async () => {
    freshWindow();
    const d = await post('/device_authorization', { audience: 'ekg', scope: 'read' }, 'form', APP_AUTH);
    expect(d.status).toBe(200);
    expect(errorName(await pollJson(d.data.device_code))).toBe('authorization_pending');
    const res = await decideDevice(base, d.data.user_code, 'deny');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('denied');
    now += 10;
    const denied = await pollJson(d.data.device_code);
    expect(denied.status).toBe(400);
    expect(errorName(denied)).toBe('access_denied');
    now += 10;
    expect(errorName(await pollJson(d.data.device_code))).toBe('invalid_grant');
  });

  it('counts only wrong user codes against the limit: after 4 wrong ones, the right one still goes through confirm and approve', async () => {
    freshWindow();
    const d = await post('/device_authorization', { audience: 'ekg', scope: 'read' }, 'form', APP_AUTH);
    const { cookie, csrf } = await signInForDevice(base);
    const postCode = (user_code: string, decision?: string) =>
      fetch(`${base}/device`, { method: 'POST', headers: formHeaders(cookie), body: new URLSearchParams({ csrf, user_code, ...(decision ? { decision } : {}) }) });
    for (const wrong of ['BCDF-GHJK', 'BCDF-GHJL', 'BCDF-GHJM', 'BCDF-GHJN']) expect((await postCode(wrong)).status).toBe(400);
    const confirm = await postCode(d.data.user_code);
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain('ekg');
    expect((await postCode(d.data.user_code, 'approve')).status).toBe(200);
    now += 10;
    expect((await pollJson(d.data.device_code)).status).toBe(200);
    // The fifth wrong code reaches the limit; the next post of any code is 429.
    expect((await postCode('BCDF-GHJP')).status).toBe(400);
    expect((await postCode(d.data.user_code)).status).toBe(429);
  });

  it('speaks application/ace+cbor at /device_authorization and at the polling /token, approval and denial', async () => {
    freshWindow();
    const ask = () => post('/device_authorization', new Map<number, unknown>([[24, 'app'], [25, utf8('s3cret-app')], [5, 'ekg'], [9, 'read']]) as CborMap, 'cbor');
    const d = await ask();
    expect(d.status).toBe(200);
    expect(d.ct).toBe('application/ace+cbor');
    const m = d.data as CborMap;
    const deviceCode = m.get('device_code') as string;
    const userCode = m.get('user_code') as string;
    expect(deviceCode).toMatch(/^[0-9a-f]{64}$/);
    expect(userCode).toMatch(/^[B-Z]{4}-[B-Z]{4}$/);
    expect(m.get('verification_uri')).toBe(`${base}/device`);
    expect(m.get(2)).toBe(600); // expires_in(2)
    expect(m.get('interval')).toBe(5);

    const pending = await pollCbor(deviceCode);
    expect(pending.ct).toBe('application/ace+cbor');
    expect(errorName(pending)).toBe('authorization_pending');
    expect(errorName(await pollCbor(deviceCode))).toBe('slow_down');
    now += 20;
    expect((await decideDevice(base, userCode.toLowerCase().replace('-', ' '), 'approve')).status).toBe(200);
    const t = await pollCbor(deviceCode);
    expect(t.status).toBe(200);
    expect(t.ct).toBe('application/ace+cbor');
    expect(t.data.get(34)).toBe(2); // token_type PoP
    expect(t.data.get(9)).toBe('read');
    expect(fromUtf8(t.data.get(37))).toMatch(/^[A-Za-z0-9_-]{20,}$/); // refresh_token(37)
    const v = verifyCwt(t.data.get(1), (await keysAt(base))[0]!, { audience: 'ekg', issuer: base, clock, provider: nativeProvider });
    expect(v.claims.sub).toBe('alice');

    const d2 = (await ask()).data as CborMap;
    expect((await decideDevice(base, d2.get('user_code') as string, 'deny')).status).toBe(200);
    const denied = await pollCbor(d2.get('device_code') as string);
    expect(denied.status).toBe(400);
    expect(errorName(denied)).toBe('access_denied');
  });

  it('refuses in CBOR an unknown device code (invalid_grant) and a wrong client secret (invalid_client)', async () => {
    expect(errorName(await pollCbor('00'.repeat(32)))).toBe('invalid_grant');
    const bad = await post('/device_authorization', new Map<number, unknown>([[24, 'app'], [25, utf8('wrong')], [5, 'ekg']]) as CborMap, 'cbor');
    expect(bad.status).toBe(401);
    expect(errorName(bad)).toBe('invalid_client');
  });
});

describe('token exchange in JSON (RFC 8693)', () => {
  const assertion = (cti: string) =>
    toBase64Url(createCwt({ iss: 'ekg-dev', sub: 'ekg-dev', aud: base, exp: now + 60, iat: now, cti: utf8(cti) }, deviceKey, { provider: nativeProvider }));
  it('exchanges the device\'s own token for an exi token for the tube, with issued_token_type', async () => {
    const own = await post('/token', { grant_type: 'client_credentials', audience: 'ekg', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('j-1'), req_cnf: reqCnf }, 'json');
    expect(own.status).toBe(200);
    const r = await post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience: 'tube', scope: 'read', subject_token: own.data.access_token, subject_token_type: TOKEN_TYPE_CWT, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('j-2'), req_cnf: reqCnf }, 'json');
    expect(r.status).toBe(200);
    expect(r.ct).toBe('application/json');
    expect(r.data.issued_token_type).toBe(TOKEN_TYPE_CWT);
    expect(r.data.token_type).toBe('PoP'); // RFC 9200 §5.8.2 in JSON; 2 in CBOR (§8.7)
    expect(r.data.expires_in).toBeUndefined(); // exi: the tube counts from receipt
    const v = verifyCwt(fromBase64Url(r.data.access_token), (await keysAt(base))[0]!, { audience: 'tube', issuer: base, clock, provider: nativeProvider });
    expect(v.claims.sub).toBe('ekg-dev');
    expect(v.claims.exi).toBe(600);
    expect(v.cnf && 'coseKey' in v.cnf && v.cnf.coseKey.x).toEqual(clientPop.x);
  });
  it('refuses a JSON exchange with a subject token that is not this service\'s (invalid_grant)', async () => {
    const r = await post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience: 'tube', subject_token: toBase64Url(nativeProvider.randomBytes(40)), subject_token_type: TOKEN_TYPE_CWT, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion('j-3') }, 'json');
    expect(r.status).toBe(400);
    expect(errorName(r)).toBe('invalid_grant');
  });
});

describe('PKCE (RFC 7636) in JSON and form encoding', () => {
  const verifier = 'p'.repeat(50);
  for (const enc of ['json', 'form'] as const) {
    it(`refuses a code_verifier that does not match the challenge (${enc}): invalid_grant, no token`, async () => {
      const code = await loginAndConsent(base, verifier);
      const r = await post('/token', { grant_type: 'authorization_code', code, code_verifier: 'q'.repeat(50), redirect_uri: REDIRECT }, enc, APP_AUTH);
      expect(r.status).toBe(400);
      expect(r.ct).toBe('application/json');
      expect(errorName(r)).toBe('invalid_grant');
      expect(r.data.access_token).toBeUndefined();
      // The same flow with the right verifier succeeds, so the refusal above is the verifier's.
      const good = await loginAndConsent(base, verifier);
      expect((await post('/token', { grant_type: 'authorization_code', code: good, code_verifier: verifier, redirect_uri: REDIRECT }, enc, APP_AUTH)).status).toBe(200);
    });
  }
});

describe('repeated parameters at /authorize (RFC 6749 §3.1; review, stop 34)', () => {
  it('are refused with a page and no redirect, whichever parameter repeats', async () => {
    const request = { response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, code_challenge: s256('d'.repeat(50)), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'st' };
    for (const [name, value] of [['client_id', 'evil'], ['redirect_uri', 'https://evil.example/cb'], ['scope', 'write'], ['state', 'other']] as const) {
      const q = new URLSearchParams(request);
      q.append(name, value);
      const res = await fetch(`${base}/authorize?${q}`, { redirect: 'manual' });
      expect(res.status, name).not.toBe(303);
      expect(res.headers.get('location'), name).toBeNull();
      expect(await res.text(), name).toContain('appears more than once');
    }
    // The same request without the repeat is served (the sign-in page).
    expect((await fetch(`${base}/authorize?${new URLSearchParams(request)}`, { redirect: 'manual' })).status).toBe(200);
  });
});

describe('CSRF on the login and consent forms', () => {
  const authCodes = () => (store.db.prepare('SELECT count(*) AS n FROM auth_codes').get() as { n: number }).n;
  // The login and consent forms name the authorization request they show (request); the last one started is used.
  let request = '';
  async function startAuthorization(): Promise<{ cookie: string; csrf: string; request: string }> {
    const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, code_challenge: s256('c'.repeat(50)), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'st' });
    const res = await fetch(`${base}/authorize?${q}`, { redirect: 'manual' });
    const html = await res.text();
    request = requestOf(html);
    return { cookie: cookieOf(res), csrf: csrfOf(html), request };
  }
  const login = (cookie: string | undefined, csrf: string | undefined) =>
    fetch(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
      body: new URLSearchParams({ ...(csrf !== undefined ? { csrf } : {}), next: '/consent', request, username: 'alice', password: 'correct horse' }),
    });
  const consent = (cookie: string, csrf: string | undefined) =>
    fetch(`${base}/consent`, { method: 'POST', redirect: 'manual', headers: formHeaders(cookie), body: new URLSearchParams({ ...(csrf !== undefined ? { csrf } : {}), request, decision: 'approve' }) });

  it('POST /login without, with a wrong, or with another session\'s csrf token: 403 and no signed-in session', async () => {
    const a = await startAuthorization();
    const other = await startAuthorization();
    const wrong = a.csrf.slice(0, -2) + (a.csrf.endsWith('AA') ? 'BB' : 'AA');
    for (const [cookie, csrf] of [[a.cookie, undefined], [a.cookie, ''], [a.cookie, wrong], [a.cookie, other.csrf], [undefined, a.csrf]] as const) {
      const res = await login(cookie, csrf);
      expect(res.status).toBe(403);
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(await res.text()).not.toContain('name="decision"');
    }
    // Not signed in: the session's own csrf cannot consent, and the verification page still asks to sign in.
    expect((await consent(a.cookie, a.csrf)).status).toBe(403);
    expect(await (await fetch(`${base}/device`, { headers: { cookie: a.cookie } })).text()).toContain('action="/login"');
    // The right token signs in: the refusals above were the csrf check's.
    request = a.request;
    const ok = await login(a.cookie, a.csrf);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('set-cookie')).toContain('kb_session=');
  });

  it('POST /consent without or with a wrong csrf token: 403, no redirect and no authorization code', async () => {
    const a = await startAuthorization();
    const signedIn = await login(a.cookie, a.csrf);
    const cookie = cookieOf(signedIn);
    const csrf = csrfOf(await signedIn.text());
    const codesBefore = authCodes();
    for (const bad of [undefined, '', csrf.slice(1), a.csrf /* the pre-login token: renewed at sign-in */]) {
      const res = await consent(cookie, bad);
      expect(res.status).toBe(403);
      expect(res.headers.get('location')).toBeNull();
    }
    expect(authCodes()).toBe(codesBefore);
    // The pending request is intact; the right token gets the code.
    const ok = await consent(cookie, csrf);
    expect(ok.status).toBe(303);
    expect(new URL(ok.headers.get('location')!).searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(authCodes()).toBe(codesBefore + 1);
  });
});

describe('a person approves a device in a real browser (headless Chromium)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 20_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('opens the verification URI, signs in, types the user code, sees client, audience and scope, approves; the poller gets its token', async () => {
    freshWindow();
    const d = await post('/device_authorization', { audience: 'ekg', scope: 'read', req_cnf: reqCnf }, 'json', APP_AUTH);
    expect(d.status).toBe(200);
    const poll = () => post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: d.data.device_code }, 'json', APP_AUTH);
    expect(errorName(await poll())).toBe('authorization_pending');

    const page = await browser.newPage();
    page.setDefaultTimeout(5000);
    try {
      await page.goto(d.data.verification_uri);
      await page.fill('#username', 'alice');
      await page.fill('#password', 'correct horse');
      await page.click('#login');
      await page.waitForSelector('#user_code');
      await page.fill('#user_code', d.data.user_code);
      await page.click('#continue');
      // RFC 8628 §5.4: the user sees what the code would authorize before approving it.
      await page.waitForSelector('#approve');
      expect(await page.textContent('#client')).toBe('Doctor App');
      expect(await page.textContent('#audience')).toBe('ekg');
      expect(await page.textContent('#scope')).toBe('read');
      expect(errorName(await poll())).toBe('slow_down'); // still not approved: looking is not approving
      await page.click('#approve');
      expect(await page.textContent('#message')).toContain('connected');
    } finally {
      await page.close();
    }
    now += 30;
    const t = await poll();
    expect(t.status).toBe(200);
    const v = verifyCwt(fromBase64Url(t.data.access_token), (await keysAt(base))[0]!, { audience: 'ekg', issuer: base, clock, provider: nativeProvider });
    expect(v.claims.sub).toBe('alice');
    expect(v.claims.scope).toBe('read');
    expect(v.cnf && 'coseKey' in v.cnf && v.cnf.coseKey.x).toEqual(clientPop.x);
  });

  it('through verification_uri_complete the code is filled in; Deny there makes the poller get access_denied', async () => {
    freshWindow();
    const d = await post('/device_authorization', { audience: 'tv' }, 'json', APP_AUTH);
    const page = await browser.newPage();
    page.setDefaultTimeout(5000);
    try {
      await page.goto(d.data.verification_uri_complete);
      await page.fill('#username', 'alice');
      await page.fill('#password', 'correct horse');
      await page.click('#login');
      await page.waitForSelector('#user_code');
      expect(await page.inputValue('#user_code')).toBe(d.data.user_code);
      await page.click('#continue');
      expect(await page.textContent('#audience')).toBe('tv');
      await page.click('#deny');
      expect(await page.textContent('#message')).toContain('denied');
    } finally {
      await page.close();
    }
    expect(errorName(await post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: d.data.device_code }, 'json', APP_AUTH))).toBe('access_denied');
  });
});
