import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, statSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  aceErrorName,
  createCwt,
  decodeCbor,
  decodeProvisioningBundle,
  encodeCbor,
  coseKeyToMap,
  coseKeyFromMap,
  openEncryptedCoseKey,
  publicCoseKey,
  toBase64Url,
  fromBase64Url,
  verifyCwt,
  verifyRevocationList,
  tokenHash,
  utf8,
  fromUtf8,
  type CborMap,
  type CoseKey,
  GRANT_DEVICE_CODE,
  GRANT_TOKEN_EXCHANGE,
  TOKEN_TYPE_CWT,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  createAuthzServer,
  SqliteStore,
  registerAudience,
  registerClient,
  registerUser,
  provision,
  s256,
  CLIENT_ASSERTION_TYPE,
  type AuthzServer,
} from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-'));
let now = 1_800_000_000;
const clock = () => now;
let store: SqliteStore;
let server: AuthzServer;
let base = '';
const ADMIN = 'admin-credential-for-tests';
const deviceKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8('ekg-dev-key') };
})();
const clientPop: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('P-256');
  return { kty: 'EC2', crv: 'P-256', x: p.x, y: p.y!, d: p.d, kid: utf8('app-pop') };
})();
const reqCnf = new Map([[1, coseKeyToMap(publicCoseKey(clientPop))]]);
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function start(): Promise<void> {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  server = await createAuthzServer({ store, dataDir: dir, clock, adminToken: ADMIN });
  base = (await server.listen(0)).url;
}
async function stop(): Promise<void> {
  await server.close();
  store.close();
}

type Enc = 'json' | 'cbor' | 'form';
async function post(path: string, body: Record<string, unknown> | CborMap | string | Uint8Array, enc: Enc, headers: Record<string, string> = {}) {
  const type = enc === 'cbor' ? 'application/ace+cbor' : enc === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  const payload =
    body instanceof Uint8Array || typeof body === 'string'
      ? body
      : body instanceof Map
        ? encodeCbor(body)
        : enc === 'json'
          ? JSON.stringify(body)
          : new URLSearchParams(body as Record<string, string>).toString();
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': type, ...headers }, body: payload });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const ct = res.headers.get('content-type') ?? '';
  const data: any = ct.includes('cbor') ? decodeCbor(bytes) : ct.includes('json') ? JSON.parse(fromUtf8(bytes)) : fromUtf8(bytes);
  return { status: res.status, data, ct };
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read', 'write'], rsKey: publicCoseKey(deviceKey) });
  await registerAudience(store, nativeProvider, { id: 'tube', clockless: true, scopes: ['read'], exchangeFrom: ['ekg'], lifetime: 600 });
  await registerAudience(store, nativeProvider, { id: 'vault', protection: 'encrypt0', scopes: ['read'], narrow: true });
  await registerAudience(store, nativeProvider, { id: 'gw', protection: 'mac0', referenceTokens: true, scopes: ['read'] });
  await registerClient(store, {
    id: 'app',
    secret: 's3cret-app',
    audiences: ['ekg', 'vault', 'gw'],
    scopes: ['read', 'write'],
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token', GRANT_DEVICE_CODE as never],
    redirectUris: ['http://127.0.0.1:9/cb'],
  });
  await registerClient(store, { id: 'ekg-dev', publicKey: deviceKey, audiences: ['ekg', 'tube'], scopes: ['read'], grantTypes: ['client_credentials', GRANT_TOKEN_EXCHANGE as never] });
  await registerClient(store, { id: 'rs-ekg', secret: 'rs-secret', audiences: ['ekg', 'gw'], grantTypes: [] });
  await registerUser(store, 'alice', 'correct horse');
  store.close();
  await start();
});
afterAll(stop);

async function asKeys(): Promise<CoseKey[]> {
  const res = await fetch(`${base}/keys`);
  return (decodeCbor(new Uint8Array(await res.arrayBuffer())) as CborMap[]).map((m) => coseKeyFromMap(m));
}

