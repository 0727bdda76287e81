import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coseKeyFromMap, coseKeyToMap, decodeCbor, encodeCbor, publicCoseKey, toBase64Url, utf8, type CborMap, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { closedWithin, connect, inbox, password, refusal } from './support/broker-fixture.js';

// The broker as a resource server of the real authorization service, over HTTP only: by-value
// tokens verified with the service's /keys, reference tokens introspected (and cached), and the
// service's revocation list applied.
const dir = mkdtempSync(join(tmpdir(), 'kb-broker-authz-'));
const MQTT_SCOPE = [['sensors/#', ['pub', 'sub']]];
let store: SqliteStore;
let as: AuthzServer;
let asUrl: string;
let byValue: KeyboundBroker;
let byRef: KeyboundBroker;
let urlValue: string;
let urlRef: string;
let introspections = 0;
const popKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d, kid: utf8('app-pop') };
})();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function getToken(audience: string): Promise<Uint8Array> {
  const body = new Map<number, unknown>([
    [33, 2],
    [5, audience],
    [9, MQTT_SCOPE],
    [4, new Map([[1, coseKeyToMap(publicCoseKey(popKey))]])],
  ]);
  const res = await fetch(`${asUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/ace+cbor', authorization: basic('app', 'app-secret') },
    body: encodeCbor(body as CborMap),
  });
  const answer = decodeCbor(new Uint8Array(await res.arrayBuffer())) as CborMap;
  if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${String(answer.get(30))}`);
  return answer.get(1) as Uint8Array;
}

/** RFC 7009 revocation at the service, as the token's client. */
function revoke(token: Uint8Array): Promise<Response> {
  return fetch(`${asUrl}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('app', 'app-secret') },
    body: new URLSearchParams({ token: toBase64Url(token) }).toString(),
  });
}

async function serviceKeys(): Promise<CoseKey[]> {
  return (decodeCbor(new Uint8Array(await (await fetch(`${asUrl}/keys`)).arrayBuffer())) as unknown[]).map((k) => coseKeyFromMap(k as CborMap));
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'broker-v', scopes: [MQTT_SCOPE as never] });
  await registerAudience(store, nativeProvider, { id: 'broker-r', referenceTokens: true, scopes: [MQTT_SCOPE as never] });
  await registerAudience(store, nativeProvider, { id: 'broker-p', scopes: [MQTT_SCOPE as never] });
  await registerClient(store, { id: 'broker-p-rs', secret: 'rs-secret', audiences: ['broker-p'], grantTypes: [] });
  await registerClient(store, { id: 'app', secret: 'app-secret', audiences: ['broker-v', 'broker-r', 'broker-p'], scopes: [MQTT_SCOPE as never], grantTypes: ['client_credentials'] });
  await registerClient(store, { id: 'broker-r-rs', secret: 'rs-secret', audiences: ['broker-r'], grantTypes: [] });
  as = await createAuthzServer({
    store,
    dataDir: dir,
    onRevocationList: (audience, list) => {
      if (audience === 'broker-v') void byValue.publishRevocationList(audience, list);
    },
  });
  asUrl = (await as.listen(0)).url;
  // The broker learns the service's keys as any resource server would: GET /keys (a COSE_KeySet).
  const keys = await serviceKeys();
  byValue = await createBroker({ audience: 'broker-v', trust: keys });
  urlValue = (await byValue.listen(0)).url;
  byRef = await createBroker({ audience: 'broker-r', trust: keys, authzUrl: asUrl, introspection: { clientId: 'broker-r-rs', clientSecret: 'rs-secret' } });
  urlRef = (await byRef.listen(0)).url;
  // Count introspection calls the honest way: on the service's own socket.
  as.http.on('request', (req) => {
    if (req.url === '/introspect') introspections++;
  });
});

afterAll(async () => {
  await Promise.all([byValue?.close(), byRef?.close()]);
  await as?.close();
  store?.close();
});

describe('revocation lists fetched from the service (a broker started from the CLI has no in-process hook)', () => {
  it('learns the current list at start and polls for new ones', async () => {
    const revokedEarly = await getToken('broker-p');
    await revoke(revokedEarly);
    const polled = await createBroker({ audience: 'broker-p', trust: await serviceKeys(), authzUrl: asUrl, introspection: { clientId: 'broker-p-rs', clientSecret: 'rs-secret' }, trlPollS: 0.5 });
    try {
      expect(polled.stats.revoked).toBe(1);
      const url = (await polled.listen(0)).url;
      expect(await refusal(connect(url, 'app-p0', password(revokedEarly, popKey, 'app-p0', 'broker-p')))).toBe(5);
      const token = await getToken('broker-p');
      const c = await connect(url, 'app-p1', password(token, popKey, 'app-p1', 'broker-p'));
      const res = await revoke(token);
      expect(res.status).toBe(200);
      expect(await closedWithin(c, 3000)).toBe(true);
      expect(polled.stats.revoked).toBe(2);
    } finally {
      await polled.close();
    }
  });
  it('abandons a list answer past its size bound even when it declares no length (chunked)', async () => {
    const { createServer } = await import('node:http');
    const { fetchRevocationList, MAX_TRL_FETCH_BYTES } = await import('../broker/index.js');
    let sent = 0;
    const hostile = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/cose' }); // no content-length: chunked
      const chunk = Buffer.alloc(16 * 1024, 0xa0);
      const pump = () => {
        while (sent < 64 * MAX_TRL_FETCH_BYTES && res.write(chunk)) sent += chunk.length;
        if (sent < 64 * MAX_TRL_FETCH_BYTES) res.once('drain', pump);
        else res.end();
      };
      res.on('error', () => undefined);
      pump();
    });
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', r));
    const log: string[] = [];
    try {
      const { port } = hostile.address() as { port: number };
      expect(await fetchRevocationList({ authzUrl: `http://127.0.0.1:${port}`, audience: 'broker-p', log: (l) => log.push(l) })).toBeUndefined();
      expect(log.join('\n')).toContain('answer too large');
      expect(sent).toBeLessThan(64 * MAX_TRL_FETCH_BYTES); // it stopped reading long before the end
    } finally {
      hostile.closeAllConnections();
      await new Promise<void>((r) => hostile.close(() => r()));
    }
  });
  it('introspection reads its answer with the same bound (a chunked flood is refused, not buffered)', async () => {
    const { createServer } = await import('node:http');
    const { httpIntrospection, MAX_INTROSPECTION_BYTES } = await import('../broker/index.js');
    const hostile = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/ace+cbor' });
      res.on('error', () => undefined);
      const chunk = Buffer.alloc(8 * 1024, 0xa0);
      for (let i = 0; i < (4 * MAX_INTROSPECTION_BYTES) / chunk.length; i++) res.write(chunk);
      res.end();
    });
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', r));
    try {
      const { port } = hostile.address() as { port: number };
      const introspect = httpIntrospection(`http://127.0.0.1:${port}`, { clientId: 'rs', clientSecret: 'x' });
      await expect(introspect(new Uint8Array(32))).rejects.toMatchObject({ code: 'introspection_failed', message: expect.stringContaining('too large') });
    } finally {
      hostile.closeAllConnections();
      await new Promise<void>((r) => hostile.close(() => r()));
    }
  });
  it('refuses a negative poll interval', async () => {
    await expect(createBroker({ audience: 'broker-p', trust: await serviceKeys(), authzUrl: asUrl, trlPollS: -1 })).rejects.toThrow(/trlPollS/);
  });
});

