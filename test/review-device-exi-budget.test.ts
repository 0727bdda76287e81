/**
 * Adversarial review: the device's record of live clock-less tokens (device/exi-tracker.ts) is a
 * fixed table (RFC 9200 §5.10.3 asks the RS to remember every exi token it accepted, so that none
 * restarts its exi by being posted again). The attack: one client, with tokens it is entitled to,
 * posts enough of them to fill the table; every other client's clock-less token is then refused
 * for as long as the attacker's tokens live. Real service over HTTP with SQLite on disk, a device
 * runtime on file storage, rebooted over the same directory.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, encodeCbor, fromBase64Url, publicCoseKey, toBase64Url, utf8, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
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
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { ed25519Key, ISSUER } from './support/device-issuer.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const EXI = 3600;
const SCOPE = '[["/result",1]]';

describe('one client cannot fill the live exi table of a clock-less device', () => {
  const dir = mkdtempSync(join(tmpdir(), 'review-exi-budget-'));
  const serviceNow = 1_800_000_000;
  let deviceNow = 1_000;
  let store: SqliteStore;
  let server: AuthzServer;
  let base = '';
  let bundle: Awaited<ReturnType<typeof provisionDevice>>;
  const clients = { mallory: ed25519Key('mallory-pop'), ekg: ed25519Key('ekg-pop') };

  beforeAll(async () => {
    store = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'tube', scopes: [SCOPE], clockless: true, lifetime: EXI });
    for (const id of Object.keys(clients)) {
      await registerClient(store, { id, secret: `${id}-secret-that-is-long-enough`, audiences: ['tube'], scopes: [SCOPE], grantTypes: ['client_credentials'] });
    }
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

  it('a client posting its own tokens gets a share of the table; another client is still served, before and after a reboot', async () => {
    const storageDir = join(dir, 'tube');
    const dev = tube(fileStorage(storageDir));
    const served: number[] = [];
    for (let i = 0; i < MAX_LIVE_EXI_TOKENS; i++) {
      deviceNow += 1;
      const answer = use(dev, await issue('mallory'), clients.mallory);
      served.push(answer.code);
      if (answer.code !== 205) expect(answer.error).toBe('token_store_full');
    }
    deviceNow += 1;
    expect(use(dev, await issue('ekg'), clients.ekg).code).toBe(205);
    // The attacker is held to its share, well short of the whole table.
    expect(served.filter((c) => c === 205).length).toBeLessThan(MAX_LIVE_EXI_TOKENS / 2);
    expect(served.filter((c) => c === 205).length).toBeGreaterThan(0);
    const rebooted = tube(fileStorage(storageDir));
    deviceNow += 1;
    expect(use(rebooted, await issue('mallory'), clients.mallory).error).toBe('token_store_full');
    expect(use(rebooted, await issue('ekg'), clients.ekg).code).toBe(205);
  });
});