describe('client_credentials', () => {
  it('issues a Sign1 CWT bound to req_cnf (JSON, basic auth) that verifies with only the AS public key', async () => {
    const r = await post('/token', { grant_type: 'client_credentials', audience: 'ekg', scope: 'read', req_cnf: toBase64Url(encodeCbor(reqCnf)) }, 'json', { authorization: basic('app', 's3cret-app') });
    expect(r.status).toBe(200);
    expect(r.data.token_type).toBe('PoP'); // RFC 9200 §5.8.2 (2 only in CBOR, §8.7)
    expect(r.data.expires_in).toBe(3600);
    const token = fromBase64Url(r.data.access_token);
    const [key] = await asKeys();
    const v = verifyCwt(token, key!, { audience: 'ekg', issuer: base, clock, provider: nativeProvider });
    expect(v.claims.sub).toBe('app');
    expect(v.claims.scope).toBe('read');
    expect(v.protection).toEqual({ type: 'Sign1', encrypted: false });
    expect(v.cnf && 'coseKey' in v.cnf && v.cnf.coseKey.x).toEqual(clientPop.x);
    // rs_cnf: the device key the client should expect the RS to prove.
    const rsCnf = decodeCbor(fromBase64Url(r.data.rs_cnf)) as CborMap;
    expect(coseKeyFromMap((rsCnf.get(1)) as CborMap).x).toEqual(deviceKey.x);
  });

  it('issues a symmetric PoP key sealed for the audience (CBOR, client_secret_post, grant_type 2)', async () => {
    const r = await post('/token', new Map<number, unknown>([[33, 2], [5, 'ekg'], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap, 'cbor');
    expect(r.status).toBe(200);
    expect(r.ct).toBe('application/ace+cbor');
    const m = r.data as CborMap;
    const popKey = coseKeyFromMap((m.get(8) as CborMap).get(1)!);
    expect(popKey.k?.length).toBe(32);
    expect(m.get(9)).toBe('read write'); // default scope returned because none was asked for
    const [key] = await asKeys();
    const v = verifyCwt(m.get(1) as Uint8Array, key!, { audience: 'ekg', clock, provider: nativeProvider });
    const aud = (await store.getAudience('ekg'))!;
    const opened = openEncryptedCoseKey(v.cnf as { encryptedCoseKey: never }, aud.encKey, { provider: nativeProvider });
    expect(opened.k).toEqual(popKey.k);
  });

  it('wraps in Encrypt0 and narrows by policy for an encrypt0 audience, saying the granted scope', async () => {
    const r = await post('/token', { grant_type: 'client_credentials', audience: 'vault', scope: 'read write', client_id: 'app', client_secret: 's3cret-app', req_cnf: toBase64Url(encodeCbor(reqCnf)) }, 'json');
    expect(r.status).toBe(200);
    expect(r.data.scope).toBe('read');
    const aud = (await store.getAudience('vault'))!;
    const [key] = await asKeys();
    const v = verifyCwt(fromBase64Url(r.data.access_token), key!, { audience: 'vault', clock, decryptionKeys: aud.encKey, provider: nativeProvider });
    expect(v.protection.encrypted).toBe(true);
  });

  it('refuses a wrong secret, an unknown client, and two auth methods at once', async () => {
    for (const enc of ['json', 'cbor'] as const) {
      const body = enc === 'cbor' ? (new Map<number, unknown>([[33, 2], [24, 'app'], [25, utf8('wrong')]]) as CborMap) : { grant_type: 'client_credentials', client_id: 'app', client_secret: 'wrong' };
      const r = await post('/token', body, enc);
      expect(r.status).toBe(401);
      expect(enc === 'cbor' ? aceErrorName(r.data.get(30)) : r.data.error).toBe('invalid_client');
    }
    expect((await post('/token', { grant_type: 'client_credentials' }, 'json', { authorization: basic('nobody', 'x') })).data.error).toBe('invalid_client');
    const both = await post('/token', { grant_type: 'client_credentials', client_secret: 's3cret-app' }, 'json', { authorization: basic('app', 's3cret-app') });
    expect(both.data.error).toBe('invalid_request');
  });

  it('answers invalid_scope and invalid_target, never a silently narrowed token', async () => {
    const auth = { authorization: basic('app', 's3cret-app') };
    expect((await post('/token', { grant_type: 'client_credentials', audience: 'ekg', scope: 'admin' }, 'json', auth)).data.error).toBe('invalid_scope');
    expect((await post('/token', { grant_type: 'client_credentials', audience: 'ekg', scope: 'read admin' }, 'form', auth)).data.error).toBe('invalid_scope');
    expect((await post('/token', { grant_type: 'client_credentials', audience: 'tube' }, 'json', auth)).data.error).toBe('invalid_target');
    const cb = await post('/token', new Map<number, unknown>([[33, 2], [5, 'nowhere'], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap, 'cbor');
    expect(cb.data.get(30)).toBe('invalid_target');
  });

  it('authenticates a device by a COSE_Sign1 client assertion, once per cti', async () => {
    const assertion = createCwt({ iss: 'ekg-dev', sub: 'ekg-dev', aud: base, exp: now + 60, iat: now, cti: utf8('a-1') }, deviceKey, { provider: nativeProvider });
    const body = () => new Map<number | string, unknown>([[33, 2], [5, 'ekg'], ['client_assertion_type', CLIENT_ASSERTION_TYPE], ['client_assertion', assertion]]) as CborMap;
    const r = await post('/token', body(), 'cbor');
    expect(r.status).toBe(200);
    const replay = await post('/token', body(), 'cbor');
    expect(replay.data.get(30)).toBe(2 /* invalid_client, RFC 9200 §8.4 */);
    const forged = createCwt({ iss: 'ekg-dev', sub: 'ekg-dev', aud: base, exp: now + 60, cti: utf8('a-2') }, { ...clientPop, kid: deviceKey.kid! }, { provider: nativeProvider });
    expect((await post('/token', { grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(forged) }, 'form')).data.error).toBe('invalid_client');
  });

  it('counts an assertion cti only once its signature holds: a forged one spends no genuine cti, in a burst as alone', async () => {
    // The cti's replay record (client-auth.ts) must follow the signature check, or an attacker who
    // knows a device's next cti (they are often counters) could burn it with a forgery and lock the
    // device out.
    const claims = (cti: string) => ({ iss: 'ekg-dev', sub: 'ekg-dev', aud: base, exp: now + 60, iat: now, cti: utf8(cti) });
    // Signed by another Ed25519 key under the device's kid: only the signature itself is wrong.
    const thief = nativeProvider.generateKeyPair('Ed25519');
    const forge = (cti: string) => createCwt(claims(cti), { kty: 'OKP', crv: 'Ed25519', x: thief.x, d: thief.d, kid: deviceKey.kid! }, { provider: nativeProvider });
    const genuine = (cti: string) => createCwt(claims(cti), deviceKey, { provider: nativeProvider });
    const ask = (assertion: Uint8Array) => post('/token', { grant_type: 'client_credentials', audience: 'ekg', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(assertion) }, 'form');
    expect((await ask(forge('next-1'))).data.error).toBe('invalid_client');
    expect((await ask(genuine('next-1'))).status).toBe(200);
    // Twenty forgeries and five genuine assertions at once, forgeries first for each cti.
    const ctis = Array.from({ length: 5 }, (_, i) => `burst-${i}`);
    const answers = await Promise.all(ctis.flatMap((c) => [...Array.from({ length: 4 }, () => ask(forge(c)).then((r) => ['forged', r.status] as const)), ask(genuine(c)).then((r) => ['genuine', r.status] as const)]));
    expect(answers.filter(([kind]) => kind === 'forged').every(([, status]) => status === 401)).toBe(true);
    expect(answers.filter(([kind]) => kind === 'genuine').map(([, status]) => status)).toEqual([200, 200, 200, 200, 200]);
    // The genuine ones were counted: each is refused as a replay now.
    for (const c of ctis) expect((await ask(genuine(c))).data.error).toBe('invalid_client');
  });
});

describe('bad input', () => {
  it('refuses oversized bodies with 413', async () => {
    const r = await post('/token', 'x'.repeat(20_000), 'form');
    expect(r.status).toBe(413);
    expect(r.data.error).toBe('invalid_request');
  });
  it('a chunked body past the limit (no content-length to refuse up front) is answered 413 and cut off; a client gone mid-body costs nothing', async () => {
    const { connect } = await import('node:net');
    const { port } = new URL(base);
    const raw = (send: (s: import('node:net').Socket) => void) =>
      new Promise<string>((resolve) => {
        const s = connect(Number(port), '127.0.0.1', () => send(s));
        let got = '';
        s.on('data', (d) => (got += d.toString('latin1')));
        s.on('error', () => {});
        s.on('close', () => resolve(got));
        s.setTimeout(5000, () => s.destroy());
      });
    const head = 'POST /token HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n';
    // 20 chunks of 1 KB: the server stops reading at its limit, answers 413 and closes (it once
    // dropped the connection with no answer: review, stop 34); read to its end, the body would be
    // answered 400 (not JSON).
    const started = Date.now();
    const oversized = await raw((s) => {
      s.write(head);
      // And more, without end: the server must close, not read on (the client's 5 s timer is the fallback).
      const more = setInterval(() => (s.destroyed ? clearInterval(more) : s.write(`400\r\n${'x'.repeat(1024)}\r\n`)), 10);
      for (let i = 0; i < 20; i++) s.write(`400\r\n${'x'.repeat(1024)}\r\n`);
    });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(oversized).toMatch(/^HTTP\/1\.1 413 /);
    expect(oversized.toLowerCase()).toContain('connection: close');
    // Half a body, then the client goes away.
    await raw((s) => {
      s.write(head + '10\r\n{"grant_type":"cl');
      setTimeout(() => s.destroy(), 50);
    });
    // Still serving.
    expect((await post('/token', { grant_type: 'urn:example:magic' }, 'json')).data.error).toBe('unsupported_grant_type');
  });
  it('refuses malformed CBOR and JSON, duplicate keys and repeated form parameters', async () => {
    expect((await post('/token', new Uint8Array([0xa1, 0x18]), 'cbor')).data.get(30)).toBe(1 /* invalid_request, RFC 9200 §8.4 */);
    expect((await post('/token', new Uint8Array([0xa2, 0x18, 33, 2, 0x18, 33, 2]), 'cbor')).data.get(30)).toBe(1 /* invalid_request, RFC 9200 §8.4 */);
    expect((await post('/token', '{"grant_type":', 'json')).data.error).toBe('invalid_request');
    expect((await post('/token', '[1,2]', 'json')).data.error).toBe('invalid_request');
    expect((await post('/token', 'grant_type=client_credentials&grant_type=password', 'form')).data.error).toBe('invalid_request');
  });
  it('answers unsupported_grant_type for unknown grants in both encodings', async () => {
    expect((await post('/token', { grant_type: 'urn:example:magic' }, 'json')).data.error).toBe('unsupported_grant_type');
    expect((await post('/token', new Map([[33, 9]]) as CborMap, 'cbor')).data.get(30)).toBe(5 /* unsupported_grant_type, RFC 9200 §8.4 */);
  });
});

async function browserLoginAndConsent(query: URLSearchParams): Promise<string> {
  let res = await fetch(`${base}/authorize?${query}`, { redirect: 'manual' });
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  let html = await res.text();
  let csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const request = /name="request" value="([^"]+)"/.exec(html)![1]!;
  res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, next: '/consent', request, username: 'alice', password: 'correct horse' }) });
  expect(res.status).toBe(200);
  const cookie2 = res.headers.get('set-cookie')!.split(';')[0]!;
  html = await res.text();
  expect(html).toContain('app');
  csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  res = await fetch(`${base}/consent`, { method: 'POST', redirect: 'manual', headers: { cookie: cookie2, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, request, decision: 'approve' }) });
  expect(res.status).toBe(303);
  const loc = new URL(res.headers.get('location')!);
  expect(loc.searchParams.get('state')).toBe('st');
  return loc.searchParams.get('code')!;
}

