/**
 * The jti cache for iat-based PoP proofs (DESIGN.md "PoP proof"): a jti is remembered until the
 * end of its acceptance window, so the same proof cannot be used twice within it. Bounded: when
 * full of live entries it refuses new proofs (the caller sees `busy`), it never forgets a live jti.
 */
import { toHex } from '../cose/index.js';
import type { Clock } from '../cose/index.js';

/** Default capacity: a device serves a few requests a second; 256 entries cover a 2-minute window. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 256;

export interface ReplayCache {
  /** Records `id` until `until` (seconds). Returns false if it was already there (a replay). */
  remember(id: Uint8Array, until: number): boolean;
  /** True when no more entries fit (after dropping expired ones). */
  full(): boolean;
  readonly size: number;
}

export function createReplayCache(clock: Clock, maxEntries = DEFAULT_REPLAY_CACHE_ENTRIES): ReplayCache {
  const entries = new Map<string, number>();
  const sweep = () => {
    const now = clock();
    for (const [k, until] of entries) if (until < now) entries.delete(k);
  };
  return {
    remember(id, until) {
      const key = toHex(id);
      const known = entries.get(key);
      if (known !== undefined && known >= clock()) return false;
      if (entries.size >= maxEntries) sweep();
      if (entries.size >= maxEntries) return false;
      entries.set(key, until);
      return true;
    },
    full() {
      if (entries.size >= maxEntries) sweep();
      return entries.size >= maxEntries;
    },
    get size() {
      return entries.size;
    },
  };
}
