/**
 * Adversarial review of the exi floor (issue 9, finding 2) in a scaled-out service: two instances
 * on one SQLite file, a real clock-less device runtime.
 *
 * The race: an instance issuing an exi token took the next exi sequence number (committed), then
 * signed the token, then recorded it (a second commit). A /trl answered by the other instance in
 * between saw no live exi token and took the audience's counter as the floor: the sequence number
 * of the token being issued. The device raises its floor to that, for good, and so refuses the
 * fresh, unrevoked token it is then handed. A revocation anywhere publishes a list, so under load
 * this poisons tokens as they are issued. The instance's signer is wrapped only to choose the
 * moment: while it signs, the other instance computes its list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, encodeCbor, fromBase64Url, publicCoseKey, toBase64Url, type CryptoProvider } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { buildPopRequest, createResourceServer, decodeResponseBody, memoryStorage, serveRequest, trustStoreFromBundle, type ResourceServer } from '../device/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post } from './support/authz-client.js';
import { ed25519Key, ISSUER } from './support/device-issuer.js';

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
const dir = mkdtempSync(join(tmpdir(), 'review-exi-race-'));
const serviceNow = 1_800_000_000;
const app = { authorization: basic('ekg', 'ekg-secret-that-is-long-enough') };
const holder = ed25519Key('ekg-pop');
const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(holder))]])));
const stores: SqliteStore[] = [];
const servers: AuthzServer[] = [];
let base = '';
let bundle: Awaited<ReturnType<typeof provisionDevice>>;

/** Set while instance A signs: what instance B publishes at that moment. */
let duringSign: (() => void) | undefined;
const signingA: CryptoProvider = Object.assign(Object.create(nativeProvider) as CryptoProvider, {
  sign(...args: Parameters<CryptoProvider['sign']>) {
    duringSign?.();
    return nativeProvider.sign(...args);
  },
});

beforeAll(async () => {
  for (let i = 0; i < 2; i++) stores.push(new SqliteStore(join(dir, 'authz.sqlite')));
  await registerAudience(stores[0]!, nativeProvider, { id: 'tube', scopes: ['[["/result",1]]'], clockless: true, lifetime: 300 });
  await registerClient(stores[0]!, { id: 'ekg', secret: 'ekg-secret-that-is-long-enough', audiences: ['tube'], scopes: ['[["/result",1]]'], grantTypes: ['client_credentials'] });
  servers.push(await createAuthzServer({ store: stores[0]!, dataDir: dir, clock: () => serviceNow, issuer: ISSUER, provider: signingA }));
  servers.push(await createAuthzServer({ store: stores[1]!, dataDir: dir, clock: () => serviceNow, issuer: ISSUER }));
  base = (await servers[0]!.listen(0)).url;
  bundle = await provisionDevice(stores[0]!, servers[0]!.keys, { deviceId: 'tube', issuer: ISSUER, now: serviceNow });
});
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const s of stores) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const tube = (): ResourceServer =>
  createResourceServer({ trust: trustStoreFromBundle(bundle, serviceNow), storage: memoryStorage(), clock: () => 1_000, handler: () => ({ code: 205, payload: new TextEncoder().encode('42') }) });
const use = (dev: ResourceServer, token: Uint8Array) =>
  decodeResponseBody(serveRequest(dev, buildPopRequest({ token, popKey: holder, audience: 'tube', request: GET_RESULT, includeToken: true, nonce: dev.issueNonce() })));

describe('a list published while another instance issues an exi token spares that token (review)', () => {
  it('the device accepts a fresh exi token after applying the list computed mid-issuance', async () => {
    let listB: Promise<Uint8Array> | undefined;
    // B's revocationList reads the store synchronously when called: the snapshot is of this moment.
    duringSign = () => {
      listB ??= servers[1]!.revocationList('tube');
    };
    const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'tube', scope: [['/result', 1]], req_cnf: reqCnf }, 'json', app);
    duringSign = undefined;
    expect(r.status, JSON.stringify(r.data)).toBe(200);
    expect(listB).toBeDefined();
    const token = fromBase64Url(r.data.access_token as string);

    const dev = tube();
    dev.applyRevocationList(await listB!);
    expect(use(dev, token).code).toBe(205);
    // Negative: once revoked, the list from either instance refuses it.
    const revoked = await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { ...app, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: Buffer.from(token).toString('base64url') }),
    });
    expect(revoked.status).toBe(200);
    dev.applyRevocationList(await servers[1]!.revocationList('tube'));
    expect(use(dev, token).code).not.toBe(205);
  });
});