let refreshFromCode = '';
describe('authorization_code with PKCE', () => {
  const verifier = 'v'.repeat(50);
  const query = () => new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: 'http://127.0.0.1:9/cb', code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'st' });
  it('logs in, consents, exchanges the code once (JSON), and refuses the replay', async () => {
    const code = await browserLoginAndConsent(query());
    const body = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'http://127.0.0.1:9/cb', client_id: 'app', client_secret: 's3cret-app' };
    const r = await post('/token', body, 'json');
    expect(r.status).toBe(200);
    expect(r.data.refresh_token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    refreshFromCode = r.data.refresh_token;
    const [key] = await asKeys();
    expect(verifyCwt(fromBase64Url(r.data.access_token), key!, { audience: 'ekg', clock, provider: nativeProvider }).claims.sub).toBe('alice');
    expect((await post('/token', body, 'json')).data.error).toBe('invalid_grant');
  });
  it('refuses a PKCE mismatch (CBOR) and a missing verifier', async () => {
    const code = await browserLoginAndConsent(query());
    const r = await post('/token', new Map<number | string, unknown>([[33, 1], [29, utf8(code)], ['code_verifier', 'w'.repeat(50)], [27, 'http://127.0.0.1:9/cb'], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap, 'cbor');
    expect(r.data.get(30)).toBe(3 /* invalid_grant, RFC 9200 §8.4 */);
    expect((await post('/token', { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:9/cb', client_id: 'app', client_secret: 's3cret-app' }, 'json')).data.error).toBe('invalid_request');
  });
  it('refuses plain PKCE at the authorization endpoint and an unknown redirect URI without redirecting', async () => {
    const q = query();
    q.set('code_challenge_method', 'plain');
    const res = await fetch(`${base}/authorize?${q}`, { redirect: 'manual' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    q.set('redirect_uri', 'http://evil.example/cb');
    expect((await fetch(`${base}/authorize?${q}`, { redirect: 'manual' })).status).toBe(400);
  });
});

describe('refresh_token', () => {
  it('rotates, and a reused refresh token revokes the family', async () => {
    const auth = { authorization: basic('app', 's3cret-app') };
    // The code test's replay revoked that grant (RFC 6749 §4.1.2), refresh token included; start a new one.
    expect((await post('/token', { grant_type: 'refresh_token', refresh_token: refreshFromCode }, 'json', auth)).data.error).toBe('invalid_grant');
    const verifier = 'u'.repeat(50);
    const code = await browserLoginAndConsent(new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: 'http://127.0.0.1:9/cb', code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'st' }));
    refreshFromCode = (await post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'http://127.0.0.1:9/cb' }, 'json', auth)).data.refresh_token;
    const r1 = await post('/token', { grant_type: 'refresh_token', refresh_token: refreshFromCode }, 'json', auth);
    expect(r1.status).toBe(200);
    const next = r1.data.refresh_token as string;
    expect(next).not.toBe(refreshFromCode);
    const reuse = await post('/token', new Map<number, unknown>([[33, 3], [37, utf8(refreshFromCode)], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap, 'cbor');
    expect(reuse.data.get(30)).toBe(3 /* invalid_grant, RFC 9200 §8.4 */);
    // The family is gone: even the newest token no longer works.
    expect((await post('/token', { grant_type: 'refresh_token', refresh_token: next }, 'json', auth)).data.error).toBe('invalid_grant');
  });
});

describe('token exchange (the disconnected flow)', () => {
  it('exchanges the EKG device\'s token for an exi token for the tube that verifies with only the provisioning bundle', async () => {
    const a1 = createCwt({ iss: 'ekg-dev', sub: 'ekg-dev', aud: base, exp: now + 60, cti: utf8('x-1') }, deviceKey, { provider: nativeProvider });
    const own = await post('/token', { grant_type: 'client_credentials', audience: 'ekg', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(a1), req_cnf: toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(deviceKey))]]))) }, 'json');
    expect(own.status).toBe(200);
    const a2 = createCwt({ iss: 'ekg-dev', sub: 'ekg-dev', aud: base, exp: now + 60, cti: utf8('x-2') }, deviceKey, { provider: nativeProvider });
    const r = await post('/token', new Map<number | string, unknown>([
      [33, GRANT_TOKEN_EXCHANGE], [5, 'tube'], ['subject_token', fromBase64Url(own.data.access_token)], ['subject_token_type', TOKEN_TYPE_CWT],
      ['client_assertion_type', CLIENT_ASSERTION_TYPE], ['client_assertion', a2],
    ]) as CborMap, 'cbor');
    expect(r.status).toBe(200);
    expect(r.data.get(2)).toBeUndefined(); // no expires_in: the tube counts exi from receipt
    const out = join(dir, 'tube.cbor');
    await provision({ dataDir: dir, deviceId: 'tube', out, issuer: base, now });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const bundle = decodeProvisioningBundle(new Uint8Array(readFileSync(out)));
    const trust = (h: { kid?: Uint8Array }) => bundle.trustAnchors.find((k) => h.kid && k.kid && Buffer.compare(k.kid, h.kid) === 0);
    const v = verifyCwt(r.data.get(1), trust, { audience: bundle.audience, issuer: bundle.issuer, clock, provider: nativeProvider });
    expect(v.claims.exi).toBe(600);
    expect(v.claims.exp).toBeUndefined();
    const cti = v.claims.cti!;
    expect(fromUtf8(cti.subarray(0, 5))).toBe('tube\0');
    expect(cti.length).toBe(5 + 8);
  });
  it('refuses an audience whose policy does not allow exchange from the subject token\'s audience, and a stranger\'s token', async () => {
    const mk = (c: string) => createCwt({ iss: 'ekg-dev', sub: 'ekg-dev', aud: base, exp: now + 60, cti: utf8(c) }, deviceKey, { provider: nativeProvider });
    const own = await post('/token', { grant_type: 'client_credentials', audience: 'tube', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(mk('y-1')) }, 'json');
    expect(own.status).toBe(200);
    const r = await post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience: 'ekg', subject_token: own.data.access_token, subject_token_type: TOKEN_TYPE_CWT, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(mk('y-2')) }, 'json');
    expect(r.data.error).toBe('invalid_target');
    const appTok = await post('/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'json', { authorization: basic('app', 's3cret-app') });
    const s = await post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience: 'tube', subject_token: appTok.data.access_token, subject_token_type: TOKEN_TYPE_CWT, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: toBase64Url(mk('y-3')) }, 'json');
    expect(s.data.error).toBe('invalid_grant');
  });
});

