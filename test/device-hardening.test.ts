import { describe, expect, it, beforeEach } from 'vitest';
import { fromUtf8, portableProvider, toHex, utf8, type CoseKey } from '../cose/index.js';
import {
  DEVICE_ERR,
  DeviceError,
  beginSession,
  buildPopRequest,
  createResourceServer,
  decodePopRequest,
  decodeResponseBody,
  loadProvisioningBundle,
  memoryStorage,
  serveAuthzInfo,
  serveRequest,
  type ClientSession,
  type DeviceStorage,
  type ResourceServer,
} from '../device/index.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';

const TUBE = 'tube-123';
const EMPTY = new Uint8Array(0);
const GET = { method: 'GET', resource: '/temp', payload: EMPTY };
let now = 1_800_000_000;
const clock = () => now;
const handler = (req: { method: string; resource: string }) =>
  req.resource === '/temp' && req.method === 'GET' ? { code: 205, payload: utf8('21.5') } : { code: 404 };

let issuer: ReturnType<typeof createFixtureIssuer>;
beforeEach(() => {
  now = 1_800_000_000;
  issuer = createFixtureIssuer(clock);
});

function device(storage: DeviceStorage = memoryStorage(), profile = {}): ResourceServer {
  return createResourceServer({ trust: loadProvisioningBundle(issuer.bundleFor(TUBE), now), storage, clock, handler, profile });
}

function refusal(fn: () => unknown): DeviceError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof DeviceError) return e;
    throw e;
  }
  return undefined;
}

// Each token is another client's (its own sub): the device budgets session slots per client.
let clients = 0;
function symmetricToken(): { token: Uint8Array; popKey: CoseKey } {
  const { cnf, popKey } = issuer.symmetricCnf(TUBE);
  return { token: issuer.token({ aud: TUBE, sub: `client-${++clients}`, exp: now + 3600, cnf, scope: [['/temp', 1]] }), popKey };
}

function open(dev: ResourceServer, { token, popKey } = symmetricToken()): ClientSession {
  const start = beginSession(token, popKey, memoryStorage());
  return start.finish(serveAuthzInfo(dev, start.body));
}

function ask(dev: ResourceServer, session: ClientSession) {
  const { message, requestPiv } = session.request(GET);
  return session.response(serveRequest(dev, message), requestPiv);
}

const nonce1 = () => portableProvider.randomBytes(16);

describe('session slots: sessions opened without proof of possession cannot lock out proven ones', () => {
  it('a thief posting stolen tokens with nonce1 never makes a real client busy, nor closes its proven session', () => {
    const dev = device(memoryStorage(), { tokenBudgetBytes: 64 * 1024 });
    const stolen = symmetricToken();
    const proven = open(dev, stolen);
    expect(ask(dev, proven).code).toBe(205);
    // The thief has the tokens (seen on the broker) but not their keys: it can only open sessions.
    const loot = Array.from({ length: 8 }, () => symmetricToken().token);
    for (let i = 0; i < 3; i++) {
      for (const token of [stolen.token, ...loot]) expect(refusal(() => dev.authzInfo({ token, nonce1: nonce1() }))).toBeUndefined();
    }
    expect(dev.stats.sessions).toBeLessThanOrEqual(8);
    const late = open(dev);
    expect(ask(dev, late).code).toBe(205);
    expect(ask(dev, proven).code).toBe(205);
  });

  it('caps the unproven sessions one token holds, dropping its oldest', () => {
    const dev = device(memoryStorage(), { maxUnprovenSessionsPerToken: 2 });
    const { token } = symmetricToken();
    for (let i = 0; i < 5; i++) dev.authzInfo({ token, nonce1: nonce1() });
    expect(dev.stats.sessions).toBe(2);
  });

  it('is busy only when every slot holds a proven session', () => {
    const dev = device(memoryStorage(), { maxSessions: 2 });
    for (let i = 0; i < 2; i++) expect(ask(dev, open(dev)).code).toBe(205);
    expect(refusal(() => dev.authzInfo({ token: symmetricToken().token, nonce1: nonce1() }))?.code).toBe(DEVICE_ERR.BUSY);
  });
});

