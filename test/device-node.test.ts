/**
 * The device node (device/device-node.ts) in process, on a storage a test can crash: trust-anchor
 * updates are applied whole or not at all and survive a reboot; accepted tokens survive a reboot
 * (and revoked ones do not come back); resource modules answer 404/405/500 without crashing; the
 * log carries codes, never tokens.
 */
import { describe, expect, it } from 'vitest';
import { ALG, createTrustUpdate, fromUtf8, publicCoseKey, toHex, utf8, type CoseKey } from '../cose/index.js';
import {
  buildPopRequest,
  createDeviceNode,
  decodeAuthzInfoResponse,
  decodeResponseBody,
  encodeAuthzInfoRequest,
  encodeEnvelope,
  memoryStorage,
  resourceHandler,
  resourceModuleFlaw,
  demoResources,
  type DeviceStorage,
  type ResourceModule,
} from '../device/index.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';
import { errorCode } from './support/error-code.js';

const TUBE = 'tube-9';
const now = 1_800_000_000;
const clock = () => now;
const GET = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };

function setup() {
  const issuer = createFixtureIssuer(clock);
  const anchor = { ...issuer.signingKey, alg: ALG.EdDSA };
  const bundle = issuer.bundleFor(TUBE);
  const events: Array<Record<string, unknown>> = [];
  const record = (level: string) => (fields: Record<string, unknown>) => void events.push({ ...fields, level });
  const logger = { info: record('info'), warn: record('warn'), error: record('error') };
  const boot = (storage: DeviceStorage, module?: ResourceModule) =>
    createDeviceNode({ bundle, storage, clock, logger, handler: (id) => resourceHandler(module ?? demoResources(id, clock)) });
  const clientKey = ed25519Key('app');
  const tokenBy = (key: CoseKey) => issuer.token({ aud: TUBE, exp: now + 600, scope: [['/result', 1]], sub: 'app', cnf: { coseKey: publicCoseKey(clientKey) } }, key);
  return { issuer, anchor, events, boot, clientKey, tokenBy };
}

const post = (node: ReturnType<ReturnType<typeof setup>['boot']>, token: Uint8Array) => node.handle(node.topics.authzInfo, encodeEnvelope('app', encodeAuthzInfoRequest({ token })))!;
const get = (node: ReturnType<ReturnType<typeof setup>['boot']>, token: Uint8Array, key: CoseKey, request = GET) =>
  decodeResponseBody(node.handle(node.topics.req, encodeEnvelope('app', buildPopRequest({ token, popKey: key, audience: TUBE, request, nonce: node.server.issueNonce() })))!.payload);

describe('device node: trust-anchor updates in storage', () => {
  it('applies a verified update, then accepts tokens of the new key, and keeps the new set across a reboot', () => {
    const s = setup();
    const storage = memoryStorage();
    const node = s.boot(storage);
    const next = { ...ed25519Key('as-2'), alg: ALG.EdDSA };
    const byNext = s.tokenBy(next);
    expect(decodeResponseBody(post(node, byNext).payload).error).toBe('unknown_key');
    const byOld = s.tokenBy(s.issuer.signingKey);
    expect(decodeAuthzInfoResponse(post(node, byOld).payload)).toEqual({});
    expect(get(node, byOld, s.clientKey).code).toBe(205);

    node.handle(node.topics.trust, createTrustUpdate({ seq: 1, keys: [publicCoseKey(next)], iat: now, aud: TUBE }, s.anchor));
    expect(s.events.at(-1)).toMatchObject({ event: 'trust_updated', seq: 1, anchors: 1 });
    expect(decodeAuthzInfoResponse(post(node, byNext).payload)).toEqual({});
    // The old anchor left the set: the token it signed that the device held dies with it (at its
    // next use, then it is dropped from the store), and it signs no more updates.
    expect(get(node, byOld, s.clientKey).error).toBe('unknown_key');
    expect(get(node, byOld, s.clientKey).error).toBe('invalid_token');
    expect(decodeResponseBody(post(node, byOld).payload).error).toBe('unknown_key');
    node.handle(node.topics.trust, createTrustUpdate({ seq: 2, keys: [publicCoseKey(s.anchor)], iat: now, aud: TUBE }, s.anchor));
    expect(s.events.at(-1)).toMatchObject({ event: 'trust_refused', code: 'unknown_kid' });

    const again = s.boot(storage);
    expect(again.trust.seq).toBe(1);
    expect(again.trust.signers.map((k) => toHex(k.kid!))).toEqual([toHex(next.kid!)]);
    expect(decodeResponseBody(post(again, s.tokenBy(s.issuer.signingKey)).payload).error).toBe('unknown_key');
  });

  it('a crash while the update is written leaves the old set in force (one put, before use)', () => {
    const s = setup();
    const inner = memoryStorage();
    let failTrustWrite = true;
    const storage: DeviceStorage = {
      get: (k) => inner.get(k),
      delete: (k) => inner.delete(k),
      put: (k, v) => {
        if (k === 'trust' && failTrustWrite) throw new Error('power cut');
        inner.put(k, v);
      },
    };
    const node = s.boot(storage);
    const next = { ...ed25519Key('as-2'), alg: ALG.EdDSA };
    node.handle(node.topics.trust, createTrustUpdate({ seq: 1, keys: [publicCoseKey(next)], iat: now, aud: TUBE }, s.anchor));
    expect(s.events.at(-1)).toMatchObject({ event: 'trust_refused', code: 'Error' });
    expect(node.trust.seq).toBe(0);
    expect(decodeResponseBody(post(node, s.tokenBy(next)).payload).error).toBe('unknown_key');
    expect(decodeAuthzInfoResponse(post(node, s.tokenBy(s.issuer.signingKey)).payload)).toEqual({});
    failTrustWrite = false;
    expect(s.boot(storage).trust.seq).toBe(0);
  });

  it('a damaged stored set refuses to start rather than fall back to the bundle anchors', () => {
    const s = setup();
    const storage = memoryStorage();
    storage.put('trust', utf8('not cbor at all'));
    expect(errorCode(() => s.boot(storage))).toBe('bad_provisioning');
  });
});

