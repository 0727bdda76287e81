/**
 * Adversarial review: the device remembers the jti of every iat-fresh PoP proof for its window
 * (device/replay-cache.ts), in a bounded table that refuses new proofs when full (`busy`). The
 * attack (issue 9 finding 9, at the device instead of the broker): one client with one token and
 * its key sends a burst of iat proofs with fresh jtis; the table fills and every other client's
 * iat proof is refused for the next two minutes. One client must hold only a share of the table.
 * Real service over HTTP with SQLite on disk, a device runtime on file storage.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { utf8, type CoseKey } from '../cose/index.js';
import {
  buildPopRequest,
  createResourceServer,
  decodeResponseBody,
  DEFAULT_REPLAY_CACHE_ENTRIES,
  serveRequest,
  trustStoreFromBundle,
  type ResourceServer,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { ed25519Key } from './support/device-issuer.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

describe('one client cannot fill the jti table of a device with its proofs', () => {
  const now = 1_800_000_000;
  let service: DeviceService;
  const keys: Record<string, CoseKey> = { mallory: ed25519Key('mallory-pop'), ekg: ed25519Key('ekg-pop') };

  beforeAll(async () => {
    service = await startDeviceService({ audience: 'tube', clients: Object.keys(keys), lifetime: 3600, clock: () => now });
  });
  afterAll(() => service.close());

  /** A request proven by iat + a fresh jti; the token by its hash once the device holds it. */
  const ask = (dev: ResourceServer, token: Uint8Array, client: string, includeToken = false) =>
    decodeResponseBody(serveRequest(dev, buildPopRequest({ token, popKey: keys[client]!, audience: 'tube', request: GET_RESULT, includeToken, now })));

  it('a burst of iat proofs under one key is held to its share; another client still proves by iat', async () => {
    const dev = createResourceServer({ trust: trustStoreFromBundle(service.bundle, now), storage: fileStorage(join(service.dir, 'tube')), clock: () => now, handler: () => ({ code: 205, payload: utf8('42') }) });
    const mallory = (await service.issue('mallory', keys.mallory)).accessToken;
    const ekg = (await service.issue('ekg', keys.ekg)).accessToken;
    expect(ask(dev, mallory, 'mallory', true).code).toBe(205);
    expect(ask(dev, ekg, 'ekg', true).code).toBe(205);
    const answers = Array.from({ length: DEFAULT_REPLAY_CACHE_ENTRIES }, () => ask(dev, mallory, 'mallory'));
    const refused = answers.filter((a) => a.code !== 205);
    expect(refused.length).toBeGreaterThan(0);
    for (const a of refused) expect(a.error).toBe('busy');
    expect(ask(dev, ekg, 'ekg').code).toBe(205);
  });
});
