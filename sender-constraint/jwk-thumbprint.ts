/**
 * JWK SHA-256 thumbprint (RFC 7638), the name DPoP gives a key (RFC 9449 §6.1 cnf.jkt): SHA-256
 * over the JSON of the key type's required public members only, in lexicographic order, without
 * whitespace (§3.2, §3.3). Computed synchronously with node:crypto: per proof, WebCrypto's
 * promise round trip cost more than the hash.
 */
import { createHash } from 'node:crypto';
import { coseKeyToJwk, publicCoseKey, type CoseKey } from '../cose/index.js';

/** RFC 7638 §3.2: the required members per kty (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2), sorted. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};

/** The thumbprint, base64url; undefined if the key lacks a required member or has an unknown kty. */
export function jwkThumbprint(jwk: Record<string, unknown>): string | undefined {
  const members = typeof jwk.kty === 'string' ? REQUIRED[jwk.kty] : undefined;
  if (!members) return undefined;
  const parts: string[] = [];
  for (const m of members) {
    const v = jwk[m];
    if (typeof v !== 'string') return undefined;
    // JSON.stringify escapes exactly as RFC 7638 §3.3 requires (RFC 7159 strings).
    parts.push(`${JSON.stringify(m)}:${JSON.stringify(v)}`);
  }
  return createHash('sha256').update(`{${parts.join(',')}}`, 'utf8').digest('base64url');
}

/**
 * The jkt of a key a DPoP-bound CWT carries in cnf as a COSE_Key (authz binds DPoP keys so, RFC
 * 8747 §3.2): the RFC 7638 thumbprint of the same key as a JWK, to compare with a proof's jkt.
 */
export function coseKeyJkt(key: CoseKey): string | undefined {
  return jwkThumbprint(coseKeyToJwk(publicCoseKey(key)) as Record<string, unknown>);
}
