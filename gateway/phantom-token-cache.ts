/**
 * The gateway's "phantom token" cache (DESIGN.md "Connected flow"): a reference token is
 * introspected at the service (RFC 7662; RFC 9200 §5.9) and the answer kept, keyed by the SHA-256
 * of the token (the gateway never keeps the token itself), so the next request with the same token
 * is answered without calling the service. An active answer is kept until the token's exp or
 * PHANTOM_MAX_TTL_S, whichever comes first: that bound is how long a token revoked at the service
 * may still be served (RFC 7662 §4 leaves the trade-off to the resource server). An inactive answer
 * is kept briefly, so a client retrying a dead token does not turn into a call per request.
 * Bounded: when full, expired entries go first, then the least recently used one. The gateway
 * (phantom-token.ts) keeps the introspected claims with an active answer (`value`); the firmware
 * simulator's gateway model uses this same cache with no value.
 */
import { createHash } from 'node:crypto';

/** Entries held: one per live reference token the gateway has seen recently. */
export const PHANTOM_CACHE_ENTRIES = 1024;
/** Seconds an active answer is trusted: at most this long between a revocation and its effect. */
export const PHANTOM_MAX_TTL_S = 300;
/** Seconds an inactive answer is kept. */
export const PHANTOM_INACTIVE_TTL_S = 30;

export interface IntrospectionAnswer {
  active: boolean;
  /** The token's expiry, seconds since the epoch, when the service said (RFC 7662 §2.2 exp). */
  exp?: number;
}

export type CacheLookup<T = undefined> = { hit: true; active: boolean; value?: T } | { hit: false; expired: boolean };

interface Entry<T> {
  active: boolean;
  value?: T;
  /** Seconds since the epoch at which the entry stops being used. */
  until: number;
}

export class PhantomTokenCache<T = undefined> {
  private readonly entries = new Map<string, Entry<T>>();
  hits = 0;
  misses = 0;
  /** Misses because the entry had expired (TTL or token exp). */
  expired = 0;
  /** Entries pushed out to make room while still valid. */
  evictions = 0;

  constructor(
    private readonly clock: () => number,
    readonly opts: { maxEntries?: number; maxTtlS?: number; inactiveTtlS?: number } = {},
  ) {
    const max = opts.maxEntries ?? PHANTOM_CACHE_ENTRIES;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${max}`);
  }

  static key(token: Uint8Array): string {
    return createHash('sha256').update(token).digest('hex');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached answer for this token, if there is a live one. */
  lookup(token: Uint8Array): CacheLookup<T> {
    const key = PhantomTokenCache.key(token);
    const e = this.entries.get(key);
    if (e && e.until > this.clock()) {
      this.hits++;
      // Most recently used last: Map keeps insertion order.
      this.entries.delete(key);
      this.entries.set(key, e);
      return { hit: true, active: e.active, ...(e.value !== undefined ? { value: e.value } : {}) };
    }
    this.misses++;
    if (e) {
      this.expired++;
      this.entries.delete(key);
    }
    return { hit: false, expired: e !== undefined };
  }

  /** The live value for this token without counting a lookup (a second read within one request). */
  peek(token: Uint8Array): T | undefined {
    const e = this.entries.get(PhantomTokenCache.key(token));
    return e && e.until > this.clock() ? e.value : undefined;
  }

  /** Keeps the service's answer for this token; returns until when (seconds since the epoch). */
  store(token: Uint8Array, answer: IntrospectionAnswer, value?: T): number {
    const now = this.clock();
    const maxTtl = this.opts.maxTtlS ?? PHANTOM_MAX_TTL_S;
    const until = answer.active ? Math.min(answer.exp ?? Number.POSITIVE_INFINITY, now + maxTtl) : now + (this.opts.inactiveTtlS ?? PHANTOM_INACTIVE_TTL_S);
    const key = PhantomTokenCache.key(token);
    this.entries.delete(key);
    if (until <= now) return until;
    const max = this.opts.maxEntries ?? PHANTOM_CACHE_ENTRIES;
    if (this.entries.size >= max) {
      for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
    }
    while (this.entries.size >= max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evictions++;
    }
    this.entries.set(key, { active: answer.active, until, ...(value !== undefined && answer.active ? { value } : {}) });
    return until;
  }
}
