/**
 * A running broker follows the service (issue 10): it relays the signed revocation lists of the
 * device audiences it serves, retained on ace/trl/<aud> (never an older over a newer, never one for
 * another audience), and it picks up a rotated signing key from the service's /keys, periodically
 * and on an unknown kid, rate-limited, over HTTPS with the service's CA only. Real service over
 * HTTPS (openssl-made certificates), real SQLite, the CLI's own revoke and rotate-key functions.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coseKeyFromMap, coseKeyToMap, createTrustUpdate, decodeCbor, encodeCbor, publicCoseKey, toHex, utf8, verifyRevocationList, verifyTrustUpdate, type CborMap, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, revokeCommand, rotateKeyCommand, SqliteStore, type AuthzServer } from '../authz/index.js';
import { createBroker, MIN_KEYS_REFRESH_S, type KeyboundBroker } from '../broker/index.js';
import { connect, createIssuer, password, refusal, sleep } from './support/broker-fixture.js';
import { makeCertificates, type TestCertificates } from './support/tls-certificates.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-broker-refresh-'));
const MQTT_SCOPE = [['sensors/#', ['pub', 'sub']]];
const BROKER = 'broker-k';
let certs: TestCertificates;
let store: SqliteStore;
let as: AuthzServer;
let asUrl: string;
let broker: KeyboundBroker;
let brokerUrl: string;
/** A broker token signed by the service's first key, which every broker here knows. */
let firstToken: Uint8Array;
const logged: Array<{ msg: string; level: string; event?: unknown }> = [];
const keyRequests: string[] = [];
const popKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8('app-pop') };
})();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function asFetch(path: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {}): Promise<{ status: number; bytes: Uint8Array }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(`${asUrl}${path}`, { method: init.method ?? 'GET', headers: init.headers ?? {}, ca: certs.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: new Uint8Array(Buffer.concat(chunks)) }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function getToken(audience: string, scope: unknown = MQTT_SCOPE): Promise<Uint8Array> {
  const body = new Map<number, unknown>([
    [33, 2],
    [5, audience],
    [9, scope],
    [4, new Map([[1, coseKeyToMap(publicCoseKey(popKey))]])],
  ]);
  const r = await asFetch('/token', { method: 'POST', headers: { 'content-type': 'application/ace+cbor', authorization: basic('app', 'app-secret') }, body: encodeCbor(body as CborMap) });
  const answer = decodeCbor(r.bytes) as CborMap;
  if (r.status !== 200) throw new Error(`token endpoint: ${r.status} ${String(answer.get(30))}`);
  return answer.get(1) as Uint8Array;
}

async function serviceKeys(): Promise<CoseKey[]> {
  return (decodeCbor((await asFetch('/keys')).bytes) as unknown[]).map((k) => coseKeyFromMap(k as CborMap));
}

async function retainedList(b: KeyboundBroker, audience: string): Promise<Uint8Array | undefined> {
  const persistence = (b.aedes as unknown as { persistence: { createRetainedStream(p: string): AsyncIterable<{ payload: Buffer }> } }).persistence;
  let found: Uint8Array | undefined;
  for await (const p of persistence.createRetainedStream(`ace/trl/${audience}`)) found = new Uint8Array(p.payload);
  return found;
}

async function retainedTrust(b: KeyboundBroker, device: string): Promise<Uint8Array | undefined> {
  const persistence = (b.aedes as unknown as { persistence: { createRetainedStream(p: string): AsyncIterable<{ payload: Buffer }> } }).persistence;
  let found: Uint8Array | undefined;
  for await (const p of persistence.createRetainedStream(`ace/${device}/trust`)) found = new Uint8Array(p.payload);
  return found;
}

async function retainedSequence(b: KeyboundBroker, audience: string, keys: CoseKey[]): Promise<number | undefined> {
  const list = await retainedList(b, audience);
  if (!list) return undefined;
  const byKid = (kid: Uint8Array | undefined) => keys.find((k) => k.kid && kid && toHex(k.kid) === toHex(kid));
  return verifyRevocationList(list, ((h: { kid?: Uint8Array }) => byKid(h.kid)) as never, { audience, provider: nativeProvider }).sequence;
}

async function until(cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(100);
  }
}

