/**
 * The device runtime's RAM budgets, derived from the part's RAM (issue 6: "the token store and
 * sessions must fit, or the device refuses"). keybound gets a stated share of the part's RAM;
 * after the runtime's fixed state, that share is split between the token store, OSCORE contexts,
 * the jti replay cache and the nonce pool, and device/ refuses (token_store_full, busy) rather
 * than grow past them. Sizes are what a C port would hold (as t_cose counts its structs), not the
 * JS heap's: the simulator models the device, not Node.
 */
import { DEFAULT_MAX_NONCES, DEFAULT_REPLAY_CACHE_ENTRIES, NONCE_BYTES, type DeviceProfile } from '../device/index.js';
import type { HardwareProfile } from './hardware-profiles.js';

/**
 * One eighth of the part's RAM for keybound. An estimate: the rest belongs to the application,
 * the network stack and its packet buffers (a 6LoWPAN/RPL or Thread stack, or lwIP for Wi-Fi,
 * takes the larger part of a class-1 device's RAM), the radio driver and the call stack (which
 * also carries the curve arithmetic's temporaries during a verify, not counted here). With it an
 * RFC 7228 class-1 part (~10 KiB) leaves keybound about a kilobyte: a token or two and an OSCORE context;
 * a class-0 part (2 KiB) leaves 256 bytes, less than the runtime's fixed state, so it refuses tokens.
 */
export const KEYBOUND_RAM_SHARE = 1 / 8;
/**
 * The runtime's fixed state, estimated: the trust store (an Ed25519 key 32, a P-256 key 64, one or
 * two symmetric keys 16-32, each with kid and type: ~200 bytes), the revocation list's cursor and
 * the exi floor (~32), the iat marker, and the hint-nonce pool (4 x 16 bytes + expiry: ~96).
 */
export const RUNTIME_FIXED_BYTES = 384;
/**
 * One OSCORE security context (RFC 8613 §3.1, made by an RFC 9203 /authz-info exchange): Sender and
 * Recipient Keys (16 + 16), the 13-byte Common IV, the Sender Sequence Number (8), the replay window
 * and its highest number (8 + 8), Sender and Recipient IDs (up to 7 + 7), the 32-byte hash of its
 * token and ~15 of bookkeeping: 128 bytes (estimate, from the fields of device/oscore-contexts.ts
 * and cose/oscore-state.ts). Contexts live in RAM: a reboot loses them (the client posts its token again).
 */
export const SESSION_RAM_BYTES = 128;
/** One jti cache entry: a 16-byte truncated digest of the jti plus a 4-byte expiry, padded: 24. */
export const REPLAY_ENTRY_RAM_BYTES = 24;
/** One outstanding verifier nonce: NONCE_BYTES plus a 4-byte expiry, padded. */
export const NONCE_ENTRY_RAM_BYTES = NONCE_BYTES + 8;
/**
 * How the share (after the fixed state) is split: half for tokens (the largest items, 150-300 bytes
 * each plus the store's per-entry overhead), a quarter for OSCORE contexts, an eighth each for the replay
 * cache and nonces. The last two are capped at device/'s defaults, which already cover a device's
 * request rate (device/replay-cache.ts, device/nonce-issuer.ts); more would never be used.
 */
const SPLIT = { tokens: 1 / 2, sessions: 1 / 4, replay: 1 / 8, nonces: 1 / 8 } as const;

/** Bytes of the part's RAM that keybound may use: a share of the RAM its sleep keeps (hw.ramBytes). */
export function keyboundRamBytes(hw: Pick<HardwareProfile, 'ramBytes'>): number {
  return Math.floor(hw.ramBytes * KEYBOUND_RAM_SHARE);
}

/** The device profile's budgets for this part: they sum to at most keyboundRamBytes(hw). */
export function deviceBudgets(hw: Pick<HardwareProfile, 'ramBytes'>): Pick<DeviceProfile, 'tokenBudgetBytes' | 'maxSessions' | 'replayCacheEntries' | 'maxNonces'> {
  if (!Number.isSafeInteger(hw.ramBytes) || hw.ramBytes < 0) throw new RangeError(`ramBytes must be a non-negative integer, got ${hw.ramBytes}`);
  const free = Math.max(0, keyboundRamBytes(hw) - RUNTIME_FIXED_BYTES);
  return {
    tokenBudgetBytes: Math.floor(free * SPLIT.tokens),
    maxSessions: Math.floor((free * SPLIT.sessions) / SESSION_RAM_BYTES),
    replayCacheEntries: Math.min(DEFAULT_REPLAY_CACHE_ENTRIES, Math.floor((free * SPLIT.replay) / REPLAY_ENTRY_RAM_BYTES)),
    maxNonces: Math.min(DEFAULT_MAX_NONCES, Math.floor((free * SPLIT.nonces) / NONCE_ENTRY_RAM_BYTES)),
  };
}
