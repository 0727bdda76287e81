/**
 * Verifier-issued nonces for PoP proofs and for clock-less token freshness (RFC 9200 §5.3.1
 * cnonce): each is random, lives a short time and is consumed by its first use.
 */
import { toHex, type Clock, type CryptoProvider } from '../cose/index.js';

/** 16 random bytes: collisions are out of reach and it fits a CoAP/MQTT frame easily. */
export const NONCE_BYTES = 16;
/** Outstanding nonces a device keeps; the oldest is forgotten first when more are asked for. */
export const DEFAULT_MAX_NONCES = 32;
/** A nonce not used within this many seconds is worthless (a proof is made right after asking). */
export const DEFAULT_NONCE_LIFETIME = 120;

export interface NonceIssuer {
  issue(): Uint8Array;
  /** True exactly once for a nonce this issuer gave out and that has not expired. */
  consume(nonce: Uint8Array): boolean;
}

export function createNonceIssuer(
  clock: Clock,
  provider: Pick<CryptoProvider, 'randomBytes'>,
  opts: { maxNonces?: number; lifetime?: number } = {},
): NonceIssuer {
  const max = opts.maxNonces ?? DEFAULT_MAX_NONCES;
  const lifetime = opts.lifetime ?? DEFAULT_NONCE_LIFETIME;
  const live = new Map<string, number>(); // insertion order = age
  return {
    issue() {
      const nonce = provider.randomBytes(NONCE_BYTES);
      while (live.size >= max) live.delete(live.keys().next().value!);
      live.set(toHex(nonce), clock() + lifetime);
      return nonce;
    },
    consume(nonce) {
      if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) return false;
      const key = toHex(nonce);
      const until = live.get(key);
      if (until === undefined) return false;
      live.delete(key);
      return until >= clock();
    },
  };
}
