/**
 * RFC 9203's update of access rights, end to end in process: the real service (HTTP, SQLite on
 * disk) issues a coap_oscore token for /result; the client sets up an OSCORE context with the
 * device; it then asks for a wider token with req_cnf {kid(3): its input material id} (§3.1) and
 * gets one whose cnf is that kid and an answer without cnf (§3.2); it posts it to /authz-info under
 * the context (§4.4): 2.01, protected, no payload, and /config is served under the same context.
 * Negative: another client's material id, an id never issued, an expired or revoked original
 * (invalid_request); at the device, a token of another client's material, a fresh-material token
 * and a stolen update token posted under the wrong context or unprotected (4.01, nothing changed);
 * the old token no longer held. Over UDP against libcoap's coap-client, see test/coap-oscore.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACE_PROFILE, decodeCbor, decodeCoapMessage, toHex, tokenHash, type CborMap } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  beginOscoreClient,
  createResourceServer,
  encodeTokenRequest,
  memoryStorage,
  requestToken,
  trustStoreFromBundle,
  type OscoreClient,
  type ResourceServer,
  type TokenResponse,
} from '../device/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic } from './support/authz-client.js';
import { ISSUER } from './support/device-issuer.js';

const AUDIENCE = 'tube-rights';
const READ = [['/result', 1]];
const READ_WRITE = [['/result', 1], ['/config', 2]];
const LIFETIME = 600;
let now = 1_800_000_000;
const clock = () => now;
const dir = mkdtempSync(join(tmpdir(), 'rights-update-'));
let store: SqliteStore;
let server: AuthzServer;
let base: string;
let bundle: Awaited<ReturnType<typeof provisionDevice>>;
const secretOf = (client: string) => `${client}-secret-that-is-long-enough`;

function ask(client: string, scope: unknown, popKeyId?: Uint8Array): Promise<TokenResponse> {
  return requestToken(
    async (body) => new Uint8Array(await (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body })).arrayBuffer()),
    { grant: 'client_credentials', auth: { clientId: client, clientSecret: secretOf(client) }, audience: AUDIENCE, scope: scope as never, ...(popKeyId ? { popKeyId } : {}) },
  );
}

/** The raw answer of /token (CBOR map), for the refusals and for what the answer leaves out. */
async function askRaw(client: string, scope: unknown, popKeyId: Uint8Array): Promise<{ status: number; body: CborMap }> {
  const body = encodeTokenRequest({ grant: 'client_credentials', auth: { clientId: client, clientSecret: secretOf(client) }, audience: AUDIENCE, scope: scope as never, popKeyId });
  const r = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body });
  return { status: r.status, body: decodeCbor(new Uint8Array(await r.arrayBuffer())) as CborMap };
}

const materialOf = (t: TokenResponse) => (t.cnf as { osc: { id: Uint8Array; ms: Uint8Array } }).osc;

function device(): ResourceServer {
  return createResourceServer({
    trust: trustStoreFromBundle(bundle, now),
    storage: memoryStorage(),
    clock,
    handler: ({ method, resource }) => (resource === '/config' && method === 'POST' ? { code: 204 } : { code: 205, payload: new Uint8Array([0x42]) }),
  });
}

function connect(dev: ResourceServer, t: TokenResponse): OscoreClient {
  const start = beginOscoreClient(t.accessToken, materialOf(t), nativeProvider);
  return start.finish(dev.serveCoap(start.message));
}

function call(dev: ResourceServer, c: OscoreClient, method: 'GET' | 'POST', resource: string) {
  const { message, binding } = c.request({ method, resource, payload: new Uint8Array(0) });
  return c.response(dev.serveCoap(message), binding);
}

function update(dev: ResourceServer, c: OscoreClient, token: Uint8Array) {
  const { message, binding } = c.updateAccessRights(token);
  return c.response(dev.serveCoap(message), binding);
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  const scopes = [JSON.stringify(READ_WRITE)];
  await registerAudience(store, nativeProvider, { id: AUDIENCE, scopes, lifetime: LIFETIME, aceProfile: ACE_PROFILE.coap_oscore });
  for (const id of ['ekg', 'mallory']) await registerClient(store, { id, secret: secretOf(id), audiences: [AUDIENCE], scopes, grantTypes: ['client_credentials'] });
  server = await createAuthzServer({ store, dataDir: dir, clock, issuer: ISSUER });
  base = (await server.listen(0)).url;
  bundle = await provisionDevice(store, server.keys, { deviceId: AUDIENCE, issuer: ISSUER, now });
});

