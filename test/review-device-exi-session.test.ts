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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tag, decodeCbor, utf8 } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  beginSession,
  createResourceServer,
  decodeResponseBody,
  serveAuthzInfo,
  serveRequest,
  requestToken,
  trustStoreFromBundle,
  memoryStorage,
  type ClientSession,
  type DeviceResponseBody,
  type DeviceStorage,
  type ResourceServer,
  type TokenResponse,
} from '../device/index.js';
import { fileStorage } from '../device/adapters/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { ISSUER } from './support/device-issuer.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const EXI = 300;
const SECRET = 'ekg-secret-that-is-long-enough';
const isProtected = (raw: Uint8Array): boolean => { const v = decodeCbor(raw); return v instanceof Tag && v.tag === 16; };

describe('a protected session on a clock-less token obeys the exi floor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'review-exi-session-'));
  let serviceNow = 1_800_000_000;
  let deviceNow = 1_000;
  let store: SqliteStore;
  let server: AuthzServer;
  let base = '';
  let bundle: Awaited<ReturnType<typeof provisionDevice>>;

  beforeAll(async () => {
    store = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'tube', scopes: ['[["/result",1]]'], clockless: true, lifetime: EXI });
    await registerClient(store, { id: 'ekg', secret: SECRET, audiences: ['tube'], scopes: ['[["/result",1]]'], grantTypes: ['client_credentials'] });
    server = await createAuthzServer({ store, dataDir: dir, clock: () => serviceNow, issuer: ISSUER });
    base = (await server.listen(0)).url;
    bundle = await provisionDevice(store, server.keys, { deviceId: 'tube', issuer: ISSUER, now: serviceNow });
  });
  afterAll(async () => {
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tube = (storage: DeviceStorage, profile = {}): ResourceServer =>
    createResourceServer({ trust: trustStoreFromBundle(bundle, serviceNow), storage, clock: () => deviceNow, handler: () => ({ code: 205, payload: utf8('42') }), profile });
  // No req_cnf: the service makes a symmetric PoP key and seals it for the tube (RFC 9201 §5).
  const issue = (): Promise<TokenResponse> =>
    requestToken(
      async (body) => new Uint8Array(await (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body })).arrayBuffer()),
      { grant: 'client_credentials', auth: { clientId: 'ekg', clientSecret: SECRET }, audience: 'tube', scope: [['/result', 1]] },
    );
  const revoke = async (token: Uint8Array) => {
    const r = await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`ekg:${SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: Buffer.from(token).toString('base64url') }),
    });
    expect(r.status).toBe(200);
  };
  const trl = async () => new Uint8Array(await (await fetch(`${base}/trl/tube`)).arrayBuffer());
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
    await revoke(t.accessToken);
    serviceNow += EXI + 1;
    const unrelated = await issue();
    await revoke(unrelated.accessToken);
    return trl();
  }

  it('after a reboot onto its storage, a device refuses a session whose exi token the floor covers', async () => {
    const storageDir = join(dir, 'tube-reboot');
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
