/**
 * Issue 15: structured logs that an operator can use and an attacker cannot. Real secrets go
 * through every path that logs (client authentication by Basic and by POST, good and wrong
 * secrets, user sign-in with right and wrong passwords, the admin API with its token and with a
 * wrong one, tokens at /token, /introspect and /revoke, refresh tokens, MQTT CONNECT proofs
 * admitted, replayed and forged, a device's authz-info and PoP requests, the metrics token),
 * into the real service, broker and device runtime, each logging through real pino
 * (device/adapters createNodeLogger) at trace level. Then: the events an operator needs are
 * there with their fields, and no line carries any 24-character piece of any secret in any of
 * the encodings it travelled in.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coseKeyFromMap, coseKeyToMap, decodeCbor, encodeCbor, fromBase64Url, publicCoseKey, toBase64Url, toHex, utf8, type CborMap, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { createBroker, createConnectPassword, type KeyboundBroker } from '../broker/index.js';
import { buildPopRequest, createResourceServer, decodePopRequest, loadProvisioningBundle, memoryStorage, type ResourceServer } from '../device/index.js';
import { createNodeLogger } from '../device/adapters/index.js';
import { basic, loginAndConsent, post } from './support/authz-client.js';
import { connect, refusal } from './support/broker-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-ops-logs-'));
const lines: string[] = [];
const sink = { write: (line: string) => void lines.push(line) };
const logger = (name: string) => createNodeLogger({ name, level: 'trace', destination: sink });

// The secrets, chosen to be findable: long, distinct, with the characters that trip encoders.
const ADMIN_TOKEN = 'admin-token-Zq8+/w9Xr2LmTT4vB7nQ0aHdKe3';
const METRICS_TOKEN = 'metrics-token-Hh3Jk9LmPq2Rs5Tv8WxYz1Ab';
const APP_SECRET = 'app-secret-Gm4+Yt7/Qp2=Vw9Xz0Lk3Nj6Bc';
const RS_SECRET = 'rs-secret-Fd8Kp2Mn5Qr7Tw1Yx4Za9Cb3Ev6';
const WRONG_SECRET = 'wrong-secret-Uu7Ii8Oo9Pp0Aa1Ss2Dd3Ff4';
const PASSWORD = 'alice-password-Tr0ub4dor&3-correct-horse';
const WRONG_PASSWORD = 'not-alices-password-Kx8Vb3Nm6Qw1Er4';
const REDIRECT = 'http://127.0.0.1:9/cb';
const MQTT_SCOPE = [['sensors/#', ['pub', 'sub']]];
const REST_SCOPE = [['/result', 1]];

/** Every secret that went through, as text (the strings) or bytes (tokens, proofs, keys). */
const secrets: Array<{ what: string; value: string | Uint8Array }> = [];
const keep = (what: string, value: string | Uint8Array) => secrets.push({ what, value });

let store: SqliteStore;
let service: AuthzServer;
let base = '';
let broker: KeyboundBroker;
let brokerUrl = '';
let device: ResourceServer;

function popKey(kid: string): CoseKey {
  const p = nativeProvider.generateKeyPair('Ed25519');
  const key: CoseKey = { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8(kid) };
  keep(`private key ${kid}`, p.d!);
  return key;
}

// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first (the secrets have + / =).
const appAuth = basic('app', encodeURIComponent(APP_SECRET));
const rsAuth = basic('rs', encodeURIComponent(RS_SECRET));
const reqCnf = (key: CoseKey) => toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(key))]])));
const admin = (path: string, body: unknown, token = ADMIN_TOKEN) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The encodings a secret may have travelled in: as is, base64, base64url, hex, and JSON-escaped. */
function encodings(value: string | Uint8Array): string[] {
  const bytes = typeof value === 'string' ? utf8(value) : value;
  const out = [Buffer.from(bytes).toString('base64'), toBase64Url(bytes), toHex(bytes)];
  if (typeof value === 'string') out.push(value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value));
  return out;
}

