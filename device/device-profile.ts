/**
 * A device's budgets (STYLE.md, t_cose: take budgets from a profile and refuse rather than grow).
 */
import { DEFAULT_TOKEN_BUDGET_BYTES } from './token-store.js';
import { DEFAULT_REPLAY_CACHE_ENTRIES } from './replay-cache.js';
import { DEFAULT_MAX_NONCES } from './nonce-issuer.js';
import { DEFAULT_IAT_WINDOW } from './pop-proof.js';

export interface DeviceProfile {
  /** Bytes of verified tokens held at once. */
  tokenBudgetBytes: number;
  /** Protected sessions open at once (each ~ SESSION_BYTES of RAM). */
  maxSessions: number;
  /**
   * Sessions per token still waiting for their first authentic message. Opening a session needs
   * only the token, which may be stolen: unproven sessions never push out proven ones, and this
   * cap keeps one token from churning the table (the oldest unproven one of the token goes first).
   */
  maxUnprovenSessionsPerToken: number;
  /** jti entries for iat-based proofs. */
  replayCacheEntries: number;
  /** Outstanding verifier nonces. */
  maxNonces: number;
  /** Seconds of clock skew tolerated on exp/nbf (RFC 8392 leaves this to the verifier). */
  leeway: number;
  /** Seconds either side of now that a proof's iat may be. */
  iatWindow: number;
  /** AEAD for protected sessions (default AES-CCM-16-64-128, RFC 8613 §3.2.1's mandatory one). */
  sessionAlg: number;
}

export const DEFAULT_DEVICE_PROFILE: Readonly<DeviceProfile> = Object.freeze({
  tokenBudgetBytes: DEFAULT_TOKEN_BUDGET_BYTES,
  maxSessions: 8,
  maxUnprovenSessionsPerToken: 2,
  replayCacheEntries: DEFAULT_REPLAY_CACHE_ENTRIES,
  maxNonces: DEFAULT_MAX_NONCES,
  leeway: 60,
  iatWindow: DEFAULT_IAT_WINDOW,
  sessionAlg: 10,
});