describe('device authorization grant', () => {
  it('pending, slow_down, approval on the verification page, then one token', async () => {
    const d = await post('/device_authorization', { client_id: 'app', client_secret: 's3cret-app', audience: 'ekg', scope: 'read' }, 'form');
    expect(d.status).toBe(200);
    const poll = () => post('/token', new Map<number | string, unknown>([[33, GRANT_DEVICE_CODE], ['device_code', d.data.device_code], [24, 'app'], [25, utf8('s3cret-app')]]) as CborMap, 'cbor');
    expect((await poll()).data.get(30)).toBe('authorization_pending');
    expect((await poll()).data.get(30)).toBe('slow_down');
    now += 20;
    // Sign in on the verification page and approve.
    let res = await fetch(`${base}/device`);
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    let csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
    res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, next: '/device', username: 'alice', password: 'correct horse' }) });
    const c2 = res.headers.get('set-cookie')!.split(';')[0]!;
    res = await fetch(`${base}/device`, { headers: { cookie: c2 } });
    csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
    res = await fetch(`${base}/device`, { method: 'POST', headers: { cookie: c2, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, user_code: d.data.user_code.toLowerCase(), decision: 'approve' }) });
    expect(res.status).toBe(200);
    const t = await poll();
    expect(t.status).toBe(200);
    expect(fromUtf8(t.data.get(37))).toMatch(/^[A-Za-z0-9_-]{20,}$/); // refresh_token(37)
    now += 20;
    expect((await poll()).data.get(30)).toBe(3 /* invalid_grant, RFC 9200 §8.4 */);
  });
  it('expires device codes and rate-limits user-code guessing', async () => {
    const d = await post('/device_authorization', { client_id: 'app', client_secret: 's3cret-app', audience: 'ekg' }, 'json');
    now += 601;
    expect((await post('/token', { grant_type: GRANT_DEVICE_CODE, device_code: d.data.device_code, client_id: 'app', client_secret: 's3cret-app' }, 'json')).data.error).toBe('expired_token');
    let res = await fetch(`${base}/device`);
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    let csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
    res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, next: '/device', username: 'alice', password: 'correct horse' }) });
    const c2 = res.headers.get('set-cookie')!.split(';')[0]!;
    res = await fetch(`${base}/device`, { headers: { cookie: c2 } });
    csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await fetch(`${base}/device`, { method: 'POST', headers: { cookie: c2, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, user_code: 'BCDF-GHJ' + 'KLMNPQRS'[i], decision: 'approve' }) });
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 5).every((s) => s === 400)).toBe(true);
    expect(statuses.slice(5)).toEqual([429, 429]);
    // A CSRF-less post is refused outright.
    expect((await fetch(`${base}/device`, { method: 'POST', headers: { cookie: c2, 'content-type': 'application/x-www-form-urlencoded' }, body: 'user_code=x' })).status).toBe(403);
  });
});

