/**
 * Token hashes as the ACE revoked-token draft defines them: SHA-256 over the token's exact bytes
 * as sent (we emit tokens with an empty unprotected header, so those bytes never change in
 * transit), named in RFC 6920 `ni` form where people read them.
 */
import { toBase64Url } from './bytes.js';
import type { CryptoProvider } from './crypto-provider.js';
import { portableProvider } from './portable-provider.js';

export function tokenHash(token: Uint8Array, provider: CryptoProvider = portableProvider): Uint8Array {
  return provider.digest('SHA-256', token);
}

/** RFC 6920 §3: `ni:///sha-256;<base64url>`. */
export function tokenHashUri(hash: Uint8Array): string {
  return `ni:///sha-256;${toBase64Url(hash)}`;
}
