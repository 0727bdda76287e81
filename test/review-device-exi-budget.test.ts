/**
 * Adversarial review: the device's record of live clock-less tokens (device/exi-tracker.ts) is a
 * fixed table (RFC 9200 §5.10.3 asks the RS to remember every exi token it accepted, so that none
 * restarts its exi by being posted again). The attack: one client, with tokens it is entitled to,
 * posts enough of them to fill the table; every other client's clock-less token is then refused
 * for as long as the attacker's tokens live. Real service over HTTP with SQLite on disk, a device
 * runtime on file storage, rebooted over the same directory.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { utf8, type CoseKey } from '../cose/index.js';
import {
  buildPopRequest,
  createResourceServer,
  decodeResponseBody,
  MAX_LIVE_EXI_TOKENS,
  serveRequest,
  trustStoreFromBundle,
  type DeviceStorage,
  type ResourceServer,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { ed25519Key } from './support/device-issuer.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

describe('one client cannot fill the live exi table of a clock-less device', () => {
  const serviceNow = 1_800_000_000;
  let deviceNow = 1_000;
  let service: DeviceService;
  const keys: Record<string, CoseKey> = { mallory: ed25519Key('mallory-pop'), ekg: ed25519Key('ekg-pop') };

  beforeAll(async () => {
    service = await startDeviceService({ audience: 'tube', clients: Object.keys(keys), lifetime: 3600, clockless: true, clock: () => serviceNow });
  });
  afterAll(() => service.close());

  const tube = (storage: DeviceStorage): ResourceServer =>
    createResourceServer({ trust: trustStoreFromBundle(service.bundle, serviceNow), storage, clock: () => deviceNow, handler: () => ({ code: 205, payload: utf8('42') }) });
  /** A fresh token of `client`, used at once (DPoP style: the token rides along with the proof). */
  const use = async (dev: ResourceServer, client: string) => {
    const { accessToken } = await service.issue(client, keys[client]);
    return decodeResponseBody(serveRequest(dev, buildPopRequest({ token: accessToken, popKey: keys[client]!, audience: 'tube', request: GET_RESULT, includeToken: true, nonce: dev.issueNonce() })));
  };

  it('a client posting its own tokens gets a share of the table; another client is still served, before and after a reboot', async () => {
    const storageDir = join(service.dir, 'tube');
    const dev = tube(fileStorage(storageDir));
    const served: number[] = [];
    for (let i = 0; i < MAX_LIVE_EXI_TOKENS; i++) {
      deviceNow += 1;
      const answer = await use(dev, 'mallory');
      served.push(answer.code);
      if (answer.code !== 205) expect(answer.error).toBe('token_store_full');
    }
    deviceNow += 1;
    expect((await use(dev, 'ekg')).code).toBe(205);
    // The attacker is held to its share, well short of the whole table.
    expect(served.filter((c) => c === 205).length).toBeLessThan(MAX_LIVE_EXI_TOKENS / 2);
    expect(served.filter((c) => c === 205).length).toBeGreaterThan(0);

    const rebooted = tube(fileStorage(storageDir));
    deviceNow += 1;
    expect((await use(rebooted, 'mallory')).error).toBe('token_store_full');
    expect((await use(rebooted, 'ekg')).code).toBe(205);
  });
});