let referenceToken = '';
describe('introspection, revocation and the signed revocation list', () => {
  it('introspects a reference token (CBOR form, authenticated) and revokes it into the TRL', async () => {
    const t = await post('/token', { grant_type: 'client_credentials', audience: 'gw' }, 'json', { authorization: basic('app', 's3cret-app') });
    expect(fromBase64Url(t.data.access_token).length).toBe(32);
    referenceToken = t.data.access_token;
    expect((await post('/introspect', { token: referenceToken }, 'json')).status).toBe(401);
    const i = await post('/introspect', new Map<number, unknown>([[11, fromBase64Url(referenceToken)], [24, 'rs-ekg'], [25, utf8('rs-secret')]]) as CborMap, 'cbor');
    expect(i.data.get(10)).toBe(true);
    expect(i.data.get(3)).toBe('gw');
    expect(i.data.get(9)).toBe('read');
  });
  it('keeps everything across a restart', async () => {
    const kidBefore = server.keys.current().kid;
    await stop();
    await start();
    expect(server.keys.current().kid).toBe(kidBefore);
    const keyFiles = readdirSync(join(dir, 'keys'));
    expect(statSync(join(dir, 'keys', keyFiles[0]!)).mode & 0o777).toBe(0o600);
    const i = await post('/introspect', { token: referenceToken }, 'form', { authorization: basic('rs-ekg', 'rs-secret') });
    expect(i.data.active).toBe(true);
  });
  it('revokes, then introspection says inactive and the signed TRL lists the hash', async () => {
    const r = await post('/revoke', { token: referenceToken }, 'form', { authorization: basic('app', 's3cret-app') });
    expect(r.status).toBe(200);
    expect((await post('/introspect', { token: referenceToken }, 'json', { authorization: basic('rs-ekg', 'rs-secret') })).data).toEqual({ active: false });
    const trl = new Uint8Array(await (await fetch(`${base}/trl/gw`)).arrayBuffer());
    const list = verifyRevocationList(trl, (await asKeys())[0]!, { audience: 'gw', provider: nativeProvider });
    expect(list.sequence).toBe(1);
    expect(list.fullSet?.[0]).toEqual(tokenHash(fromBase64Url(referenceToken)));
  });
});