/** kid(4) of a token's protected header: 61(18([protected, ...])). */
const kidOf = (token: Uint8Array) => toHex((decodeCbor((decodeCbor(token) as { value: { value: unknown[] } }).value.value[0] as Uint8Array) as CborMap).get(4) as Uint8Array);

beforeAll(async () => {
  certs = makeCertificates(dir);
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: BROKER, scopes: [MQTT_SCOPE as never] });
  for (const tube of ['tube-a', 'tube-b']) await registerAudience(store, nativeProvider, { id: tube, scopes: ['read'] });
  await registerClient(store, { id: `${BROKER}-rs`, secret: 'rs-secret', audiences: [BROKER], grantTypes: [] });
  await registerClient(store, { id: 'app', secret: 'app-secret', audiences: [BROKER, 'tube-a', 'tube-b'], scopes: [MQTT_SCOPE as never, 'read'], grantTypes: ['client_credentials'] });
  as = await createAuthzServer({ store, dataDir: dir, tls: { cert: certs.cert, key: certs.key } });
  asUrl = (await as.listen(0)).url;
  as.http.on('request', (req) => {
    if (req.url === '/keys') keyRequests.push(req.url);
  });
  broker = await createBroker({
    audience: BROKER,
    trust: await serviceKeys(),
    authzUrl: asUrl,
    authzCa: certs.ca,
    introspection: { clientId: `${BROKER}-rs`, clientSecret: 'rs-secret' },
    trlPollS: 0.3,
    deviceAudiences: ['tube-a', 'tube-b'],
    keysRefreshS: 3600,
    logger: { info: (f: object, msg: string) => logged.push({ ...f, msg, level: 'info' }), warn: (f: object, msg: string) => logged.push({ ...f, msg, level: 'warn' }), error: (f: object, msg: string) => logged.push({ ...f, msg, level: 'error' }) },
  });
  brokerUrl = (await broker.listen(0)).url;
  firstToken = await getToken(BROKER);
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await as?.close();
  store?.close();
});

describe('revocation lists of the device audiences a broker relays to', () => {
  it('`authz revoke` reaches ace/trl/<device> retained, from the service over HTTPS', async () => {
    const keys = await serviceKeys();
    const t = await getToken('tube-a', 'read');
    const before = (await retainedSequence(broker, 'tube-a', keys)) ?? -1;
    const r = await revokeCommand({ dataDir: dir, tokens: [t] });
    expect(r.audiences).toEqual(['tube-a']);
    await until(async () => ((await retainedSequence(broker, 'tube-a', keys)) ?? -1) > before);
    // tube-b's list did not move: each audience gets its own list.
    expect(await retainedSequence(broker, 'tube-b', keys)).toBe(0);
  });

  it('an older list pushed over a newer one, or a list for another audience, is refused and never retained', async () => {
    const keys = await serviceKeys();
    const old = (await asFetch('/trl/tube-a')).bytes;
    await revokeCommand({ dataDir: dir, tokens: [await getToken('tube-a', 'read')] });
    const newest = (await asFetch('/trl/tube-a')).bytes;
    const newSeq = verifyRevocationList(newest, keys[0]!, { audience: 'tube-a', provider: nativeProvider }).sequence;
    await until(async () => (await retainedSequence(broker, 'tube-a', keys)) === newSeq);
    await expect(broker.publishRevocationList('tube-a', old)).rejects.toMatchObject({ code: 'replay' });
    const otherAudience = (await asFetch('/trl/tube-b')).bytes;
    await expect(broker.publishRevocationList('tube-a', otherAudience)).rejects.toMatchObject({ code: 'invalid_token' });
    await sleep(700); // two more poll rounds
    expect(await retainedSequence(broker, 'tube-a', keys)).toBe(newSeq);
    // A list signed by a key the service never had: refused.
    const forger = createIssuer();
    await expect(broker.publishRevocationList('tube-a', forger.revoke('tube-a', new Uint8Array(32)))).rejects.toBeDefined();
    expect(await retainedSequence(broker, 'tube-a', keys)).toBe(newSeq);
  });
});

