/**
 * One way to accept a token (device/token-acceptance.ts): the device and the broker refuse the same
 * failure with the same code; and the attacks on clock-less tokens (issue 9, finding 2) run against
 * the real service over HTTP and a real device runtime: a revoked exi token stays dead after the
 * next unrelated revocation, and a token's cnonce(39) must be one the device issued, once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  coseKeyToMap,
  createCwt,
  createRevocationList,
  encodeCbor,
  toBase64Url,
  fromBase64Url,
  publicCoseKey,
  sealCoseKey,
  tokenHash,
  toHex,
  utf8,
  type CoseKey,
  type CwtClaims,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  buildPopRequest,
  createResourceServer,
  decodeResponseBody,
  DeviceError,
  memoryStorage,
  serveRequest,
  trustStoreFromBundle,
  type DeviceStorage,
  type ResourceServer,
} from '../device/index.js';
import { brokerTrust, BrokerError, createTokenVerifier } from '../broker/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { createFixtureIssuer, ed25519Key, ISSUER } from './support/device-issuer.js';

const EMPTY = new Uint8Array(0);
const GET_RESULT = { method: 'GET', resource: '/result', payload: EMPTY };

async function codeOf(f: () => unknown): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('the device and the broker give the same failure the same code', () => {
  const now = 1_800_000_000;
  const clock = () => now;
  const AUD = 'shared-aud';
  const issuer = createFixtureIssuer(clock);
  const holder = ed25519Key('holder');
  const good: CwtClaims = { iss: ISSUER, aud: AUD, exp: now + 600, cnf: { coseKey: publicCoseKey(holder) }, scope: [['/result', 1]] };
  const mqttGood: CwtClaims = { ...good, scope: [['sensors/#', ['pub']]] };
  const foreign = ed25519Key('as-1'); // same kid as the real anchor, another key
  const otherShared: CoseKey = { kty: 'Symmetric', k: nativeProvider.randomBytes(16), kid: utf8('nobody-shares-this'), alg: 10 };
  const revokedToken = createCwt(good, issuer.signingKey);
  const revokedHex = toHex(tokenHash(revokedToken));

  // Each case: the token, and whether the scope is what a device (REST) or the broker (MQTT) wants.
  const cases: Array<{ name: string; code: string; token: (scope: 'rest' | 'mqtt') => Uint8Array }> = [
    { name: 'expired', code: 'expired', token: (k) => createCwt({ ...(k === 'rest' ? good : mqttGood), exp: now - 120 }, issuer.signingKey) },
    { name: 'for another audience', code: 'wrong_audience', token: (k) => createCwt({ ...(k === 'rest' ? good : mqttGood), aud: 'someone-else' }, issuer.signingKey) },
    { name: 'signed by a key with the anchor kid', code: 'invalid_token', token: (k) => createCwt(k === 'rest' ? good : mqttGood, foreign) },
    { name: 'signed under an unknown kid', code: 'unknown_key', token: (k) => createCwt(k === 'rest' ? good : mqttGood, ed25519Key('unknown-kid')) },
    { name: 'without cnf', code: 'invalid_token', token: (k) => createCwt({ ...(k === 'rest' ? good : mqttGood), cnf: undefined } as CwtClaims, issuer.signingKey) },
    { name: 'with cnf kid no one shares', code: 'unknown_key', token: (k) => createCwt({ ...(k === 'rest' ? good : mqttGood), cnf: { kid: utf8('nobody') } }, issuer.signingKey) },
    {
      name: 'with a PoP key sealed for someone else',
      code: 'unknown_key',
      token: (k) => createCwt({ ...(k === 'rest' ? good : mqttGood), cnf: sealCoseKey({ kty: 'Symmetric', k: new Uint8Array(32) }, otherShared, { kid: otherShared.kid! }) }, issuer.signingKey),
    },
    { name: 'without scope', code: 'insufficient_scope', token: (k) => createCwt({ ...(k === 'rest' ? good : mqttGood), scope: undefined } as CwtClaims, issuer.signingKey) },
    { name: 'with a scope of the other kind', code: 'insufficient_scope', token: (k) => createCwt(k === 'rest' ? mqttGood : { ...good, exp: now + 601 }, issuer.signingKey) },
    { name: 'tampered', code: 'invalid_token', token: (k) => { const t = createCwt(k === 'rest' ? good : mqttGood, issuer.signingKey); t[t.length - 1]! ^= 1; return t; } },
    { name: 'not CBOR at all', code: 'invalid_token', token: () => utf8('definitely not a token') },
    { name: 'revoked', code: 'revoked', token: () => revokedToken },
  ];

  const device = () =>
    createResourceServer({
      trust: trustStoreFromBundle(
        { version: 1, deviceId: AUD, audience: AUD, issuer: ISSUER, trustAnchors: [publicCoseKey(issuer.signingKey), issuer.sharedKeyFor(AUD)] },
        now,
      ),
      storage: memoryStorage(),
      clock,
      handler: () => ({ code: 205 }),
    });
  const broker = () =>
    createTokenVerifier({
      audience: AUD,
      trust: brokerTrust([publicCoseKey(issuer.signingKey)], { audience: AUD, now }),
      clock,
      provider: nativeProvider,
      isRevoked: (hex) => hex === revokedHex,
    });

  for (const c of cases) {
    it(`a token ${c.name}: ${c.code} at both`, async () => {
      const dev = device();
      if (c.code === 'revoked') dev.applyRevocationList(createRevocationList({ audience: AUD, sequence: 1, fullSet: [tokenHash(revokedToken)] }, issuer.signingKey));
      const atDevice = await codeOf(() => dev.authzInfo({ token: c.token('rest') }));
      const atBroker = await codeOf(() => broker().verify(c.token('mqtt')));
      expect({ atDevice, atBroker }).toEqual({ atDevice: c.code, atBroker: c.code });
    });
  }

  it('errors are the folders own classes, with the shared code', async () => {
    const token = cases[0]!.token('mqtt');
    await expect(broker().verify(token)).rejects.toBeInstanceOf(BrokerError);
    expect(() => device().authzInfo({ token: cases[0]!.token('rest') })).toThrow(DeviceError);
  });

  it('a good token is accepted at both, and the second time from the cache', async () => {
    const dev = device();
    expect(dev.authzInfo({ token: createCwt(good, issuer.signingKey) }).expiresAt).toBe(now + 600 + 60); // exp + the device's leeway
    const v = broker();
    const t = createCwt(mqttGood, issuer.signingKey);
    const first = await v.verify(t);
    expect(await v.verify(t)).toBe(first);
    expect(v.cached).toBe(1);
  });
});

describe('clock-less tokens against the real service (finding 2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'acceptance-exi-'));
  let serviceNow = 1_800_000_000;
  let deviceNow = 1_000; // a clock-less device counts seconds since it first booted
  const EXI = 300;
  let store: SqliteStore;
  let server: AuthzServer;
  let base = '';
  let bundle: Awaited<ReturnType<typeof provisionDevice>>;
  const app = { authorization: basic('ekg', 'ekg-secret-that-is-long-enough') };
  const holder = ed25519Key('ekg-pop');
  const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(holder))]])));

  beforeAll(async () => {
    store = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'tube', scopes: ['[["/result",1]]'], clockless: true, lifetime: EXI });
    await registerClient(store, { id: 'ekg', secret: 'ekg-secret-that-is-long-enough', audiences: ['tube'], scopes: ['[["/result",1]]'], grantTypes: ['client_credentials'] });
    server = await createAuthzServer({ store, dataDir: dir, clock: () => serviceNow, issuer: ISSUER });
    base = (await server.listen(0)).url;
    bundle = await provisionDevice(store, server.keys, { deviceId: 'tube', issuer: ISSUER, now: serviceNow });
  });
  afterAll(async () => {
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tube = (storage: DeviceStorage): ResourceServer =>
    createResourceServer({ trust: trustStoreFromBundle(bundle, serviceNow), storage, clock: () => deviceNow, handler: () => ({ code: 205, payload: utf8('42') }) });
  const issue = async (extra: Record<string, unknown> = {}): Promise<Uint8Array> => {
    const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'tube', scope: [['/result', 1]], req_cnf: reqCnf, ...extra }, 'json', app);
    expect(r.status, JSON.stringify(r.data)).toBe(200);
    return fromBase64Url(r.data.access_token as string);
  };
  const revoke = async (token: Uint8Array) => {
    const r = await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { ...app, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: Buffer.from(token).toString('base64url') }),
    });
    expect(r.status).toBe(200);
  };
  const trl = async () => new Uint8Array(await (await fetch(`${base}/trl/tube`)).arrayBuffer());
  const use = (dev: ResourceServer, token: Uint8Array) =>
    decodeResponseBody(serveRequest(dev, buildPopRequest({ token, popKey: holder, audience: 'tube', request: GET_RESULT, includeToken: true, nonce: dev.issueNonce() })));

  it('a revoked exi token stays refused after the service forgets it and lists an unrelated revocation', async () => {
    const storage = memoryStorage();
    const dev = tube(storage);
    const a = await issue();
    expect(use(dev, a).code).toBe(205);
    await revoke(a);
    const firstList = await trl();
    dev.applyRevocationList(firstList);
    expect(use(dev, a).error).toBe('revoked');
    // A second device learns of the revocation before it ever sees the token.
    const warned = tube(memoryStorage());
    warned.applyRevocationList(firstList);

    // Past issue + exi by the service's clock the service drops `a` from its list; on the device `a`
    // would still be live (exi counts from the device's first receipt), had it not been revoked.
    serviceNow += EXI + 1;
    const unrelated = await issue();
    await revoke(unrelated);
    const list = await trl();
    dev.applyRevocationList(list);

    // The warned device replaces its set with the new full list, then meets the token for the
    // first time: before the floor, this is where a revoked token was served again.
    warned.applyRevocationList(list);
    expect(use(warned, a).code).not.toBe(205);
    const after = use(dev, a);
    expect(after.code).not.toBe(205);
    expect(after.error).toBe('expired'); // below the signed exi floor
    // A device that slept through the first list, and reboots onto storage, refuses it too.
    const sleeper = tube(memoryStorage());
    sleeper.applyRevocationList(list);
    expect(use(sleeper, a).code).not.toBe(205);
    const rebooted = tube(storage);
    expect(use(rebooted, a).code).not.toBe(205);
  });

  it('the floor spares a live exi token issued after the lapsed ones', async () => {
    const dev = tube(memoryStorage());
    const fresh = await issue();
    const doomed = await issue();
    await revoke(doomed);
    dev.applyRevocationList(await trl());
    expect(use(dev, fresh).code).toBe(205);
    expect(use(dev, doomed).error).toBe('revoked');
  });

  it('a token carrying a cnonce the device did not issue, or one already used, is refused (RFC 9200 §5.3.1)', async () => {
    const dev = tube(memoryStorage());
    const cnonce = dev.hints().cnonce!;
    const first = await issue({ cnonce: Buffer.from(cnonce).toString('base64url') });
    const second = await issue({ cnonce: Buffer.from(cnonce).toString('base64url') });
    const forged = await issue({ cnonce: Buffer.from(nativeProvider.randomBytes(16)).toString('base64url') });
    expect(use(dev, first).code).toBe(205);
    // The same token again is the token already held, not a second use of its cnonce.
    expect(use(dev, first).code).toBe(205);
    const refused = use(dev, second);
    expect(refused.error).toBe('replay');
    expect(refused.hints?.cnonce).toBeInstanceOf(Uint8Array);
    expect(use(dev, forged).error).toBe('replay');
  });

});
