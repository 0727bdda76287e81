/**
 * Adversarial review: the device's token store (device/token-store.ts) keeps verified tokens in a
 * byte budget, and a newcomer displaces the entries that expire before it. The attack: a client
 * entitled to tokens for the device asks the real service for fresh ones (each expires a little
 * later than any other client's) and posts them; every other client's token is pushed out and, on
 * its next request, refused as not fitting: token_store_full for as long as the attacker keeps
 * posting. One client must hold only a share of the store.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { utf8, type CoseKey } from '../cose/index.js';
import { buildPopRequest, createResourceServer, decodeResponseBody, memoryStorage, serveRequest, trustStoreFromBundle, type ResourceServer } from '../device/index.js';
import { ed25519Key } from './support/device-issuer.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

describe('one client cannot push every other client out of the token store', () => {
  let now = 1_800_000_000;
  let service: DeviceService;
  const keys: Record<string, CoseKey> = { mallory: ed25519Key('mallory-pop'), ekg: ed25519Key('ekg-pop') };

  beforeAll(async () => {
    service = await startDeviceService({ audience: 'tube', clients: Object.keys(keys), lifetime: 3600, clock: () => now });
  });
  afterAll(() => service.close());

  const use = (dev: ResourceServer, token: Uint8Array, client: string) =>
    decodeResponseBody(serveRequest(dev, buildPopRequest({ token, popKey: keys[client]!, audience: 'tube', request: GET_RESULT, includeToken: true, nonce: dev.issueNonce() })));
  const fresh = async (client: string) => (await service.issue(client, keys[client])).accessToken;

  it('a client posting fresh tokens of its own is held to its share; another client keeps being served', async () => {
    const dev = createResourceServer({ trust: trustStoreFromBundle(service.bundle, now), storage: memoryStorage(), clock: () => now, handler: () => ({ code: 205, payload: utf8('42') }) });
    const ekg = await fresh('ekg');
    expect(use(dev, ekg, 'ekg').code).toBe(205);
    let held = 0;
    for (let i = 0; i < 24; i++) {
      now += 1; // each of the attacker's tokens expires a second after the one before
      if (use(dev, await fresh('mallory'), 'mallory').code === 205) held++;
    }
    expect(held).toBeGreaterThan(0);
    // The victim's token, held before the flood, is still served (DPoP style: the token rides along).
    expect(use(dev, ekg, 'ekg').code).toBe(205);
    // The attacker keeps using its tokens within its share.
    expect(use(dev, await fresh('mallory'), 'mallory').code).toBe(205);
  });
});