describe('key rotation reaches a running broker', () => {
  it('a token signed by the rotated key is accepted without restart (after a /keys fetch); the old key still works', async () => {
    const oldToken = await getToken(BROKER);
    const oldKids = (await serviceKeys()).map((k) => toHex(k.kid!));
    const fetchesBefore = broker.stats.keyFetches;
    const { kid } = await rotateKeyCommand({ dataDir: dir, alg: 'ES256' });
    // The service re-reads its keys at most once a second.
    let fresh = await getToken(BROKER);
    await until(async () => {
      fresh = await getToken(BROKER);
      return kidOf(fresh) === kid;
    });
    expect(oldKids).not.toContain(kid);
    const c = await connect(brokerUrl, 'app-new', password(fresh, popKey, 'app-new', BROKER));
    c.end(true);
    // Learnt from /keys: at the token's unknown kid, or at the first list the new key signed.
    expect(broker.stats.keyFetches).toBeGreaterThan(fetchesBefore);
    const o = await connect(brokerUrl, 'app-old', password(oldToken, popKey, 'app-old', BROKER));
    o.end(true);
    // A rotation is routine: logged at info, not as a warning (README walkthrough, stop 35).
    expect(logged.filter((l) => /trust refreshed/.test(l.msg)).map((l) => [l.event, l.level])).toContainEqual(['trust_refreshed', 'info']);
    expect(logged.filter((l) => /trust refreshed/.test(l.msg) && l.level !== 'info')).toEqual([]);
    // The signed trust update for each device audience is relayed, also at info (walkthrough, stop 36).
    await until(async () => logged.some((l) => l.event === 'trust_update_relayed'));
    expect(logged.filter((l) => /trust update for .* relayed/.test(l.msg)).map((l) => [l.event, l.level])).toContainEqual(['trust_update_relayed', 'info']);
    expect(logged.filter((l) => /trust update for .* relayed/.test(l.msg) && l.level !== 'info')).toEqual([]);
  });

  it('a flood of tokens naming unknown kids costs at most one /keys fetch per window, and all are refused', async () => {
    const before = keyRequests.length;
    const forger = createIssuer();
    const results: number[] = [];
    for (let i = 0; i < 40; i++) {
      forger.signingKey.kid = utf8(`forged-${i}`);
      const { token, key } = forger.token({ scope: [['sensors/#', ['pub']]], audience: BROKER });
      results.push(await refusal(connect(brokerUrl, `flood-${i}`, password(token, key, `flood-${i}`, BROKER))));
    }
    expect(results.every((r) => r === 5 || r === 4)).toBe(true);
    // The flood took far less than 2 windows: at most one fetch per MIN_KEYS_REFRESH_S, plus one.
    expect(keyRequests.length - before).toBeLessThanOrEqual(2);
    expect(MIN_KEYS_REFRESH_S).toBeGreaterThanOrEqual(10);
  });

  it('a /keys answer from a server the broker cannot authenticate (wrong CA) is never believed', async () => {
    const start = async (ca: string) =>
      createBroker({ audience: BROKER, trust: await serviceKeys(), authzUrl: asUrl, authzCa: ca, introspection: { clientId: `${BROKER}-rs`, clientSecret: 'rs-secret' }, trlPollS: 0, keysRefreshS: 3600 });
    const wrongCa = await start(certs.otherCa);
    const rightCa = await start(certs.ca);
    try {
      const url = (await wrongCa.listen(0)).url;
      const rightUrl = (await rightCa.listen(0)).url;
      const { kid } = await rotateKeyCommand({ dataDir: dir });
      let fresh = await getToken(BROKER);
      await until(async () => {
        fresh = await getToken(BROKER);
        return kidOf(fresh) === kid;
      });
      expect([4, 5]).toContain(await refusal(connect(url, 'app-wrongca', password(fresh, popKey, 'app-wrongca', BROKER))));
      expect(wrongCa.stats.keyFetches).toBeGreaterThanOrEqual(1);
      // The same start with the right CA takes it.
      const ok = await connect(rightUrl, 'app-rightca', password(fresh, popKey, 'app-rightca', BROKER));
      ok.end(true);
    } finally {
      await Promise.all([wrongCa.close(), rightCa.close()]);
    }
  });
});

