/**
 * A revocation list that would not fit a device (MAX_TRL_HASHES) gives up its oldest revocations
 * whole, with a signed issued-before floor (cose/revocation-list.ts label 103), instead of growing
 * past what every verifier refuses. The attack (found in review): one client revokes more than
 * MAX_TRL_HASHES of its own tokens; every later list was refused by devices and the broker, so a
 * stolen token revoked after that was served on. Real service over HTTP, SQLite on disk, a real
 * device runtime, and the broker's own list and token checks.
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
  fitRevocations,
  kidKeyResolver,
  fromBase64Url,
  MAX_TRL_HASHES,
  publicCoseKey,
  toBase64Url,
  tokenHash,
  toHex,
  utf8,
  verifyRevocationList,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { buildPopRequest, createResourceServer, decodeResponseBody, memoryStorage, serveRequest, trustStoreFromBundle } from '../device/index.js';
import { createRevocationLists } from '../broker/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { ed25519Key, ISSUER } from './support/device-issuer.js';

describe('fitRevocations: the newest that fit, and a floor for the rest', () => {
  it('keeps everything that fits, and past that only what is newer than the floor', () => {
    const e = (i: number, issuedAt: number) => ({ id: i, issuedAt });
    expect(fitRevocations([e(1, 10), e(2, 20)], 2)).toEqual({ kept: [e(1, 10), e(2, 20)] });
    const fit = fitRevocations([e(1, 10), e(2, 30), e(3, 20), e(4, 30)], 2);
    expect(fit.issuedBefore).toBe(21);
    expect(fit.kept.map((x) => x.id).sort()).toEqual([2, 4]);
    // Ties at the cut go with the floor: never more than max listed.
    const ties = fitRevocations([e(1, 5), e(2, 5), e(3, 5)], 2);
    expect(ties).toEqual({ kept: [], issuedBefore: 6 });
  });
});

describe('one client revoking more than a list holds cannot stop revocation (real service)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trl-overflow-'));
  let now = 1_800_000_000;
  let store: SqliteStore;
  let server: AuthzServer;
  let base = '';
  const victim = ed25519Key('victim-pop');
  const auth = (id: string) => ({ authorization: basic(id, `${id}-secret-long-enough-for-policy`) });
  const cnfOf = (k: typeof victim) => toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(k))]])));

  beforeAll(async () => {
    store = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'tube', scopes: ['[["/result",1]]'] });
    for (const id of ['ekg', 'mallory']) {
      await registerClient(store, { id, secret: `${id}-secret-long-enough-for-policy`, audiences: ['tube'], scopes: ['[["/result",1]]'], grantTypes: ['client_credentials'] });
    }
    server = await createAuthzServer({ store, dataDir: dir, clock: () => now, issuer: ISSUER, issuanceLimit: { tokens: 5000, windowSeconds: 60 } });
    base = (await server.listen(0)).url;
  });
  afterAll(async () => {
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const issue = async (client: string, key = victim): Promise<Uint8Array> => {
    const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'tube', scope: [['/result', 1]], req_cnf: cnfOf(key) }, 'json', auth(client));
    expect(r.status, JSON.stringify(r.data)).toBe(200);
    return fromBase64Url(r.data.access_token as string);
  };
  const revoke = async (client: string, token: Uint8Array) => {
    const r = await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { ...auth(client), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: toBase64Url(token) }),
    });
    expect(r.status).toBe(200);
  };
  const trl = async () => new Uint8Array(await (await fetch(`${base}/trl/tube`)).arrayBuffer());
  const inParallel = async <T>(n: number, width: number, f: (i: number) => Promise<T>): Promise<T[]> => {
    const out: T[] = [];
    for (let i = 0; i < n; i += width) out.push(...(await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => f(i + j)))));
    return out;
  };

  it('a token revoked after the flood is refused by the device and the broker; a token issued after it is served', async () => {
    const bundle = await provisionDevice(store, server.keys, { deviceId: 'tube', issuer: ISSUER, now });
    const device = createResourceServer({ trust: trustStoreFromBundle(bundle, now), storage: memoryStorage(), clock: () => now, handler: () => ({ code: 205, payload: utf8('42') }) });
    const use = (token: Uint8Array, key = victim) =>
      decodeResponseBody(serveRequest(device, buildPopRequest({ token, popKey: key, audience: 'tube', request: { method: 'GET', resource: '/result', payload: new Uint8Array(0) }, includeToken: true, nonce: device.issueNonce() })));

    const stolen = await issue('ekg');
    expect(use(stolen).code).toBe(205);

    // Mallory revokes more of her own tokens than any list can hold.
    now += 1;
    const flood = await inParallel(MAX_TRL_HASHES + 1, 25, () => issue('mallory'));
    await inParallel(flood.length, 25, (i) => revoke('mallory', flood[i]!));

    // Then the victim's stolen token is revoked, and the list reaches the device.
    await revoke('ekg', stolen);
    const signed = await trl();
    const list = verifyRevocationList(signed, kidKeyResolver(server.keys.publicKeys(now)), { audience: 'tube', provider: nativeProvider });
    expect(list.fullSet!.length).toBeLessThanOrEqual(MAX_TRL_HASHES);
    expect(list.issuedBefore).toBeGreaterThan(0);
    expect(() => device.applyRevocationList(signed)).not.toThrow();
    expect(use(stolen).error).toBe('revoked');

    // The broker's own checks take the same list and refuse the same token.
    const brokerLists = createRevocationLists('tube', kidKeyResolver(server.keys.publicKeys(now)), nativeProvider);
    brokerLists.accept('tube', signed);
    expect(brokerLists.isTokenRevoked({ hashHex: toHex(tokenHash(stolen)), issuedAt: now - 1, reference: false })).toBe(true);

    // The floor does not reach the future: a token issued afterwards is served.
    now += 2;
    const fresh = await issue('ekg');
    expect(use(fresh).code).toBe(205);
    expect(brokerLists.isTokenRevoked({ hashHex: toHex(tokenHash(fresh)), issuedAt: now, reference: false })).toBe(false);
  }, 120_000);

  it('a device keeps the highest floor it has seen: a later list with a lower one brings nothing back', () => {
    const as = ed25519Key('as-floor');
    const bundle = { version: 1 as const, deviceId: 'd', audience: 'd', issuer: ISSUER, trustAnchors: [publicCoseKey(as)] };
    const device = createResourceServer({ trust: trustStoreFromBundle(bundle, now), storage: memoryStorage(), clock: () => now, handler: () => ({ code: 205 }) });
    const key = ed25519Key('holder');
    const old = createCwt({ iss: ISSUER, aud: 'd', iat: now - 100, exp: now + 600, cnf: { coseKey: publicCoseKey(key) }, scope: [['/r', 1]] }, as);
    expect(device.authzInfo({ token: old }).expiresAt).toBeGreaterThan(now);
    device.applyRevocationList(createRevocationList({ audience: 'd', sequence: 1, fullSet: [], issuedBefore: now - 50 }, as));
    expect(() => device.authzInfo({ token: old })).toThrow(expect.objectContaining({ code: 'revoked' }));
    device.applyRevocationList(createRevocationList({ audience: 'd', sequence: 2, fullSet: [], issuedBefore: now - 200 }, as));
    expect(() => device.authzInfo({ token: old })).toThrow(expect.objectContaining({ code: 'revoked' }));
    // A token without iat is dead under any floor.
    const noIat = createCwt({ iss: ISSUER, aud: 'd', exp: now + 600, cnf: { coseKey: publicCoseKey(key) }, scope: [['/r', 1]] }, as);
    expect(() => device.authzInfo({ token: noIat })).toThrow(expect.objectContaining({ code: 'revoked' }));
  });
});
