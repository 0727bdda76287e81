import { describe, expect, it, beforeEach } from 'vitest';
import { decodeCoapMessage, fromUtf8, portableProvider, toHex, utf8, type CoseKey } from '../cose/index.js';
import {
  DEVICE_ERR,
  DeviceError,
  beginOscoreClient,
  buildPopRequest,
  createResourceServer,
  decodePopRequest,
  decodeResponseBody,
  loadProvisioningBundle,
  memoryStorage,
  serveAuthzInfo,
  serveRequest,
  type OscoreClient,
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

// Each token is another client's (its own sub): the device budgets OSCORE context slots per client.
let clients = 0;
function symmetricToken(): { token: Uint8Array; popKey: CoseKey } {
  const { cnf, popKey } = issuer.symmetricCnf(TUBE);
  return { token: issuer.token({ aud: TUBE, sub: `client-${++clients}`, exp: now + 3600, cnf, scope: [['/temp', 1]] }), popKey };
}

/** RFC 9203 §4.1-4.3: POST /authz-info, the OSCORE context from the sealed PoP key (§3.2.1). */
function open(dev: ResourceServer, { token, popKey } = symmetricToken()): OscoreClient {
  const start = beginOscoreClient(token, { id: popKey.kid ?? new Uint8Array(0), ms: popKey.k! }, portableProvider);
  return start.finish(serveAuthzInfo(dev, start.message));
}

function ask(dev: ResourceServer, client: OscoreClient) {
  const { message, binding } = client.request(GET);
  return client.response(serveRequest(dev, message), binding);
}

/**
 * What a thief who saw the token (not its key) can do: post it with a fresh nonce1. The device
 * makes an unproven context (it cannot tell); returns the answer's CoAP code byte (0x41 2.01).
 */
function postStolen(dev: ResourceServer, token: Uint8Array): number {
  const guess = beginOscoreClient(token, { id: utf8('guess'), ms: portableProvider.randomBytes(32) }, portableProvider);
  return decodeCoapMessage(serveAuthzInfo(dev, guess.message)).code;
}

describe('OSCORE context slots: contexts set up without proof of possession cannot lock out proven ones', () => {
  it('a thief posting stolen tokens with nonce1 never makes a real client busy, nor closes its proven context', () => {
    const dev = device(memoryStorage(), { tokenBudgetBytes: 64 * 1024 });
    const stolen = symmetricToken();
    const proven = open(dev, stolen);
    expect(ask(dev, proven).code).toBe(205);
    // The thief has the tokens (seen on the broker) but not their keys: it can only set up contexts it cannot use.
    const loot = Array.from({ length: 8 }, () => symmetricToken().token);
    for (let i = 0; i < 3; i++) {
      for (const token of [stolen.token, ...loot]) expect(postStolen(dev, token)).toBe(0x41);
    }
    expect(dev.stats.sessions).toBeLessThanOrEqual(8);
    const late = open(dev);
    expect(ask(dev, late).code).toBe(205);
    expect(ask(dev, proven).code).toBe(205);
  });

  it('caps the unproven contexts one token holds, dropping its oldest', () => {
    const dev = device(memoryStorage(), { maxUnprovenSessionsPerToken: 2 });
    const { token } = symmetricToken();
    for (let i = 0; i < 5; i++) expect(postStolen(dev, token)).toBe(0x41);
    expect(dev.stats.sessions).toBe(2);
  });

  it('proven contexts never fill the slots: a post is never busy, and only a proof retires the least recently used', () => {
    const dev = device(memoryStorage(), { maxSessions: 2 });
    const first = open(dev);
    expect(ask(dev, first).code).toBe(205);
    // One of the two slots stays for posts: a thief's post gets a context (2.01) and closes nothing.
    expect(postStolen(dev, symmetricToken().token)).toBe(0x41);
    expect(ask(dev, first).code).toBe(205);
    // A second client proves its context: with one proven slot, the least recently used (first) goes.
    const second = open(dev);
    expect(ask(dev, second).code).toBe(205);
    // 4.01, unprotected: its context is gone, and it posts its token again.
    expect(decodeCoapMessage(serveRequest(dev, first.request(GET).message)).code).toBe(0x81);
  });

  it('is busy only in a one-slot table held by a proven context', () => {
    const dev = device(memoryStorage(), { maxSessions: 1 });
    expect(ask(dev, open(dev)).code).toBe(205);
    // 5.03 (busy, RFC 9200 §5.10.1.1 temporarily_unavailable): no proven context gives way to a post.
    expect(postStolen(dev, symmetricToken().token)).toBe(0xa3);
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
