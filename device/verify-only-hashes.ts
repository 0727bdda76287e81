/**
 * Stands in for cose/hash-functions.ts in the verify-only bundle (firmware-sim/device-bundle.ts
 * points it here): SHA-256 and SHA-512 as there, no SHA-384. Nothing in that bundle uses SHA-384:
 * ES384 needs P-384 (device/no-nist-curves.ts) and HMAC 384/384 needs HMAC
 * (device/no-symmetric-pop.ts), and noble's SHA-384 is a class and an IV of its own. A host that
 * asks its provider for a SHA-384 digest hears why, typed.
 */
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { CoseAlgorithmError, ERR } from '../cose/index.js';

const sha384 = (): never => {
  throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, 'SHA-384 is not in the verify-only bundle (nothing in it uses SHA-384)');
};

export const HASHES = { 'SHA-256': sha256, 'SHA-384': sha384, 'SHA-512': sha512 } as const;
