/**
 * `keybound device serve` as a device runs it (issue 10): its own process, against the real
 * broker (broker/ with aedes on a real port) and the real service (authz/ over HTTP, SQLite on
 * disk). The device gets its broker token from the service with its client secret; a client gets
 * a PoP token, posts it through the relay and is served by the device; a thief is refused; the
 * device is stopped with SIGTERM and killed with -9 and loses nothing it acknowledged; a trust
 * update signed by its anchor is applied (forged, foreign and stale ones are refused); and a
 * revocation list published while it sleeps reaches it at its next wake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  ALG,
  createTrustUpdate,
  decodeCoseKey,
  encodeProvisioningBundle,
  fromUtf8,
  mintAccessToken,
  publicCoseKey,
  toHex,
  type CborValue,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  buildPopRequest,
  createConnectPassword,
  decodeAuthzInfoResponse,
  decodeResponseBody,
  encodeAuthzInfoRequest,
  encodeEnvelope,
  requestToken,
  ACE_USERNAME,
  type DeviceResponseBody,
} from '../device/index.js';
import { deviceBrokerScope } from '../device/adapters/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { ISSUER, ed25519Key } from './support/device-issuer.js';
import { basic } from './support/authz-client.js';
import { serveDevice, type DeviceProcess } from './support/device-process.js';
import { signingKey } from './support/keys.js';

const DEVICE = 'tube-7';
const BROKER = 'broker-7';
const SCOPE: CborValue = [['/result', 1]];
const CLIENT_BROKER_SCOPE: CborValue = [[`ace/+/authz-info`, ['pub']], [`ace/+/req`, ['pub']]];
const OPS_SCOPE: CborValue = [[`ace/+/trust`, ['pub']], [`ace/trl/+`, ['pub']]];
const secretOf = (id: string) => `${id}-secret-that-is-long-enough`;
const now = () => Math.floor(Date.now() / 1000);

let dir: string;
let store: SqliteStore;
let service: AuthzServer;
let base: string;
let broker: KeyboundBroker;
/** The broker's log lines: a forged trust update is refused there before any device sees it. */
const brokerLines: string[] = [];
let brokerUrl: string;
let bundleFile: string;
let dataDir: string;
let secretFile: string;
let device: DeviceProcess | undefined;
const clients: MqttClient[] = [];

async function tokenFrom(client: string, audience: string, scope: CborValue, popKey: CoseKey) {
  return requestToken(
    async (body) => new Uint8Array(await (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body: Buffer.from(body) })).arrayBuffer()),
    { grant: 'client_credentials', auth: { clientId: client, clientSecret: secretOf(client) }, audience, scope, popKey },
  );
}

/** An MQTT client admitted by the broker with its own PoP token; collects answers on ace/+/res/<id>. */
async function relayClient(id: string, scope: CborValue) {
  const key = ed25519Key(`${id}-broker-key`);
  const { accessToken } = await tokenFrom(id, BROKER, scope, key);
  const password = () => Buffer.from(createConnectPassword(accessToken, key, { audience: BROKER, clientId: id, clock: now, provider: nativeProvider }));
  const client = await connectAsync(brokerUrl, { clientId: id, username: ACE_USERNAME, password: password(), protocolVersion: 4, reconnectPeriod: 0, clean: true });
  clients.push(client);
  const inbox: Uint8Array[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (_t, payload) => {
    inbox.push(new Uint8Array(payload));
    for (const w of waiters) w();
  });
  await client.subscribeAsync(`ace/+/res/${id}`, { qos: 1 });
  const next = (ms = 30_000) =>
    new Promise<Uint8Array>((resolve, reject) => {
      const take = () => {
        if (inbox.length === 0) return;
        waiters.delete(take);
        clearTimeout(t);
        resolve(inbox.shift()!);
      };
      const t = setTimeout(() => (waiters.delete(take), reject(new Error(`${id}: no answer from the device in ${ms} ms; device: ${JSON.stringify(device?.events.slice(-8))} ${device?.stderr.slice(-500)}`))), ms);
      waiters.add(take);
      take();
    });
  const send = (topic: string, body: Uint8Array) => client.publishAsync(topic, Buffer.from(encodeEnvelope(id, body)), { qos: 1 });
  const publish = (topic: string, payload: Uint8Array, retain = true) => client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain });
  return { client, next, send, publish, inbox };
}

