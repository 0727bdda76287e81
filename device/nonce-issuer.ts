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

/** Hint nonces kept at once: the current one and a few it replaced, still good for a client. */
export const HINT_NONCES_KEPT = 4;
/** Seconds a hint nonce is handed out before a new one replaces it (a quarter of its lifetime). */
export const DEFAULT_HINT_ROTATE_AFTER = DEFAULT_NONCE_LIFETIME / 4;

export interface HintNonces {
  /** The nonce for a refusal's cnonce hint: the same one until it is used or rotateAfter passes. */
  current(): Uint8Array;
  /** As NonceIssuer.consume: each hint nonce is good for one proof only. */
  consume(nonce: Uint8Array): boolean;
}

/**
 * The nonces refusals carry as hints (RFC 9200 §5.3), in a pool apart from issue()'s. Anyone can
 * provoke a refusal without a key, so minting one per refusal would let junk flush the nonces real
 * clients are about to use. Here refusals share one current nonce, replaced only when a valid
 * proof consumes it (which takes the cnf key) or after rotateAfter seconds; so junk rotates
 * nothing, and issue()'s nonces never compete with hints for room.
 */
export function createHintNonces(
  clock: Clock,
  provider: Pick<CryptoProvider, 'randomBytes'>,
  opts: { rotateAfter?: number; lifetime?: number } = {},
): HintNonces {
  const rotateAfter = opts.rotateAfter ?? DEFAULT_HINT_ROTATE_AFTER;
  const pool = createNonceIssuer(clock, provider, { maxNonces: HINT_NONCES_KEPT, ...(opts.lifetime !== undefined ? { lifetime: opts.lifetime } : {}) });
  let current: { nonce: Uint8Array; key: string; since: number } | undefined;
  return {
    current() {
      if (!current || clock() - current.since >= rotateAfter) {
        const nonce = pool.issue();
        current = { nonce, key: toHex(nonce), since: clock() };
      }
      return new Uint8Array(current.nonce);
    },
    consume(nonce) {
      if (!pool.consume(nonce)) return false;
      if (current && toHex(nonce) === current.key) current = undefined;
      return true;
    },
  };
}
