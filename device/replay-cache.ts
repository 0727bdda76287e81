/**
 * The jti cache for iat-based PoP proofs (DESIGN.md "PoP proof"): a jti is remembered until the
 * end of its acceptance window, so the same proof cannot be used twice within it. Bounded: when
 * full of live entries it refuses new proofs (the caller sees `busy`), it never forgets a live jti.
 * Budgets per client, not per proof (issue 9 finding 9): one owner (the token's subject) holds at
 * most a quarter of the entries, so one key holder's burst of fresh proofs cannot refuse everyone.
 */
import { toHex } from '../cose/index.js';
import type { Clock } from '../cose/index.js';

/** Default capacity: a device serves a few requests a second; 256 entries cover a 2-minute window. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 256;
/** One owner holds at most 1/REPLAY_CACHE_SHARE of the entries. */
export const REPLAY_CACHE_SHARE = 4;

export interface ReplayCache {
  /** Records `id` for `owner` until `until` (seconds). Returns false if it was already there (a replay) or does not fit. */
  remember(id: Uint8Array, until: number, owner?: string): boolean;
  /** True when no more entries fit for `owner` (after dropping expired ones). */
  full(owner?: string): boolean;
  readonly size: number;
}

/**
 * `ownerShare`: one owner holds at most 1/ownerShare of the entries (default REPLAY_CACHE_SHARE);
 * 1 turns the share off, for a caller that budgets its owners before the cache (the broker).
 */
export function createReplayCache(clock: Clock, maxEntries = DEFAULT_REPLAY_CACHE_ENTRIES, ownerShare = REPLAY_CACHE_SHARE): ReplayCache {
  const entries = new Map<string, { until: number; owner: string }>();
  const perOwner = new Map<string, number>();
  const share = Math.max(1, Math.floor(maxEntries / Math.max(1, ownerShare)));
  const count = (owner: string, by: number) => {
    const n = (perOwner.get(owner) ?? 0) + by;
    if (n > 0) perOwner.set(owner, n);
    else perOwner.delete(owner);
  };
  const sweep = () => {
    const now = clock();
    for (const [k, e] of entries) {
      if (e.until < now) {
        entries.delete(k);
        count(e.owner, -1);
      }
    }
  };
  const isFull = (owner: string) => entries.size >= maxEntries || (perOwner.get(owner) ?? 0) >= share;
  return {
    remember(id, until, owner = '') {
      const key = toHex(id);
      const known = entries.get(key);
      if (known !== undefined && known.until >= clock()) return false;
      if (isFull(owner)) sweep();
      if (isFull(owner)) return false;
      if (known !== undefined) count(known.owner, -1);
      entries.set(key, { until, owner });
      count(owner, 1);
      return true;
    },
    full(owner = '') {
      if (isFull(owner)) sweep();
      return isFull(owner);
    },
    get size() {
      return entries.size;
    },
  };
}
