/**
 * Hostile bytes at the device's doors (authz-info and req, as any transport hands them over),
 * and at the decoders those doors and the broker use. The device must answer every input with a
 * typed refusal, never an internal error; the decoders must throw only typed errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mutationsOf } from './support/mutations.js';
import {
  decodeCoapMessage,
  CoseError,
  decryptCoseEncrypt,
  openEncryptedCoseKey,
  publicCoseKey,
  verifyCoseMac,
  verifyCoseSign,
} from '../cose/index.js';
import {
  DeviceError,
  beginSession,
  buildPopRequest,
  createResourceServer,
  decodeAuthzInfoRequest,
  decodeAuthzInfoResponse,
  decodeEnvelope,
  decodePopRequest,
  decodeResponseBody,
  encodeAuthzInfoRequest,
  encodeEnvelope,
  loadProvisioningBundle,
  memoryStorage,
  peekSessionMessage,
  serveAuthzInfo,
  serveRequest,
  type ResourceServer,
} from '../device/index.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';

const TUBE = 'tube-123';
const now = 1_800_000_000;
const clock = () => now;
const issuer = createFixtureIssuer(clock);
const GET = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };

function device(): ResourceServer {
  return createResourceServer({ trust: loadProvisioningBundle(issuer.bundleFor(TUBE), now), storage: memoryStorage(), clock, handler: () => ({ code: 205 }) });
}

// Valid messages of every kind, as seeds for mutation.
const popKey = ed25519Key('ekg');
const asymToken = issuer.token({ aud: TUBE, exp: now + 600, cnf: { coseKey: publicCoseKey(popKey) }, scope: [['/temp', 1]] });
const { popKey: symKey, cnf } = issuer.symmetricCnf(TUBE);
const symToken = issuer.token({ aud: TUBE, exp: now + 600, cnf, scope: [['/temp', 1]] });
const seedDevice = device();
const start = beginSession(symToken, symKey, memoryStorage());
const session = start.finish(serveAuthzInfo(seedDevice, start.body));
const sessionMessage = session.request(GET).message;
const popRequest = buildPopRequest({ token: asymToken, popKey, audience: TUBE, request: GET, includeToken: true, now });
const authzInfo = encodeAuthzInfoRequest({ token: asymToken });
const seeds = [start.body, authzInfo, popRequest, sessionMessage, encodeEnvelope('ekg-1', popRequest)];

const mutated = mutationsOf(seeds);
const inputs = fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated);

/** The device's answer to anything is a response body that names a refusal code, never 'internal'. */
function answeredTyped(answer: Uint8Array, door: 'authz-info' | 'req'): void {
  if (answer[0]! >> 6 === 1) {
    // A CoAP message in (RFC 7252 version 1) gets a CoAP message out (device/oscore-endpoint.ts), never 5.00.
    expect(decodeCoapMessage(answer).code).not.toBe(0xa0);
    return;
  }
  let body;
  try {
    body = decodeResponseBody(answer);
  } catch {
    // authz-info answers a success with its own map; a session message answers with a COSE_Encrypt0.
    if (door === 'authz-info') return void decodeAuthzInfoResponse(answer);
    return void peekSessionMessage(answer);
  }
  expect(body.error).not.toBe('internal');
}

describe("fuzzing the device's doors (a real runtime, random and mutated input)", () => {
  it('authz-info answers every input with a typed refusal or a success', () => {
    const dev = device();
    fc.assert(fc.property(inputs, (b) => answeredTyped(serveAuthzInfo(dev, b), 'authz-info')), { numRuns: 1500 });
  });
  it('req answers every input with a typed refusal or a protected answer', () => {
    const dev = device();
    serveAuthzInfo(dev, authzInfo);
    fc.assert(fc.property(inputs, (b) => answeredTyped(serveRequest(dev, b), 'req')), { numRuns: 1500 });
  });
  it('the seeds themselves are served (so the mutations start from real messages)', () => {
    const dev = device();
    expect(decodeResponseBody(serveRequest(dev, popRequest)).code).toBe(205);
  });
});

function onlyTypedErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (!(e instanceof CoseError || e instanceof DeviceError) || typeof code !== 'string') throw new Error(`untyped failure: ${String(e)}`);
  }
}

const shared = issuer.sharedKeyFor(TUBE);
const decoders: Array<[string, (b: Uint8Array) => unknown]> = [
  ['decodeAuthzInfoRequest', (b) => decodeAuthzInfoRequest(b)],
  ['decodePopRequest', (b) => decodePopRequest(b)],
  ['peekSessionMessage', (b) => peekSessionMessage(b)],
  ['decodeEnvelope', (b) => decodeEnvelope(b)],
  ['decodeResponseBody', (b) => decodeResponseBody(b)],
  ['verifyCoseSign', (b) => verifyCoseSign(b, publicCoseKey(issuer.signingKey))],
  ['verifyCoseMac', (b) => verifyCoseMac(b, shared)],
  ['decryptCoseEncrypt', (b) => decryptCoseEncrypt(b, shared)],
  ['openEncryptedCoseKey', (b) => openEncryptedCoseKey({ encryptedCoseKey: b }, shared)],
];

describe('fuzzing the decoders behind those doors', () => {
  for (const [name, decode] of decoders) {
    it(`${name}: random and mutated bytes give only typed errors`, () => {
      fc.assert(fc.property(inputs, (b) => onlyTypedErrors(() => decode(b))), { numRuns: 800 });
    });
  }
});
