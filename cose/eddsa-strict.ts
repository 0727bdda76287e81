/**
 * The EdDSA rules both crypto providers apply before their primitive, so that they refuse the
 * same signatures (the portable one on @noble with zip215: false, the native one on OpenSSL,
 * which alone admitted R = identity, S = 0 under the identity key). RFC 8032 §5.1.7 / §5.2.7
 * and "Taming the many EdDSAs" (Chalkias et al., 2020), as libsodium does:
 * - A and R canonical (y < p) and not of small order (curve-points.ts);
 * - S < L, so a signature cannot be re-encoded as S + L (malleability).
 */
import { edwardsPointFlaw, isReducedScalar } from './curve-points.js';

export function eddsaStrictlyValid(crv: 'Ed25519' | 'Ed448', publicKey: Uint8Array, signature: Uint8Array): boolean {
  const n = crv === 'Ed25519' ? 32 : 57;
  // A caller's CoseKey object may carry anything (no x, an array of numbers): only bytes are a key.
  if (!(publicKey instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
  if (publicKey.length !== n || signature.length !== 2 * n) return false;
  if (edwardsPointFlaw(crv, publicKey) || edwardsPointFlaw(crv, signature.subarray(0, n))) return false;
  return isReducedScalar(crv, signature.subarray(n));
}