const topics = {
  authzInfo: `ace/${DEVICE}/authz-info`,
  req: `ace/${DEVICE}/req`,
  trl: `ace/trl/${DEVICE}`,
  trust: `ace/${DEVICE}/trust`,
};

const GET_RESULT = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

function startDevice(extra: string[] = ['--wake-every', '0'], url = brokerUrl): DeviceProcess {
  device = serveDevice([
    '--bundle', bundleFile,
    '--data-dir', dataDir,
    '--broker', url,
    '--client-secret-file', secretFile,
    '--broker-audience', BROKER,
    '--token-url', `${base}/token`,
    ...extra,
  ]);
  return device;
}

async function stopDevice(signal: 'SIGTERM' | 'SIGKILL'): Promise<number | string> {
  const d = device!;
  device = undefined;
  d.proc.kill(signal);
  const late = setTimeout(() => console.error('device did not exit:', JSON.stringify(d.events.slice(-6)), d.stderr.slice(-800)), 15_000);
  return d.exited.finally(() => clearTimeout(late));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kb-device-serve-'));
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: DEVICE, scopes: ['[["/result",1]]'], lifetime: 3600 });
  await registerAudience(store, nativeProvider, {
    id: BROKER,
    scopes: [[['ace/+/authz-info', ['pub', 'sub']], ['ace/+/req', ['pub', 'sub']], ['ace/+/res/+', ['pub']], ['ace/+/trust', ['pub', 'sub']], ['ace/trl/+', ['pub']]]],
    lifetime: 3600,
  });
  for (const id of ['app', 'thief']) {
    await registerClient(store, { id, secret: secretOf(id), audiences: [DEVICE, BROKER], scopes: ['[["/result",1]]', CLIENT_BROKER_SCOPE as unknown[]], grantTypes: ['client_credentials'] });
  }
  await registerClient(store, { id: 'ops', secret: secretOf('ops'), audiences: [BROKER], scopes: [OPS_SCOPE as unknown[]], grantTypes: ['client_credentials'] });
  // The device is a client of the service too: it asks for its own broker token.
  await registerClient(store, { id: DEVICE, secret: secretOf(DEVICE), audiences: [BROKER], scopes: [deviceBrokerScope(DEVICE) as unknown[]], grantTypes: ['client_credentials'] });
  service = await createAuthzServer({ store, dataDir: dir, clock: now, issuer: ISSUER });
  base = (await service.listen(0)).url;
  const bundle = await provisionDevice(store, service.keys, { deviceId: DEVICE, issuer: ISSUER, now: now() });
  bundleFile = join(dir, `${DEVICE}.cbor`);
  writeFileSync(bundleFile, encodeProvisioningBundle(bundle), { mode: 0o600 });
  secretFile = join(dir, 'device.secret');
  writeFileSync(secretFile, secretOf(DEVICE), { mode: 0o600 });
  dataDir = join(dir, 'device-data');
  broker = await createBroker({ audience: BROKER, trust: service.keys.publicKeys(now()), logger: (line) => brokerLines.push(line) });
  brokerUrl = (await broker.listen({ port: 0, host: '127.0.0.1' })).url;
}, 60_000);

