/**
 * Adversarial review of the exi floor (issue 9, finding 2) against protected sessions: a session
 * opened with a clock-less token lives in the device's storage and outlives a reboot. The service
 * drops a revoked exi token from its list once the signed exi floor covers it; from then on only
 * the floor refuses it. The attack: hold a session on such a token across a reboot (or past the
 * token's eviction from the RAM store) and keep using it after the floor has risen over it.
 * Real service over HTTP with SQLite on disk, a device runtime on file storage rebooted over the
 * same directory.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { Tag, decodeCbor, utf8 } from '../cose/index.js';
import {
  beginSession,
  createResourceServer,
  decodeResponseBody,
  serveAuthzInfo,
  serveRequest,
  trustStoreFromBundle,
  memoryStorage,
  type ClientSession,
  type DeviceResponseBody,
  type DeviceStorage,
  type ResourceServer,
  type TokenResponse,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const EXI = 300;
const isProtected = (raw: Uint8Array): boolean => {
  const v = decodeCbor(raw);
  return v instanceof Tag && v.tag === 16;
};

describe('a protected session on a clock-less token obeys the exi floor', () => {
  let serviceNow = 1_800_000_000;
  let deviceNow = 1_000;
  let service: DeviceService;

  beforeAll(async () => {
    service = await startDeviceService({ audience: 'tube', clients: ['ekg'], lifetime: EXI, clockless: true, clock: () => serviceNow });
  });
  afterAll(() => service.close());

  const tube = (storage: DeviceStorage, profile = {}): ResourceServer =>
    createResourceServer({ trust: trustStoreFromBundle(service.bundle, serviceNow), storage, clock: () => deviceNow, handler: () => ({ code: 205, payload: utf8('42') }), profile });
  // No req_cnf: the service makes a symmetric PoP key and seals it for the tube (RFC 9201 §5).
  const issue = () => service.issue('ekg');
  const open = (dev: ResourceServer, t: TokenResponse): ClientSession => {
    const start = beginSession(t.accessToken, t.popKey!, memoryStorage());
    return start.finish(serveAuthzInfo(dev, start.body));
  };
  /** A protected request; a device that forgot the session answers in clear (unknown_key). */
  const ask = (dev: ResourceServer, s: ClientSession): DeviceResponseBody => {
    const { message, requestPiv } = s.request(GET_RESULT);
    const raw = serveRequest(dev, message);
    return isProtected(raw) ? s.response(raw, requestPiv) : decodeResponseBody(raw);
  };
  /** Revokes `t`, lets the service's clock pass issue + exi, and has it list an unrelated revocation. */
  async function floorOver(t: TokenResponse): Promise<Uint8Array> {
    await service.revoke('ekg', t.accessToken);
    serviceNow += EXI + 1;
    const unrelated = await issue();
    await service.revoke('ekg', unrelated.accessToken);
    return service.trl();
  }

  it('after a reboot onto its storage, a device refuses a session whose exi token the floor covers', async () => {
    const storageDir = join(service.dir, 'tube-reboot');
    const dev = tube(fileStorage(storageDir));
    const stolen = await issue();
    const session = open(dev, stolen);
    expect(ask(dev, session).code).toBe(205);

    // The device reboots and sleeps through the list naming the token; the next list it gets no
    // longer names it (the floor covers it), so only the floor can refuse it.
    const list = await floorOver(stolen);
    const rebooted = tube(fileStorage(storageDir));
    rebooted.applyRevocationList(list);
    expect(rebooted.stats.exiFloor).toBeGreaterThanOrEqual(0);
    const after = ask(rebooted, session);
    expect(after.code).not.toBe(205);
    expect(after.error).toBe('expired');
    // A token issued after the lapsed ones still opens a session that works.
    const fresh = await issue();
    expect(ask(rebooted, open(rebooted, fresh)).code).toBe(205);
  });

  it('without a reboot, a session whose token left the RAM store is refused once the floor covers it', async () => {
    // A budget of one token: the next token posted pushes the first one out of the RAM store,
    // while its session stays open.
    const dev = tube(memoryStorage(), { tokenBudgetBytes: 700 });
    const first = await issue();
    const session = open(dev, first);
    expect(ask(dev, session).code).toBe(205);
    deviceNow += 1;
    serviceNow += 1;
    const later = await issue();
    open(dev, later);
    expect(dev.stats.tokens).toBe(1);

    const list = await floorOver(first);
    dev.applyRevocationList(list);
    // The list closed the session: the device no longer knows it.
    const after = ask(dev, session);
    expect(after.code).not.toBe(205);
    expect(after.error).toBe('unknown_key');
  });
});