describe('nonces: refusals share a hint nonce instead of flushing the ones clients are about to use', () => {
  const key = ed25519Key('ekg-key');
  const popToken = () => issuer.token({ aud: TUBE, exp: now + 3600, cnf: { coseKey: { kty: 'OKP', crv: 'Ed25519', x: key.x! } }, scope: [['/temp', 1]] });
  const junk = (dev: ResourceServer) => refusal(() => dev.authzInfo({ token: issuer.token({ aud: 'tube-999', exp: now + 60, cnf: { kid: utf8('k') }, scope: [] }) }))!;

  it('a nonce from issueNonce() survives a flood of refusals, and every refusal carries the same cnonce', () => {
    const dev = device();
    const token = popToken();
    const nonce = dev.issueNonce();
    const cnonces = new Set(Array.from({ length: 100 }, () => toHex(junk(dev).hints!.cnonce!)));
    expect(cnonces.size).toBe(1);
    const req = buildPopRequest({ token, popKey: key, audience: TUBE, request: GET, includeToken: true, nonce });
    expect(decodeResponseBody(serveRequest(dev, req)).code).toBe(205);
  });

  it('a hint nonce proves one request only; then refusals carry a new one, and it rotates with time', () => {
    const dev = device();
    const token = popToken();
    const hint = junk(dev).hints!.cnonce!;
    const req = buildPopRequest({ token, popKey: key, audience: TUBE, request: GET, includeToken: true, nonce: hint });
    expect(decodeResponseBody(serveRequest(dev, req)).code).toBe(205);
    expect(decodeResponseBody(serveRequest(dev, req)).error).toBe(DEVICE_ERR.REPLAY);
    const next = junk(dev).hints!.cnonce!;
    expect(toHex(next)).not.toBe(toHex(hint));
    now += 60;
    expect(toHex(junk(dev).hints!.cnonce!)).not.toBe(toHex(next));
    // The replaced hint nonce is still good within its lifetime.
    const late = buildPopRequest({ token, popKey: key, audience: TUBE, request: GET, includeToken: true, nonce: next });
    expect(decodeResponseBody(serveRequest(dev, late)).code).toBe(205);
  });
});

describe('reboot: an iat-fresh proof accepted before it is not accepted again after it', () => {
  const key = ed25519Key('ekg-key');
  const popToken = () => issuer.token({ aud: TUBE, exp: now + 3600, cnf: { coseKey: { kty: 'OKP', crv: 'Ed25519', x: key.x! } }, scope: [['/temp', 1]] });

  it('refuses a captured proof replayed after a reboot, with a cnonce hint that works at once', () => {
    const storage = memoryStorage();
    const token = popToken();
    const captured = buildPopRequest({ token, popKey: key, audience: TUBE, request: GET, includeToken: true, now });
    expect(decodeResponseBody(serveRequest(device(storage), captured)).code).toBe(205);

    now += 5;
    const rebooted = device(storage);
    // The refusal, as it travels, carries the RFC 9200 §5.3 hints: the client retries at once with its cnonce.
    const refused = decodeResponseBody(serveRequest(rebooted, captured));
    expect(refused).toMatchObject({ code: 401, error: DEVICE_ERR.REPLAY, hints: { audience: TUBE } });
    expect(refused.hints!.cnonce).toBeInstanceOf(Uint8Array);
    expect(refusal(() => rebooted.handlePopRequest(decodePopRequest(captured)))!.code).toBe(DEVICE_ERR.REPLAY);
    const retry = buildPopRequest({ token, popKey: key, audience: TUBE, request: GET, includeToken: true, nonce: refused.hints!.cnonce! });
    const answer = decodeResponseBody(serveRequest(rebooted, retry));
    expect(answer.code).toBe(205);
    expect(fromUtf8(answer.payload!)).toBe('21.5');

    // One window after the reboot, iat-fresh proofs work again.
    now += 61;
    expect(decodeResponseBody(serveRequest(rebooted, buildPopRequest({ token, popKey: key, audience: TUBE, request: GET, now }))).code).toBe(205);
    expect(decodeResponseBody(serveRequest(rebooted, captured)).error).toBe(DEVICE_ERR.REPLAY);
  });

  it('a device that never accepted an iat proof accepts one right after a reboot (nothing to replay)', () => {
    const storage = memoryStorage();
    device(storage);
    const req = buildPopRequest({ token: popToken(), popKey: key, audience: TUBE, request: GET, includeToken: true, now });
    expect(decodeResponseBody(serveRequest(device(storage), req)).code).toBe(205);
  });
});