describe('trust-anchor updates relayed to devices (ace/<device>/trust, retained)', () => {
  let deviceAnchors: CoseKey[];
  beforeAll(async () => {
    // What tube-a was provisioned with before any rotation in this describe: today's published keys.
    deviceAnchors = await serviceKeys();
  });

  it('after a rotation the broker retains an update a device verifies with the keys it already has', async () => {
    const { kid } = await rotateKeyCommand({ dataDir: dir });
    // The broker polls each device's update on its own: wait until each retains one naming the new key,
    // verified with the anchors the device already has and naming that device (tube-b is relayed too).
    const retainsRotation = (device: string) =>
      until(async () => {
        const u = await retainedTrust(broker, device);
        if (!u) return false;
        try {
          return verifyTrustUpdate(u, { anchors: deviceAnchors, storedSeq: 0, audience: device, provider: nativeProvider }).keys.some((k) => toHex(k.kid!) === kid);
        } catch {
          return false;
        }
      });
    await retainsRotation('tube-a');
    await retainsRotation('tube-b');
    const b = verifyTrustUpdate((await retainedTrust(broker, 'tube-b'))!, { anchors: deviceAnchors, storedSeq: 0, audience: 'tube-b', provider: nativeProvider });
    expect(b.keys.map((k) => toHex(k.kid!))).toContain(kid);
  });

  it('a replayed older update, one for another device, or a forged one is refused and never retained', async () => {
    const older = (await asFetch('/trust/tube-a')).bytes;
    const olderSeq = verifyTrustUpdate(older, { anchors: deviceAnchors, storedSeq: 0, audience: 'tube-a', provider: nativeProvider }).seq;
    await rotateKeyCommand({ dataDir: dir });
    await until(async () => {
      const u = await retainedTrust(broker, 'tube-a');
      return u !== undefined && verifyTrustUpdate(u, { anchors: deviceAnchors, storedSeq: 0, audience: 'tube-a', provider: nativeProvider }).seq > olderSeq;
    });
    const newest = (await retainedTrust(broker, 'tube-a'))!;
    await expect(broker.publishTrustUpdate('tube-a', older)).rejects.toMatchObject({ code: 'replay' });
    await expect(broker.publishTrustUpdate('tube-a', (await asFetch('/trust/tube-b')).bytes)).rejects.toMatchObject({ code: 'invalid_token' });
    const forger = createIssuer();
    const forged = createTrustUpdate({ seq: 1_000_000, keys: [publicCoseKey({ ...forger.signingKey, alg: -8 })], iat: Math.floor(Date.now() / 1000), aud: 'tube-a' }, { ...forger.signingKey, alg: -8 }, { provider: nativeProvider });
    await expect(broker.publishTrustUpdate('tube-a', forged)).rejects.toMatchObject({ code: 'invalid_token' });
    // Through MQTT too: a client publishing on ace/tube-a/trust (retained) gets its message dropped.
    // A token of the broker's first key (a new kid would wait for the unknown-kid allowance).
    const c = await connect(brokerUrl, 'app-forger', password(firstToken, popKey, 'app-forger', BROKER));
    await new Promise<void>((resolve, reject) => c.publish('ace/tube-a/trust', Buffer.from(forged), { qos: 1, retain: true }, (e) => (e ? reject(e) : resolve())));
    await new Promise<void>((resolve, reject) => c.publish('ace/tube-a/trust', Buffer.from(older), { qos: 1, retain: true }, (e) => (e ? reject(e) : resolve())));
    c.end(true);
    await sleep(300);
    expect(toHex((await retainedTrust(broker, 'tube-a'))!)).toBe(toHex(newest));
  });
});