describe('device node: tokens survive a reboot', () => {
  it('a token acknowledged before a reboot is served after it, without being posted again', () => {
    const s = setup();
    const storage = memoryStorage();
    const token = s.tokenBy(s.issuer.signingKey);
    expect(decodeAuthzInfoResponse(post(s.boot(storage), token).payload)).toEqual({});
    const rebooted = s.boot(storage);
    expect(rebooted.server.stats.tokens).toBe(1);
    const answer = get(rebooted, token, s.clientKey);
    expect(answer.code).toBe(205);
    expect(fromUtf8(answer.payload!)).toContain(`${TUBE}: result negative`);
    // Only the holder of the key: the stored entry keeps the cnf key.
    expect(get(rebooted, token, ed25519Key('thief')).error).toBe('bad_proof');
  });

  it('a revoked token does not come back after a reboot', () => {
    const s = setup();
    const storage = memoryStorage();
    const token = s.tokenBy(s.issuer.signingKey);
    const node = s.boot(storage);
    post(node, token);
    const list = s.issuer.revoke(token, TUBE);
    node.handle(node.topics.trl, list);
    expect(s.events.at(-1)).toMatchObject({ event: 'revocation_list_applied', revoked: 1 });
    expect(node.server.stats.tokens).toBe(0);
    const rebooted = s.boot(storage);
    expect(rebooted.server.stats.tokens).toBe(0);
    expect(get(rebooted, token, s.clientKey).error).toBe('revoked');
    // The same list again (retained, at every wake) is ignored, not an error.
    rebooted.handle(rebooted.topics.trl, list);
    // Logged at info, not as a refusal: it is routine (README walkthrough, stop 35).
    expect(s.events.at(-1)).toMatchObject({ event: 'revocation_list_ignored', level: 'info' });
  });
});

describe('device node: resource modules', () => {
  it('answers 404 and 405 for what the module lacks, 500 for a function that throws, and names no error text', () => {
    const s = setup();
    const failures: string[] = [];
    const module: ResourceModule = {
      resources: {
        '/result': {
          GET: (req) => ({ payload: { got: req.text, by: req.subject ?? 'nobody' } }),
          PUT: () => {
            throw new Error('secret sensor detail');
          },
        },
      },
    };
    const handler = resourceHandler(module, (what) => failures.push(what));
    const req = { payload: utf8('x'), subject: 'app' };
    expect(handler({ ...req, method: 'GET', resource: '/nothing' })).toEqual({ code: 404, error: 'not_found' });
    expect(handler({ ...req, method: 'POST', resource: '/result' })).toEqual({ code: 405, error: 'method_not_allowed' });
    expect(handler({ ...req, method: 'PUT', resource: '/result' })).toEqual({ code: 500, error: 'handler_failed' });
    expect(failures).toEqual(['PUT /result']);
    const ok = handler({ ...req, method: 'GET', resource: '/result' });
    expect(ok.code).toBe(205);
    expect(JSON.parse(fromUtf8(ok.payload!))).toEqual({ got: 'x', by: 'app' });
    expect(handler({ ...req, method: 'toString', resource: '/result' }).code).toBe(405);
    expect(handler({ ...req, method: 'GET', resource: 'constructor' }).code).toBe(404);
    const asyncOne = resourceHandler({ resources: { '/a': { GET: (async () => ({ payload: 'late' })) as never } } });
    expect(asyncOne({ ...req, method: 'GET', resource: '/a' }).code).toBe(500);
  });

  it('checks a module shape before serving', () => {
    expect(resourceModuleFlaw(undefined)).toMatch(/object/);
    expect(resourceModuleFlaw({ resources: { result: {} } })).toMatch(/start with/);
    expect(resourceModuleFlaw({ resources: { '/r': { GET: 'x' } } })).toMatch(/not a function/);
    expect(resourceModuleFlaw(demoResources('d', clock))).toBeUndefined();
  });

  it('drops junk on every topic without throwing, and logs no token bytes', () => {
    const s = setup();
    const node = s.boot(memoryStorage());
    const token = s.tokenBy(s.issuer.signingKey);
    for (const topic of [node.topics.authzInfo, node.topics.req, node.topics.trl, node.topics.trust, 'ace/other/req']) {
      expect(() => node.handle(topic, new Uint8Array([0xff, 0x01, 0x02]))).not.toThrow();
    }
    post(node, token.slice(0, -1));
    expect(JSON.stringify(s.events)).not.toContain(toHex(token).slice(0, 24));
    expect(s.events.map((e) => e.event)).toEqual(['token_dropped', 'request_dropped', 'revocation_list_refused', 'trust_refused', 'message_dropped', 'token_refused']);
  });
});