afterAll(async () => {
  if (device) await stopDevice('SIGKILL');
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker?.close();
  await service?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const answerOf = (bytes: Uint8Array): DeviceResponseBody => decodeResponseBody(bytes);

describe('keybound device serve, as its own process, through the real broker and service', () => {
  let app: Awaited<ReturnType<typeof relayClient>>;
  let thief: Awaited<ReturnType<typeof relayClient>>;
  const appKey = ed25519Key('app-pop');
  let token: Uint8Array;

  /**
   * GET /result with token `t` (by hash, not re-posted). For one window after a reboot the device
   * refuses iat proofs (no jti cache survives a reboot: pop-proof replay guard) and sends a cnonce
   * with the refusal; the client then proves freshness with it, as a real client does.
   */
  async function getResult(t: Uint8Array): Promise<DeviceResponseBody> {
    await app.send(topics.req, buildPopRequest({ token: t, popKey: appKey, audience: DEVICE, request: GET_RESULT, now: now() }));
    const first = await nextResponse();
    if (first.error !== 'replay') return first;
    await app.send(topics.req, buildPopRequest({ token: t, popKey: appKey, audience: DEVICE, request: GET_RESULT, nonce: first.hints!.cnonce! }));
    return nextResponse();
  }

  /**
   * The next request answer. MQTT QoS 1 is at-least-once: a message the device handled but whose
   * PUBACK a kill -9 cut off is delivered again after the restart, and its authz-info answer
   * (`{}`, the same token again) comes twice; such repeats are skipped here.
   */
  async function nextResponse(): Promise<DeviceResponseBody> {
    for (;;) {
      const bytes = await app.next();
      if (bytes.length === 1 && bytes[0] === 0xa0) continue;
      return answerOf(bytes);
    }
  }

  it('takes a token through the relay and serves the PoP request with the demo handler; a thief is refused', async () => {
    const d = startDevice();
    await d.waitFor((e) => e.event === 'awake');
    expect(d.events.find((e) => e.event === 'broker_token')).toBeDefined();
    app = await relayClient('app', CLIENT_BROKER_SCOPE);
    thief = await relayClient('thief', CLIENT_BROKER_SCOPE);
    token = (await tokenFrom('app', DEVICE, SCOPE, appKey)).accessToken;

    await app.send(topics.authzInfo, encodeAuthzInfoRequest({ token }));
    expect(decodeAuthzInfoResponse(await app.next())).toEqual({});
    const request = buildPopRequest({ token, popKey: appKey, audience: DEVICE, request: GET_RESULT, now: now() });
    await app.send(topics.req, request);
    const answer = answerOf(await app.next());
    expect(answer.code).toBe(205);
    expect(fromUtf8(answer.payload!)).toMatch(new RegExp(`^${DEVICE}: result negative`));

    // The thief saw both on the broker: the same proof again, and a proof by its own key.
    await thief.send(topics.req, request);
    expect(answerOf(await thief.next())).toMatchObject({ code: 401, error: 'replay' });
    await thief.send(topics.req, buildPopRequest({ token, popKey: ed25519Key('thief-key'), audience: DEVICE, request: GET_RESULT, now: now() }));
    expect(answerOf(await thief.next())).toMatchObject({ code: 401, error: 'bad_proof' });
    // Its log tells what happened, by code and client id; never a token or a key.
    await d.waitFor((e) => e.event === 'request_refused' && e.code === 'bad_proof');
    const log = JSON.stringify(d.events);
    expect(log).not.toContain(toHex(token).slice(0, 32));
    expect(log).not.toContain(Buffer.from(token).toString('base64').slice(0, 32));
  }, 90_000);

  it('SIGTERM stops it cleanly; after a restart the token is still held (no re-post)', async () => {
    const before = device!;
    expect(await stopDevice('SIGTERM')).toBe(0);
    expect(before.events.at(-1)).toMatchObject({ event: 'stopped', tokens: 1 });
    // What it keeps is secret (its key, its broker token, the tokens' PoP keys): owner-only.
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dataDir);
    expect(files).toEqual(expect.arrayContaining(['device-key', 'broker-token', 'tokens', 'iat']));
    for (const f of files) expect(statSync(join(dataDir, f)).mode & 0o777, f).toBe(0o600);
    const d = startDevice();
    await d.waitFor((e) => e.event === 'awake');
    expect(d.events.find((e) => e.event === 'started')).toMatchObject({ tokens: 1 });
    expect((await getResult(token)).code).toBe(205);
  }, 90_000);

  it('kill -9 loses nothing acknowledged, and what was sent while it was dead is served after the restart', async () => {
    const second = (await tokenFrom('app', DEVICE, SCOPE, appKey)).accessToken;
    await app.send(topics.authzInfo, encodeAuthzInfoRequest({ token: second }));
    expect(decodeAuthzInfoResponse(await app.next())).toEqual({});
    expect(await stopDevice('SIGKILL')).toBe('SIGKILL');
    // While it is dead: a third token, queued by the broker in the device's persistent session.
    const third = (await tokenFrom('app', DEVICE, SCOPE, appKey)).accessToken;
    await app.send(topics.authzInfo, encodeAuthzInfoRequest({ token: third }));
    const d = startDevice();
    expect(decodeAuthzInfoResponse(await app.next())).toEqual({});
    await d.waitFor((e) => e.event === 'awake');
    for (const t of [token, second, third]) expect((await getResult(t)).code).toBe(205);
  }, 120_000);

  it('applies a trust update signed by its anchor (a new key signs tokens it then accepts) and refuses forged, foreign and stale ones', async () => {
    const d = device!;
    const ops = await relayClient('ops', OPS_SCOPE);
    const anchor = service.keys.publicKeys(now())[0]!;
    const anchorPriv = decodeCoseKey(new Uint8Array(readFileSync(join(dir, 'keys', `${toHex(anchor.kid!)}.cose`))));
    const next = { ...signingKey('Ed25519', 'rotated-1').priv, alg: ALG.EdDSA };
    const nextPub = publicCoseKey(next);
    const byNewKey = mintAccessToken(
      { issuer: ISSUER, audience: DEVICE, scope: SCOPE, lifetime: 600, cnf: { coseKey: publicCoseKey(appKey) } },
      { key: next, clock: now, provider: nativeProvider },
    ).token;
    // Before the update: the new key is nobody the device knows.
    await app.send(topics.authzInfo, encodeAuthzInfoRequest({ token: byNewKey }));
    expect(answerOf(await app.next())).toMatchObject({ error: 'unknown_key' });

    const update = (signer: CoseKey, over: { seq?: number; aud?: string } = {}) =>
      createTrustUpdate({ seq: over.seq ?? 1, keys: [anchor, nextPub], iat: now(), aud: over.aud ?? DEVICE }, signer);
    const from = d.events.length;
    const thiefSigner = { ...signingKey('Ed25519', 'x').priv, kid: anchor.kid!, alg: ALG.EdDSA }; // the anchor's kid, another key
    // The broker verifies a trust update before it is retained for the device (trust-update-relay.ts),
    // so forged, foreign-signed and other-device ones stop there; the device's own refusals of the
    // same updates are tested in device-node.test.ts and trust-update.test.ts.
    const refusedAtBroker = async (code: string) => {
      for (let i = 0; i < 100 && !brokerLines.some((l) => l.includes(`trust update refused (${code})`)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(brokerLines.some((l) => l.includes(`trust update refused (${code})`)), `${code}: ${brokerLines.slice(-5).join(' / ')}`).toBe(true);
    };
    await ops.publish(topics.trust, update(thiefSigner));
    await refusedAtBroker('bad_signature');
    await ops.publish(topics.trust, createTrustUpdate({ seq: 1, keys: [nextPub], iat: now(), aud: DEVICE }, { ...next, kid: next.kid! }));
    await refusedAtBroker('unknown_kid');
    await ops.publish(topics.trust, update(anchorPriv, { aud: 'tube-8' }));
    await refusedAtBroker('wrong_audience');
    // seq 0 is not newer than the device's bundle (seq 0): the broker has seen none yet, the device ignores it.
    await ops.publish(topics.trust, update(anchorPriv, { seq: 0 }));
    await d.waitFor((e) => (e.event === 'trust_ignored' && e.code === 'stale') || e.event === 'trust_updated', { from });
    expect(d.events.slice(from).some((e) => e.event === 'trust_updated')).toBe(false);
    // Still refused: nothing above changed its anchors.
    await app.send(topics.authzInfo, encodeAuthzInfoRequest({ token: byNewKey }));
    expect(answerOf(await app.next())).toMatchObject({ error: 'unknown_key' });

    await ops.publish(topics.trust, update(anchorPriv));
    await d.waitFor((e) => e.event === 'trust_updated' && e.seq === 1 && e.anchors === 2, { from });
    await app.send(topics.authzInfo, encodeAuthzInfoRequest({ token: byNewKey }));
    expect(decodeAuthzInfoResponse(await app.next())).toEqual({});
    expect((await getResult(byNewKey)).code).toBe(205);

    // The same update again is stale: the broker keeps the retained one and drops the repeat (the
    // retained copy reaches the device at every wake and is ignored there as stale).
    await ops.publish(topics.trust, update(anchorPriv));
    await refusedAtBroker('stale');
  }, 120_000);


  it('a sleeping device applies a revocation list at its next wake and refuses the token afterwards; the trust set survives', async () => {
    expect(await stopDevice('SIGTERM')).toBe(0);
    // A handler module of the operator's own (README "Run the device runtime on a device"): an ES
    // module named handler.js, outside any package, as the README writes it (the launcher's tsx
    // took it for CommonJS and could not load it: walkthrough, stop 36).
    const handlerFile = join(dir, 'handler.js');
    writeFileSync(handlerFile, "export default { resources: { '/result': { GET: (req) => ({ payload: { result: 'negative', for: req.subject } }) } } };\n");
    const d = startDevice(['--wake-every', '2', '--awake-ms', '400', '--handler', handlerFile]);
    expect(await d.waitFor((e) => e.event === 'started')).toMatchObject({ trust_seq: 1 });
    await d.waitFor((e) => e.event === 'asleep');
    // Sent while it sleeps, served at its next wake, by the operator's handler.
    const served = await getResult(token);
    expect(served.code).toBe(205);
    expect(JSON.parse(fromUtf8(served.payload!))).toEqual({ result: 'negative', for: 'app' });
    await d.waitFor((e) => e.event === 'asleep', { from: d.events.length });
    const revoke = await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { authorization: basic('app', secretOf('app')), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: Buffer.from(token).toString('base64url') }),
    });
    expect(revoke.status).toBe(200);
    const list = new Uint8Array(await (await fetch(`${base}/trl/${DEVICE}`)).arrayBuffer());
    const from = d.events.length;
    await app.publish(topics.trl, list);
    const applied = await d.waitFor((e) => e.event === 'revocation_list_applied', { from });
    expect(applied).toMatchObject({ revoked: 1 });
    // Published while it slept: it came with a wake, not to a device that was listening.
    const wokeAt = d.events.findIndex((e, i) => i >= from && e.event === 'waking');
    expect(wokeAt).toBeGreaterThanOrEqual(from);
    expect(d.events.indexOf(applied)).toBeGreaterThan(wokeAt);
    // Queued while it sleeps, answered at a wake: the revoked token is refused.
    expect(await getResult(token)).toMatchObject({ error: 'revoked' });
    expect(await stopDevice('SIGTERM')).toBe(0);
  }, 120_000);

  it('a device that starts before its broker retries with a backoff, and SIGTERM still stops it at once', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const d = startDevice(['--wake-every', '0'], `mqtt://127.0.0.1:${port}`);
    await d.waitFor((e) => e.event === 'wake_failed');
    expect(await d.waitFor((e) => e.event === 'asleep')).toMatchObject({ seconds: 2 });
    expect(await stopDevice('SIGTERM')).toBe(0);
  }, 60_000);

  it("a wake the service refuses is a warning naming the service's error, seen at --log-level warn", async () => {
    // Walkthrough, stop 36: it was logged at info as {error: "AuthorizationServiceError"}, so at
    // --log-level warn a device with a wrong secret said nothing at all.
    const wrong = join(dir, 'wrong.secret');
    writeFileSync(wrong, 'not-the-secret-this-device-was-registered-with\n', { mode: 0o600 });
    device = serveDevice([
      '--bundle', bundleFile,
      '--data-dir', join(dir, 'wrong-secret-data'),
      '--broker', brokerUrl,
      '--client-secret-file', wrong,
      '--broker-audience', BROKER,
      '--token-url', `${base}/token`,
      '--wake-every', '0',
      '--log-level', 'warn',
    ]);
    const failed = await device.waitFor((e) => e.event === 'wake_failed');
    expect(failed).toMatchObject({ level: 40, code: 'invalid_client', retry_in_s: 2 });
    expect(String(failed.reason)).toContain('invalid_client');
    expect(JSON.stringify(device.events)).not.toContain('not-the-secret');
    expect(await stopDevice('SIGTERM')).toBe(0);
  }, 60_000);
});
