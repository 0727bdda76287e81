/**
 * Adversarial review of the exi floor (issue 9, finding 2) as deployed: the real service over
 * HTTP with SQLite on disk, its admin API, and a real clock-less device runtime.
 *
 * The attack: a revoked exi token is listed on /trl only until issue + exi by the service's clock;
 * after that the signed exi floor must keep it dead, since the device counts exi from its own first
 * receipt. When the operator re-registers the audience without `clockless` (it moved to exp
 * tokens, say), the service stopped sending the floor at all, so the revoked exi token fell off
 * the list with nothing to replace it, and a device that had not yet met it served it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, encodeCbor, fromBase64Url, publicCoseKey, toBase64Url } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { buildPopRequest, createResourceServer, decodeResponseBody, memoryStorage, serveRequest, trustStoreFromBundle, type ResourceServer } from '../device/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { ed25519Key, ISSUER } from './support/device-issuer.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const EXI = 300;
const ADMIN = 'review-admin-token-long-enough';

describe('the exi floor outlives a re-registration without clockless (review)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'review-exi-'));
  let serviceNow = 1_800_000_000;
  const deviceNow = 1_000;
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
    server = await createAuthzServer({ store, dataDir: dir, clock: () => serviceNow, issuer: ISSUER, adminToken: ADMIN });
    base = (await server.listen(0)).url;
    bundle = await provisionDevice(store, server.keys, { deviceId: 'tube', issuer: ISSUER, now: serviceNow });
  });
  afterAll(async () => {
    await server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tube = (): ResourceServer =>
    createResourceServer({ trust: trustStoreFromBundle(bundle, serviceNow), storage: memoryStorage(), clock: () => deviceNow, handler: () => ({ code: 205, payload: new TextEncoder().encode('42') }) });
  const use = (dev: ResourceServer, token: Uint8Array) =>
    decodeResponseBody(serveRequest(dev, buildPopRequest({ token, popKey: holder, audience: 'tube', request: GET_RESULT, includeToken: true, nonce: dev.issueNonce() })));
  const trl = async () => new Uint8Array(await (await fetch(`${base}/trl/tube`)).arrayBuffer());

  it('a revoked exi token stays refused after the audience is re-registered without clockless', async () => {
    const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'tube', scope: [['/result', 1]], req_cnf: reqCnf }, 'json', app);
    expect(r.status, JSON.stringify(r.data)).toBe(200);
    const token = fromBase64Url(r.data.access_token as string);
    const fresh = tube();
    expect(use(fresh, token).code).toBe(205); // positive: the token works before revocation
    const revoked = await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { ...app, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: Buffer.from(token).toString('base64url') }),
    });
    expect(revoked.status).toBe(200);
    const listed = tube();
    listed.applyRevocationList(await trl());
    expect(use(listed, token).error).toBe('revoked');

    // The operator moves the device to exp tokens through the admin API.
    const re = await fetch(`${base}/admin/audiences`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'tube', clockless: false }),
    });
    expect(re.status).toBe(201);
    // Past issue + exi by the service's clock; a device that meets the token now counts its exi
    // from now, and learns what is revoked only from the list it is sent.
    serviceNow += EXI + 1;
    const late = tube();
    late.applyRevocationList(await trl());
    expect(use(late, token).code).not.toBe(205);
  });
});