describe('tokens from the real authorization service', () => {
  it('admits a by-value CWT with its proof and routes within the AIF-MQTT scope', async () => {
    const token = await getToken('broker-v');
    const c = await connect(urlValue, 'app-1', password(token, popKey, 'app-1', 'broker-v'));
    const box = inbox(c);
    await c.subscribeAsync('sensors/#', { qos: 1 });
    await c.publishAsync('sensors/x', 'v', { qos: 1 });
    expect((await box.next(1)).length).toBe(1);
    await c.endAsync();
  });

  it('introspects a reference token once and then serves reconnects from the cache (phantom token)', async () => {
    const token = await getToken('broker-r');
    expect(token.length).toBe(32);
    const before = introspections;
    for (let i = 0; i < 3; i++) await (await connect(urlRef, 'app-ref', password(token, popKey, 'app-ref', 'broker-r'))).endAsync();
    expect(introspections - before).toBe(1);
  });

  it('refuses an unknown reference token (inactive) with CONNACK 4, and a reference token without its key', async () => {
    expect(await refusal(connect(urlRef, 'app-x', password(nativeProvider.randomBytes(32), popKey, 'app-x', 'broker-r')))).toBe(4);
    const token = await getToken('broker-r');
    const other: CoseKey = { ...popKey, d: nativeProvider.generateKeyPair('Ed25519').d };
    expect(await refusal(connect(urlRef, 'app-y', password(token, other, 'app-y', 'broker-r')))).toBe(4);
  });

  it('disconnects a client when the service revokes its token, through the signed list', async () => {
    const token = await getToken('broker-v');
    const c = await connect(urlValue, 'app-2', password(token, popKey, 'app-2', 'broker-v'));
    const res = await revoke(token);
    expect(res.status).toBe(200);
    expect(await closedWithin(c, 3000)).toBe(true);
    expect(await refusal(connect(urlValue, 'app-2', password(token, popKey, 'app-2', 'broker-v')))).toBe(5);
  });
});