/** Every 24-character window (step 4) of every encoding of `value` that appears in `text`. */
function leaks(text: string, value: string | Uint8Array): string[] {
  const found: string[] = [];
  for (const e of encodings(value)) {
    if (e.length < 24) {
      if (text.includes(e)) found.push(e);
      continue;
    }
    for (let i = 0; i + 24 <= e.length; i += 4) if (text.includes(e.slice(i, i + 24))) found.push(e.slice(i, i + 24));
  }
  return found;
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  service = await createAuthzServer({ store, dataDir: dir, adminToken: ADMIN_TOKEN, metricsToken: METRICS_TOKEN, logger: logger('authz') });
  base = (await service.listen(0)).url;
  keep('admin token', ADMIN_TOKEN);
  keep('metrics token', METRICS_TOKEN);
  keep('service signing key', service.keys.current().key.d!);
  // Registration through the admin API: the client secrets and the password travel in its bodies.
  for (const [path, body] of [
    ['/admin/audiences', { id: 'broker-1', scopes: [MQTT_SCOPE] }],
    ['/admin/audiences', { id: 'ekg', scopes: [REST_SCOPE] }],
    ['/admin/clients', { id: 'app', secret: APP_SECRET, audiences: ['broker-1', 'ekg'], scopes: [MQTT_SCOPE, REST_SCOPE], grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'], redirectUris: [REDIRECT] }],
    ['/admin/clients', { id: 'rs', secret: RS_SECRET, audiences: ['broker-1', 'ekg'], grantTypes: [], resourceServer: true }],
    ['/admin/users', { username: 'alice', password: PASSWORD }],
  ] as const) {
    const res = await admin(path, body);
    expect(res.status, `${path} ${await res.clone().text()}`).toBe(201);
  }
  for (const s of [APP_SECRET, RS_SECRET, WRONG_SECRET, PASSWORD, WRONG_PASSWORD, appAuth, rsAuth]) keep('secret, password or Basic header', s);
  expect((await admin('/admin/users', { username: 'eve', password: WRONG_PASSWORD }, 'not-the-admin-token-Qw3Er5Ty7')).status).toBe(401);
  keep('wrong admin token', 'not-the-admin-token-Qw3Er5Ty7');

  const keys = (decodeCbor(new Uint8Array(await (await fetch(`${base}/keys`)).arrayBuffer())) as CborMap[]).map((m) => coseKeyFromMap(m));
  broker = await createBroker({ audience: 'broker-1', trust: keys, logger: logger('broker') });
  brokerUrl = (await broker.listen(0)).url;
  const bundle = new Uint8Array(await (await fetch(`${base}/admin/provision/ekg`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).arrayBuffer());
  device = createResourceServer({ trust: loadProvisioningBundle(bundle, Date.now() / 1000), storage: memoryStorage(), clock: () => Date.now() / 1000, handler: () => ({ code: 205, payload: utf8('42') }), logger: logger('device') });
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await service?.close();
  store?.close();
});

describe('what the service, the broker and the device log', () => {
  it('runs every logged path with real secrets', async () => {
    const appKey = popKey('app-pop');
    // /token: Basic (JSON), client_secret_post (form), CBOR; a wrong secret; an unknown audience.
    const byBasic = await post(base, '/token', { grant_type: 'client_credentials', audience: 'broker-1', scope: MQTT_SCOPE, req_cnf: reqCnf(appKey) }, 'json', { authorization: appAuth });
    expect(byBasic.status).toBe(200);
    const mqttToken = fromBase64Url(byBasic.data.access_token as string);
    keep('access token (MQTT)', mqttToken);
    const byPost = await post(base, '/token', { grant_type: 'client_credentials', audience: 'ekg', scope: JSON.stringify(REST_SCOPE), client_id: 'app', client_secret: APP_SECRET, req_cnf: reqCnf(appKey) }, 'form');
    expect(byPost.status).toBe(200);
    const restToken = fromBase64Url(byPost.data.access_token as string);
    keep('access token (REST)', restToken);
    const cbor = await post(base, '/token', new Map<number, unknown>([[33, 2], [5, 'ekg'], [9, REST_SCOPE], [24, 'app'], [25, utf8(APP_SECRET)]]) as CborMap, 'cbor');
    expect(cbor.status).toBe(200);
    keep('access token (CBOR, symmetric)', cbor.data.get(1) as Uint8Array);
    keep('symmetric PoP key (cnf)', encodeCbor(cbor.data.get(8)));
    expect((await post(base, '/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'json', { authorization: basic('app', WRONG_SECRET) })).status).toBe(401);
    expect((await post(base, '/token', { grant_type: 'client_credentials', audience: 'nowhere' }, 'json', { authorization: appAuth })).status).toBe(400);

    // Sign-in with a wrong password, then the authorization code flow with the right one, refresh.
    const verifier = 'v'.repeat(50);
    const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: JSON.stringify(REST_SCOPE), audience: 'ekg' });
    await expect(loginAndConsent(base, q, 'alice', WRONG_PASSWORD)).rejects.toThrow();
    const code = await loginAndConsent(base, q, 'alice', PASSWORD);
    keep('authorization code', code);
    const redeemed = await post(base, '/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, 'json', { authorization: appAuth });
    expect(redeemed.status).toBe(200);
    keep('refresh token', redeemed.data.refresh_token as string);
    keep('PKCE verifier', verifier);
    const refreshed = await post(base, '/token', { grant_type: 'refresh_token', refresh_token: redeemed.data.refresh_token }, 'json', { authorization: appAuth });
    expect(refreshed.status).toBe(200);
    keep('refresh token (rotated)', refreshed.data.refresh_token as string);
    keep('access token (refreshed)', fromBase64Url(refreshed.data.access_token as string));

    // Introspection by the resource server, and by a client with a wrong secret.
    expect((await post(base, '/introspect', { token: byPost.data.access_token }, 'json', { authorization: rsAuth })).data.active).toBe(true);
    expect((await post(base, '/introspect', { token: byPost.data.access_token }, 'json', { authorization: basic('rs', WRONG_SECRET) })).status).toBe(401);

    // The broker: admitted, replayed, and a thief's token with the wrong key.
    const pw = Buffer.from(createConnectPassword(mqttToken, appKey, { audience: 'broker-1', clientId: 'sensor-1', clock: () => Date.now() / 1000, provider: nativeProvider }));
    keep('CONNECT password (token and proof)', pw);
    keep('CONNECT proof', (decodeCbor(new Uint8Array(pw)) as Uint8Array[])[1]!);
    await (await connect(brokerUrl, 'sensor-1', pw)).endAsync();
    expect(await refusal(connect(brokerUrl, 'sensor-1', pw))).toBe(4); // replay
    const thiefKey = popKey('thief');
    const forged = Buffer.from(createConnectPassword(mqttToken, thiefKey, { audience: 'broker-1', clientId: 'thief', clock: () => Date.now() / 1000, provider: nativeProvider }));
    keep('forged CONNECT password', forged);
    expect(await refusal(connect(brokerUrl, 'thief', forged))).toBe(4);

    // The device: a PoP request with the token along, and one with a proof by the wrong key.
    device.authzInfo({ token: restToken }); // RFC 9200 §5.10.1: the token posted first
    expect(() => device.authzInfo({ token: mqttToken })).toThrow(); // another audience's token
    const get = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
    const good = buildPopRequest({ token: restToken, popKey: appKey, audience: 'ekg', request: get, includeToken: true, nonce: device.issueNonce() }, nativeProvider);
    keep('device PoP request', good);
    expect(device.handlePopRequest(decodePopRequest(good)).code).toBe(205);
    const bad = buildPopRequest({ token: restToken, popKey: thiefKey, audience: 'ekg', request: get, includeToken: true, nonce: device.issueNonce() }, nativeProvider);
    keep('forged device PoP request', bad);
    expect(() => device.handlePopRequest(decodePopRequest(bad))).toThrow();

    // Revocation: the MQTT token at the service; its new list to the broker and to the device.
    expect((await post(base, '/revoke', { token: byBasic.data.access_token }, 'json', { authorization: appAuth })).status).toBe(200);
    expect((await post(base, '/revoke', { token: redeemed.data.refresh_token }, 'json', { authorization: appAuth })).status).toBe(200);
    await broker.publishRevocationList('broker-1', await service.revocationList('broker-1'));
    device.applyRevocationList(await service.revocationList('ekg'));

    // /metrics with its token and with a wrong one.
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-metrics-token-Rt5Yu7Io9' } })).status).toBe(401);
    keep('wrong metrics token', 'wrong-metrics-token-Rt5Yu7Io9');
  }, 60_000);

  it('logs each admission, refusal (with its reason code), issuance and revocation, one JSON object a line', () => {
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const find = (fields: Record<string, unknown>) => events.filter((e) => Object.entries(fields).every(([k, v]) => e[k] === v));
    // Issuance: grant, client, audience, kid, hash prefixes.
    const issued = find({ name: 'authz', event: 'token_issued', grant: 'client_credentials', clientId: 'app', audience: 'broker-1' });
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({ level: 30, subject: 'app' });
    expect(issued[0]!.kid).toMatch(/^[0-9a-f]+$/);
    expect(issued[0]!.tokenHash).toMatch(/^[0-9a-f]{8}$/);
    expect(find({ event: 'token_issued', grant: 'authorization_code', subject: 'alice' })).toHaveLength(1);
    expect(find({ event: 'token_issued', grant: 'refresh_token' })).toHaveLength(1);
    // Refusals: the registry code, the client, the remote address.
    expect(find({ event: 'request_refused', endpoint: 'token', code: 'invalid_client', clientId: 'app', remoteAddress: '127.0.0.1' })).toHaveLength(1);
    expect(find({ event: 'request_refused', endpoint: 'token', code: 'invalid_target', audience: 'nowhere' })).toHaveLength(1);
    expect(find({ event: 'request_refused', endpoint: 'introspect', code: 'invalid_client', clientId: 'rs' })).toHaveLength(1);
    // The admin API and the sign-in form: path, status, peer; a wrong admin token or password is a warning.
    expect(find({ event: 'admin_request', path: '/admin/users', status: 201 })).toHaveLength(1);
    expect(find({ event: 'admin_request', path: '/admin/users', status: 401, level: 40 })).toHaveLength(1);
    expect(find({ event: 'form_post', path: '/login', status: 401, level: 40, remoteAddress: '127.0.0.1' })).toHaveLength(1);
    // Revocation at the service, and its lists.
    expect(find({ event: 'revocation_request', clientId: 'app', revoked: true, audiences: 'broker-1' })).toHaveLength(1);
    expect(find({ event: 'revocation_list_changed', audience: 'broker-1' }).length).toBeGreaterThanOrEqual(1);
    // The broker: admission with the holder's key and the proof's jti prefix; refusals by code.
    const admitted = find({ name: 'broker', event: 'connect_admitted', clientId: 'sensor-1', audience: 'broker-1', subject: 'app' });
    expect(admitted).toHaveLength(1);
    expect(admitted[0]).toMatchObject({ remoteAddress: '127.0.0.1' });
    expect(admitted[0]!.proofJti).toMatch(/^[0-9a-f]{8}$/);
    expect(find({ name: 'broker', event: 'connect_refused', clientId: 'sensor-1', code: 'replay', level: 40 })).toHaveLength(1);
    expect(find({ name: 'broker', event: 'connect_refused', clientId: 'thief', code: 'bad_proof' })).toHaveLength(1);
    expect(find({ name: 'broker', event: 'revocation_list_applied', audience: 'broker-1', revoked: 1 })).toHaveLength(1);
    // The device, through the logger it was given.
    expect(find({ name: 'device', event: 'token_accepted', audience: 'ekg' })).toHaveLength(1);
    expect(find({ name: 'device', event: 'token_refused', audience: 'ekg', code: 'wrong_audience' })).toHaveLength(1);
    expect(find({ name: 'device', event: 'request_served', audience: 'ekg', subject: 'app', method: 'GET', resource: '/result' })).toHaveLength(1);
    expect(find({ name: 'device', event: 'request_refused', audience: 'ekg', code: 'bad_proof' })).toHaveLength(1);
    expect(find({ name: 'device', event: 'revocation_list_applied', audience: 'ekg' })).toHaveLength(1);
  });

  it('never logs a token, a proof, a secret, a password, the admin or metrics token, or a private key', () => {
    expect(lines.length).toBeGreaterThan(20);
    expect(secrets.length).toBeGreaterThan(25);
    const text = lines.join('');
    const found = secrets.map((s) => ({ what: s.what, pieces: leaks(text, s.value) })).filter((f) => f.pieces.length > 0);
    expect(found).toEqual([]);
  });

  it('the leak check itself finds a piece of a secret in any of its encodings (so the test above can fail)', () => {
    const token = secrets.find((s) => s.what === 'access token (REST)')!.value as Uint8Array;
    expect(leaks(`{"msg":"x ${toBase64Url(token).slice(10, 40)}"}`, token)).not.toEqual([]);
    expect(leaks(`{"msg":"${toHex(token).slice(0, 30)}"}`, token)).not.toEqual([]);
    expect(leaks(JSON.stringify({ msg: APP_SECRET }), APP_SECRET)).not.toEqual([]);
    expect(leaks(JSON.stringify({ msg: 'nothing here' }), APP_SECRET)).toEqual([]);
  });
});
