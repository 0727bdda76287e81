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
  portableProvider,
  publicCoseKey,
  verifyCoseMac,
  verifyCoseSign,
} from '../cose/index.js';
import {
  DeviceError,
  beginOscoreClient,
  buildPopRequest,
  createResourceServer,
  decodeAuthzInfoRequest,
  decodeAuthzInfoPayload,
  decodeEnvelope,
  decodePopRequest,
  decodeResponseBody,
  encodeAuthzInfoRequest,
  encodeEnvelope,
  loadProvisioningBundle,
  memoryStorage,
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
const start = beginOscoreClient(symToken, { id: symKey.kid ?? new Uint8Array(0), ms: symKey.k! }, portableProvider);
const client = start.finish(serveAuthzInfo(seedDevice, start.message));
const oscoreMessage = client.request(GET).message;
const popRequest = buildPopRequest({ token: asymToken, popKey, audience: TUBE, request: GET, includeToken: true, now });
const authzInfo = encodeAuthzInfoRequest({ token: asymToken });
const seeds = [start.message, authzInfo, popRequest, oscoreMessage, encodeEnvelope('ekg-1', popRequest)];

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
    // authz-info answers a bare token's success with an empty map (RFC 9200 §5.10.1).
    expect(door).toBe('authz-info');
    return void expect([...answer]).toEqual([0xa0]);
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
  ['decodeAuthzInfoPayload', (b) => decodeAuthzInfoPayload(b)],
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
