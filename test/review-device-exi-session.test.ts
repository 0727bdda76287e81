/**
 * Adversarial review of the exi floor (issue 9, finding 2) against OSCORE contexts (RFC 9203
 * /authz-info exchanges; they replaced the home-made protected sessions, issue 12): a context set
 * up with a clock-less token must not outlive what refuses that token. The service
 * drops a revoked exi token from its list once the signed exi floor covers it; from then on only
 * the floor refuses it. The attack: hold a session on such a token across a reboot (or past the
 * token's eviction from the RAM store) and keep using it after the floor has risen over it.
 * Real service over HTTP with SQLite on disk, a device runtime on file storage rebooted over the
 * same directory.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { decodeCoapMessage, utf8 } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  beginOscoreClient,
  createResourceServer,
  serveAuthzInfo,
  serveRequest,
  trustStoreFromBundle,
  memoryStorage,
  type DeviceResponseBody,
  type DeviceStorage,
  type OscoreClient,
  type ResourceServer,
  type TokenResponse,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const EXI = 300;

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
  /** The RFC 9203 exchange with the sealed PoP key as Master Secret; the CoAP code of a refusal. */
  const post = (dev: ResourceServer, t: TokenResponse): { client?: OscoreClient; code: number } => {
    const start = beginOscoreClient(t.accessToken, { id: t.popKey!.kid!, ms: t.popKey!.k! }, nativeProvider);
    const answer = serveAuthzInfo(dev, start.message);
    const code = decodeCoapMessage(answer).code;
    return code === 0x41 ? { client: start.finish(answer), code: 201 } : { code: (code >> 5) * 100 + (code & 0x1f) };
  };
  const open = (dev: ResourceServer, t: TokenResponse): OscoreClient => post(dev, t).client!;
  /** An OSCORE request; a device that forgot the context answers unprotected 4.01. */
  const ask = (dev: ResourceServer, s: OscoreClient): DeviceResponseBody => {
    const { message, binding } = s.request(GET_RESULT);
    return s.response(serveRequest(dev, message), binding);
  };
  /** Revokes `t`, lets the service's clock pass issue + exi, and has it list an unrelated revocation. */
  async function floorOver(t: TokenResponse): Promise<Uint8Array> {
    await service.revoke('ekg', t.accessToken);
    serviceNow += EXI + 1;
    const unrelated = await issue();
    await service.revoke('ekg', unrelated.accessToken);
    return service.trl();
  }

  it('after a reboot onto its storage, a device refuses a context, and a re-post, of an exi token the floor covers', async () => {
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
    // Contexts live in RAM: the rebooted device knows none, and the stolen token cannot make a new one.
    const after = ask(rebooted, session);
    expect(after).toMatchObject({ code: 401, error: 'Security context not found' });
    expect(post(rebooted, stolen).code).toBe(401);
    // A token issued after the lapsed ones still sets up a context that works.
    const fresh = await issue();
    expect(ask(rebooted, open(rebooted, fresh)).code).toBe(205);
  });

  it('without a reboot, a context whose token left the RAM store is refused once the floor covers it', async () => {
    // A budget of one token: the next token posted pushes the first one out of the RAM store.
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
    // The context died with its token's place in the store (RFC 9203 §4.1: the client re-posts);
    // re-posting the token the floor covers is refused.
    const after = ask(dev, session);
    expect(after).toMatchObject({ code: 401, authenticated: false });
    expect(post(dev, first).code).toBe(401);
  });
});
