/**
 * Imported DPoP proof keys by (alg, RFC 7638 thumbprint): a client proves with one key for many
 * requests, and importing it (WebCrypto) costs more than the signature check. The thumbprint
 * covers every member that defines the public key (RFC 7638 §3.2), so one thumbprint is one key.
 * Bounded: the oldest entry leaves when it is full.
 */
import { importJWK, type CryptoKey, type JWK } from 'jose';

/** Distinct client keys kept imported; at about 1 KB each, a megabyte at most. */
export const PROOF_KEY_CACHE_ENTRIES = 1024;

const cache = new Map<string, Promise<CryptoKey | Uint8Array>>();

/** The proof's public key, imported for `alg` (jose checks it fits: type, curve, RSA size). */
export function proofKey(jwk: JWK, alg: string, jkt: string): Promise<CryptoKey | Uint8Array> {
  const id = `${alg} ${jkt}`;
  let key = cache.get(id);
  if (key) return key;
  // Only public members reach here (dpop-proof.ts refuses private ones).
  key = importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, n: jwk.n, e: jwk.e } as JWK, alg);
  // A key that fails to import is not kept: the next proof with it is checked afresh.
  key.catch(() => cache.delete(id));
  if (cache.size >= PROOF_KEY_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(id, key);
  return key;
}
