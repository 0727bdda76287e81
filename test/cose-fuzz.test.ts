/**
 * Random and mutated bytes thrown at every decoder in the core: the only acceptable outcomes
 * are a result or a typed CoseError with a code. Never a TypeError, a RangeError, or a hang.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mutationsOf } from './support/mutations.js';
import {
  CoseError,
  createCwt,
  createEncrypt0,
  createMac0,
  createRevocationList,
  decodeCbor,
  decodeCoseKey,
  decodeProvisioningBundle,
  decryptEncrypt0,
  encodeProvisioningBundle,
  publicCoseKey,
  sealCoseKey,
  utf8,
  verifyCwt,
  verifyMac0,
  verifyRevocationList,
  verifySign1,
} from '../cose/index.js';
import { secretKey, signingKey } from './support/keys.js';

const as = signingKey();
const client = signingKey('P-256');
const shared = secretKey(16, 'rs');
const NOW = 1_800_000_000;
const token = createCwt(
  { iss: 'as', aud: 'tube-123', exp: NOW + 60, cti: utf8('c'), cnf: { coseKey: publicCoseKey(client.priv) }, scope: [['/temp', 1]] },
  as.priv,
);
const sealedToken = createCwt({ aud: 'tube-123', exp: NOW + 60, cnf: sealCoseKey(secretKey(32, 'pop'), shared) }, as.priv, { encryptTo: shared });
const mac = createMac0(utf8('m'), secretKey(32));
const enc = createEncrypt0(utf8('e'), shared);
const trl = createRevocationList({ audience: 'tube-123', sequence: 3, fullSet: [new Uint8Array(32)] }, as.priv);
const bundle = encodeProvisioningBundle({ version: 1, deviceId: 'd', audience: 'tube-123', issuer: 'as', trustAnchors: [as.pub] });

const decoders: [string, (b: Uint8Array) => unknown][] = [
  ['decodeCbor', (b) => decodeCbor(b)],
  ['verifySign1', (b) => verifySign1(b, as.pub)],
  ['verifyMac0', (b) => verifyMac0(b, shared)],
  ['decryptEncrypt0', (b) => decryptEncrypt0(b, shared)],
  ['verifyCwt', (b) => verifyCwt(b, as.pub, { audience: 'tube-123', clock: () => NOW, decryptionKeys: shared })],
  ['decodeCoseKey', (b) => decodeCoseKey(b)],
  ['verifyRevocationList', (b) => verifyRevocationList(b, as.pub, { audience: 'tube-123' })],
  ['decodeProvisioningBundle', (b) => decodeProvisioningBundle(b)],
];

const seeds = [token, sealedToken, mac, enc, trl, bundle];

function onlyTypedErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof CoseError) || typeof e.code !== 'string' || !e.code.startsWith('ERR_')) {
      throw new Error(`untyped failure: ${String(e)}`);
    }
  }
}

/** A valid message with a few bytes overwritten, inserted or cut. */
const mutated = mutationsOf(seeds);

describe('fuzzing every decoder', () => {
  for (const [name, decode] of decoders) {
    it(`${name}: random bytes give only typed errors`, () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyTypedErrors(() => decode(b))), { numRuns: 1500 });
    });
    it(`${name}: mutated valid messages give only typed errors`, () => {
      fc.assert(fc.property(mutated, (b) => onlyTypedErrors(() => decode(b))), { numRuns: 1500 });
    });
  }

  it('a mutated token never verifies with different claims', () => {
    fc.assert(
      fc.property(mutated, (b) => {
        try {
          const out = verifyCwt(b, as.pub, { audience: 'tube-123', clock: () => NOW });
          // Only mutations that leave the signed bytes alone may pass (e.g. a dropped CWT tag).
          expect(out.claims.iss).toBe('as');
        } catch (e) {
          expect(e).toBeInstanceOf(CoseError);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
