/**
 * The real authorization service and the real device runtime, with nothing between them but
 * loopback HTTP and a provisioning bundle: a token the service issues is verified by the device
 * with only what it was provisioned with (issue 4 "Must show"), and the proof of possession,
 * protected sessions and revocation work across the two.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLIENT_ASSERTION_TYPE,
  createClientAssertion,
  encodeProvisioningBundle,
  publicCoseKey,
  utf8,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  beginSession,
  buildPopRequest,
  createResourceServer,
  decodeResponseBody,
  loadProvisioningBundle,
  memoryStorage,
  requestToken,
  serveAuthzInfo,
  serveRequest,
  type ResourceServer,
  type TokenTransport,
} from '../device/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-'));
let now = 1_800_000_000;
const clock = () => now;
let store: SqliteStore;
let server: AuthzServer;
let base = '';

const ekgKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8('ekg-key') };
})();

const transport: TokenTransport = async (body) => {
  const res = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body });
  return new Uint8Array(await res.arrayBuffer());
};

const assertion = () => createClientAssertion({ clientId: 'ekg-abc', audience: base, key: ekgKey, now, provider: nativeProvider });

async function device(id: string): Promise<ResourceServer> {
  const bundle = await provisionDevice(store, server.keys, { deviceId: id, issuer: base, now });
  return createResourceServer({
    trust: loadProvisioningBundle(encodeProvisioningBundle(bundle), now),
    storage: memoryStorage(),
    clock,
    handler: (req) => ({ code: 205, payload: utf8(`${req.method} ${req.resource}`) }),
  });
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  server = await createAuthzServer({ store, dataDir: dir, clock });
  base = (await server.listen(0)).url;
  await registerAudience(store, nativeProvider, { id: 'tube-123', scopes: ['[["/result",1]]'] });
  await registerAudience(store, nativeProvider, { id: 'tube-mac', protection: 'mac0', scopes: ['[["/result",1]]'] });
  await registerAudience(store, nativeProvider, { id: 'tube-enc', protection: 'encrypt0', scopes: ['[["/result",1]]'] });
  await registerClient(store, { id: 'ekg-abc', publicKey: publicCoseKey(ekgKey), audiences: ['tube-123', 'tube-mac', 'tube-enc'], scopes: ['[["/result",1]]'], grantTypes: ['client_credentials'] });
});

afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

describe('service-issued tokens on a provisioned device', () => {
  it('asymmetric PoP: the key holder is served, a thief with the same token is not', async () => {
    const tube = await device('tube-123');
    const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: 'tube-123', scope: [['/result', 1]], popKey: ekgKey });
    const ok = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(ok)).toMatchObject({ code: 205 });
    const thief = { ...ekgKey, ...(() => { const p = nativeProvider.generateKeyPair('Ed25519'); return { x: p.x, d: p.d }; })() };
    const stolen = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: thief, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(stolen)).toMatchObject({ code: 401, error: 'bad_proof' });
    // A request outside the granted AIF scope (PUT) is refused even with the key.
    const put = { ...get, method: 'PUT' };
    const wide = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: put, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(wide).error).toBe('insufficient_scope');
  });

  for (const id of ['tube-123', 'tube-mac', 'tube-enc']) {
    it(`symmetric PoP (${id}): the service seals a PoP key for the device, and a protected session runs`, async () => {
      const tube = await device(id);
      const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: id, scope: [['/result', 1]] });
      expect(res.popKey?.kty).toBe('Symmetric');
      const start = beginSession(res.accessToken, res.popKey!, memoryStorage());
      const session = start.finish(serveAuthzInfo(tube, start.body));
      const { message, requestPiv } = session.request(get);
      const answer = session.response(serveRequest(tube, message), requestPiv);
      expect(answer.code).toBe(205);
      // The same token without the PoP key gets nowhere: a session needs the key to derive anything.
      const wrongKey: CoseKey = { kty: 'Symmetric', k: new Uint8Array(32) };
      const thief = beginSession(res.accessToken, wrongKey, memoryStorage());
      const t = thief.finish(serveAuthzInfo(tube, thief.body));
      const forged = t.request(get);
      expect(() => t.response(serveRequest(tube, forged.message), forged.requestPiv)).toThrow();
    });
  }

  it('a token the service revokes is refused once the device applies the signed list', async () => {
    const tube = await device('tube-123');
    const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: 'tube-123', scope: [['/result', 1]], popKey: ekgKey });
    const ask = () => serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
    expect(decodeResponseBody(ask()).code).toBe(205);
    const body = new URLSearchParams({ token: Buffer.from(res.accessToken).toString('base64url'), client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: Buffer.from(assertion()).toString('base64url') });
    const revoked = await fetch(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(revoked.status).toBe(200);
    const trl = new Uint8Array(await (await fetch(`${base}/trl/tube-123`)).arrayBuffer());
    expect(tube.applyRevocationList(trl)).toBe(1);
    expect(decodeResponseBody(ask()).error).toBe('revoked');
  });

  it('an expired service token is refused by the device', async () => {
    const tube = await device('tube-123');
    const res = await requestToken(transport, { grant: 'client_credentials', auth: { clientId: 'ekg-abc', assertion: assertion() }, audience: 'tube-123', scope: [['/result', 1]], popKey: ekgKey });
    now += (res.expiresIn ?? 3600) + 120;
    try {
      const late = serveRequest(tube, buildPopRequest({ token: res.accessToken, popKey: ekgKey, audience: 'tube-123', request: get, includeToken: true, nonce: tube.issueNonce() }));
      expect(decodeResponseBody(late).error).toBe('expired');
    } finally {
      now -= (res.expiresIn ?? 3600) + 120;
    }
  });
});