describe('metadata, keys and admin API', () => {
  it('publishes RFC 8414 metadata, a COSE_KeySet and a JWKS with the same kid', async () => {
    const md = (await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json()) as any;
    expect(md.issuer).toBe(base);
    expect(md.code_challenge_methods_supported).toEqual(['S256']);
    // RFC 9200 §8.18: coap_oscore (RFC 9203) for audiences registered with it; keybound's own
    // PoP over MQTT is no registered profile and is not claimed.
    expect(md.ace_profiles_supported).toEqual(['coap_oscore']);
    const jwks = (await (await fetch(`${base}/jwks.json`)).json()) as any;
    const [cose] = await asKeys();
    expect(jwks.keys[0].kid).toBe(toBase64Url(cose!.kid!));
    expect(cose!.d).toBeUndefined();
  });
  it('needs the admin bearer credential, registers a device and provisions it', async () => {
    const bad = await fetch(`${base}/admin/audiences`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{}' });
    expect(bad.status).toBe(401);
    const ok = await fetch(`${base}/admin/audiences`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ id: 'thermo', scopes: ['read'] }) });
    expect(ok.status).toBe(201);
    const b = await fetch(`${base}/admin/provision/thermo?format=json`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(((await b.json()) as any).deviceId).toBe('thermo');
  });
});
