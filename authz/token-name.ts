/**
 * How the store is asked for a token someone presents (introspection, revocation, a subject
 * token, an operator's token file): by its hash over the canonical bytes (cose/token-hash.ts)
 * and by the cti it shows, if it shows one (a Sign1 or Mac0 CWT). A store finds such a token
 * only by the two together (store.ts ctiInToken): the cti is read unverified, so a forged token
 * naming another token's cti matches nothing.
 */
import { canonicalWithCti, toHex, type CryptoProvider } from '../cose/index.js';

export function tokenName(ctx: { provider: CryptoProvider }, token: Uint8Array): [hash: string, cti: string | undefined] {
  // cose/token-hash.ts tokenHash: SHA-256 over the canonical bytes, canonicalized once for both.
  const { canonical, cti } = canonicalWithCti(token);
  return [toHex(ctx.provider.digest('SHA-256', canonical)), cti && toHex(cti)];
}