afterAll(async () => {
  await server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the service (RFC 9203 §3.1, §3.2)', () => {
  it('issues the update for the material it gave this client: cnf kid(3) in the token, no cnf in the answer', async () => {
    const first = await ask('ekg', READ);
    const raw = await askRaw('ekg', READ_WRITE, materialOf(first).id);
    expect(raw.status).toBe(200);
    expect(raw.body.has(1)).toBe(true); // access_token
    expect(raw.body.has(8)).toBe(false); // §3.2: "the AS MUST omit the cnf parameter in the response"
  });

  it('refuses invalid_request for an id it never issued, another client\'s, or one whose token is revoked or expired', async () => {
    const mine = await ask('ekg', READ);
    const theirs = await ask('mallory', READ);
    const refusal = async (client: string, id: Uint8Array) => {
      const r = await askRaw(client, READ_WRITE, id);
      return [r.status, r.body.get(30)];
    };
    const invalidRequest = [400, 1]; // RFC 9200 §8.4: invalid_request is 1
    expect(await refusal('ekg', new Uint8Array(8).fill(7))).toEqual(invalidRequest);
    expect(await refusal('ekg', materialOf(theirs).id)).toEqual(invalidRequest);
    expect(await refusal('mallory', materialOf(mine).id)).toEqual(invalidRequest);
    const revoked = await ask('ekg', READ);
    const r = await fetch(`${base}/revoke`, { method: 'POST', headers: { authorization: basic('ekg', secretOf('ekg')), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: Buffer.from(revoked.accessToken).toString('base64url') }) });
    expect(r.status).toBe(200);
    expect(await refusal('ekg', materialOf(revoked).id)).toEqual(invalidRequest);
    const old = await ask('ekg', READ);
    now += LIFETIME + 1;
    try {
      expect(await refusal('ekg', materialOf(old).id)).toEqual(invalidRequest);
    } finally {
      now -= LIFETIME + 1;
    }
  });
});

describe('the device (RFC 9203 §4.4)', () => {
  it('takes the new token under the context: 2.01 protected with no payload, the new rights at once, the old token gone', async () => {
    const dev = device();
    const first = await ask('ekg', READ);
    const c = connect(dev, first);
    expect(call(dev, c, 'GET', '/result').code).toBe(205);
    expect(call(dev, c, 'POST', '/config').code).toBe(403);
    const wider = await ask('ekg', READ_WRITE, materialOf(first).id);
    const answer = update(dev, c, wider.accessToken);
    expect(answer).toMatchObject({ code: 201, authenticated: true });
    expect(answer.payload?.length ?? 0).toBe(0);
    expect(call(dev, c, 'POST', '/config').code).toBe(204);
    expect(call(dev, c, 'GET', '/result').code).toBe(205);
    // The context now lives with the new token; the old one is no longer held.
    expect([...dev.oscoreContexts.entries()].map((e) => e.tokenHashHex)).toEqual([toHex(tokenHash(wider.accessToken, nativeProvider))]);
    expect(dev.stats.tokens).toBe(1);
    // Narrowed again: the rights follow the newest token.
    const narrower = await ask('ekg', READ, materialOf(first).id);
    expect(update(dev, c, narrower.accessToken).code).toBe(201);
    expect(call(dev, c, 'POST', '/config').code).toBe(403);
  });

  // Review 36: the device moves the original token's contexts to the update, so revoking only the
  // original (the token an operator or the client knows was compromised) left them working.
  it('revoking the original token revokes its update too: on the signed /trl, and the context dies at the device', async () => {
    const dev = device();
    const first = await ask('ekg', READ);
    const c = connect(dev, first);
    const wider = await ask('ekg', READ_WRITE, materialOf(first).id);
    expect(update(dev, c, wider.accessToken).code).toBe(201);
    const r = await fetch(`${base}/revoke`, { method: 'POST', headers: { authorization: basic('ekg', secretOf('ekg')), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: Buffer.from(first.accessToken).toString('base64url') }) });
    expect(r.status).toBe(200);
    expect((await store.getTokenByHash(toHex(tokenHash(wider.accessToken, nativeProvider))))?.revoked).toBe(true);
    const list = new Uint8Array(await (await fetch(`${base}/trl/${AUDIENCE}`)).arrayBuffer());
    expect(dev.applyRevocationList(list)).toBeGreaterThan(0);
    expect(call(dev, c, 'GET', '/result').code).not.toBe(205);
    expect(dev.oscoreContexts.size).toBe(0);
  });

  it('refuses 4.01, protected, and changes nothing: a token for other material, a fresh-material token, another client\'s update', async () => {
    const dev = device();
    const first = await ask('ekg', READ);
    const c = connect(dev, first);
    expect(call(dev, c, 'GET', '/result').code).toBe(205);
    const fresh = await ask('ekg', READ_WRITE); // new material: not an update of this context
    const theirs = await ask('mallory', READ);
    const theirUpdate = await ask('mallory', READ_WRITE, materialOf(theirs).id);
    for (const token of [fresh.accessToken, theirUpdate.accessToken, new Uint8Array([0xa0])]) {
      const answer = update(dev, c, token);
      expect(answer).toMatchObject({ code: 401, authenticated: true });
    }
    expect(call(dev, c, 'POST', '/config').code).toBe(403);
    expect(call(dev, c, 'GET', '/result').code).toBe(205);
  });

  it('a stolen update token is worthless: unprotected it names no key the device holds, under the thief\'s own context it is refused', async () => {
    const dev = device();
    const victim = await ask('ekg', READ);
    connect(dev, victim);
    const stolen = await ask('ekg', READ_WRITE, materialOf(victim).id);
    // Posted as a new token (with a nonce1 and an id, as a context set-up): cnf kid(3) is no key here.
    const start = beginOscoreClient(stolen.accessToken, { id: new Uint8Array([1]), ms: new Uint8Array(32).fill(9) }, nativeProvider);
    expect(decodeCoapMessage(dev.serveCoap(start.message)).code).toBe(0x81); // 4.01
    // Under mallory's own context: the kid is not her material's id.
    const own = connect(dev, await ask('mallory', READ));
    expect(update(dev, own, stolen.accessToken)).toMatchObject({ code: 401, authenticated: true });
    expect(call(dev, own, 'POST', '/config').code).toBe(403);
  });
});
