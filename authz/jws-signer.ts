/**
 * The service's current signing key as a JOSE signer (jose), for the JWTs the HTTP side asks
 * for: certificate-bound access tokens (RFC 8705 §3, RFC 9068) and signed authorization
 * responses (JARM). The same key signs CWTs, and /jwks.json publishes it with the same kid.
 */
import { importJWK, type CryptoKey, type KeyObject } from 'jose';
import { coseKeyToJwk, toBase64Url, toHex } from '../cose/index.js';
import type { SigningKeys } from './signing-keys.js';

export interface JwsSigner {
  key: CryptoKey | KeyObject | Uint8Array;
  alg: 'EdDSA' | 'ES256';
  /** As /jwks.json publishes it (jwks.ts: base64url of the COSE kid). */
  kid: string;
  /** The same kid in hex, as logs name keys. */
  kidHex: string;
}

/** The JWS algorithm name of a signing key (signing-keys.ts makes EdDSA or ES256 keys). */
export function jwsAlgorithm(coseAlg: number | undefined): 'EdDSA' | 'ES256' {
  // COSE alg -8 is EdDSA, -7 is ES256 (RFC 9053 §2.1, §2.2).
  if (coseAlg === -8) return 'EdDSA';
  if (coseAlg === -7) return 'ES256';
  throw new RangeError('the signing key is neither EdDSA nor ES256');
}

export async function currentJwsSigner(keys: SigningKeys): Promise<JwsSigner> {
  const { key } = keys.current();
  const alg = jwsAlgorithm(key.alg);
  return { key: await importJWK({ ...coseKeyToJwk(key), alg }, alg), alg, kid: toBase64Url(key.kid!), kidHex: toHex(key.kid!) };
}
