/**
 * Adversarial review: the device's token store (device/token-store.ts) keeps verified tokens in a
 * byte budget, and a newcomer displaces the entries that expire before it. The attack: a client
 * entitled to tokens for the device asks the real service for fresh ones (each expires a little
 * later than any other client's) and posts them; every other client's token is pushed out and, on
 * its next request, refused as not fitting: token_store_full for as long as the attacker keeps
 * posting. One client must hold only a share of the store.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, encodeCbor, fromBase64Url, publicCoseKey, toBase64Url, utf8, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { buildPopRequest, createResourceServer, decodeResponseBody, memoryStorage, serveRequest, trustStoreFromBundle, type ResourceServer } from '../device/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { ed25519Key, ISSUER } from './support/device-issuer.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const SCOPE = '[["/result",1]]';

describe('one client cannot push every other client out of the token store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'review-token-budget-'));
  let now = 1_800_000_000;
  let store: SqliteStore;
  let server: AuthzServer;
  let base = '';
  let bundle: Awaited<ReturnType<typeof provisionDevice>>;
  const clients = { mallory: ed25519Key('mallory-pop'), ekg: ed25519Key('ekg-pop') };

  beforeAll(async () => {
    store = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'tube', scopes: [SCOPE], lifetime: 3600 });
    for (const id of Object.keys(clients)) {
      await registerClient(store, { id, secret: `${id}-secret-that-is-long-enough`, audiences: ['tube'], scopes: [SCOPE], grantTypes: ['client_credentials'] });
    }
    server = await createAuthzServer({ store, dataDir: dir, clock: () => now, issuer: ISSUER });
    base = (await server.listen(0)).url;
    bundle = await provisionDevice(store, server.keys, { deviceId: 'tube', issuer: ISSUER, now });
  });
  afterAll(async () => {
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const issue = async (id: keyof typeof clients): Promise<Uint8Array> => {
    const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(clients[id]))]])));
    const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'tube', scope: [['/result', 1]], req_cnf: reqCnf }, 'json', {
      authorization: basic(id, `${id}-secret-that-is-long-enough`),
    });
    expect(r.status, JSON.stringify(r.data)).toBe(200);
    return fromBase64Url(r.data.access_token as string);
  };
  const use = (dev: ResourceServer, token: Uint8Array, popKey: CoseKey) =>
    decodeResponseBody(serveRequest(dev, buildPopRequest({ token, popKey, audience: 'tube', request: GET_RESULT, includeToken: true, nonce: dev.issueNonce() })));

  it('a client posting fresh tokens of its own is held to its share; another client keeps being served', async () => {
    const dev = createResourceServer({ trust: trustStoreFromBundle(bundle, now), storage: memoryStorage(), clock: () => now, handler: () => ({ code: 205, payload: utf8('42') }) });
    const ekg = await issue('ekg');
    expect(use(dev, ekg, clients.ekg).code).toBe(205);
    let held = 0;
    for (let i = 0; i < 24; i++) {
      now += 1; // each of the attacker's tokens expires a second after the one before
      const answer = use(dev, await issue('mallory'), clients.mallory);
      if (answer.code === 205) held++;
    }
    expect(held).toBeGreaterThan(0);
    // The victim's token, held before the flood, is still served (DPoP style: the token rides along).
    expect(use(dev, ekg, clients.ekg).code).toBe(205);
    // The attacker keeps using its tokens within its share.
    expect(use(dev, await issue('mallory'), clients.mallory).code).toBe(205);
  });
});
