/**
 * Token buckets: per client, for the relay topics anyone admitted may publish to
 * (`ace/<device>/authz-info`): tokens protect themselves, but a flood would fill a sleeping
 * device's queue. Pure: the clock is injected.
 */
import type { Clock } from '../cose/index.js';

export interface RateLimit {
  /** Messages allowed in a burst. */
  burst: number;
  /** Refill rate, messages per second. */
  perSecond: number;
}

/** A client delivers a token now and then; 10 at once and one a second is plenty. */
export const DEFAULT_RELAY_RATE: RateLimit = { burst: 10, perSecond: 1 };
/**
 * Fresh CONNECT (and refresh) proofs per PoP key (RFC 9679 thumbprint), whatever the number of
 * tokens bound to it: a device on a flaky link reconnects a few times in a row, never hundreds of
 * times a second; a key holder flooding CONNECTs would otherwise fill the shared jti store and
 * lock every other client out for the acceptance window.
 */
export const DEFAULT_CONNECT_RATE: RateLimit = { burst: 20, perSecond: 2 };
/**
 * Fresh proofs per client (the token's subject, which the service signed), whatever its keys:
 * bounds a client that makes a new key for every token. Keyed on the subject and not on the MQTT
 * client id, because any admitted key holder may sign proofs for any client id: a few of them
 * together could keep a chosen id locked out, but none can spend another client's subject.
 * Three keys' worth, so one client may run a few devices' keys side by side.
 */
export const DEFAULT_SUBJECT_CONNECT_RATE: RateLimit = { burst: 3 * DEFAULT_CONNECT_RATE.burst, perSecond: 3 * DEFAULT_CONNECT_RATE.perSecond };

export interface TokenBucket {
  take(): boolean;
  /** Gives back one unit taken for something that did not happen after all. */
  refund(): void;
  /** Refilled to its burst: forgetting it loses nothing (a new bucket starts full). */
  idle(): boolean;
}

export function createTokenBucket(clock: Clock, limit: RateLimit = DEFAULT_RELAY_RATE): TokenBucket {
  let tokens = limit.burst;
  let last = clock();
  const refill = () => {
    const now = clock();
    tokens = Math.min(limit.burst, tokens + Math.max(0, now - last) * limit.perSecond);
    last = now;
  };
  return {
    take() {
      refill();
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
    refund() {
      tokens = Math.min(limit.burst, tokens + 1);
    },
    idle() {
      refill();
      return tokens >= limit.burst;
    },
  };
}

/** Buckets a full table looks at, oldest first, for idle ones to drop. */
const EVICTION_LOOK = 256;

/** Buckets by name (a key thumbprint, a client id), at most `max` of them. */
export interface BucketTable {
  take(name: string): boolean;
  refund(name: string): void;
  readonly size: number;
}

export function createBucketTable(clock: Clock, limit: RateLimit, max: number): BucketTable {
  const buckets = new Map<string, TokenBucket>();
  const make = (name: string): TokenBucket => {
    if (buckets.size >= max) {
      // Idle buckets among the oldest first: dropping them changes nothing. Never all at once (a
      // flood of new names must not hand every busy name a fresh burst), and a bounded look per
      // insert (a flood must not buy a scan of the whole table); if none is idle, the oldest goes.
      let looked = 0;
      for (const [n, b] of buckets) {
        if (++looked > EVICTION_LOOK) break;
        if (b.idle()) buckets.delete(n);
      }
      if (buckets.size >= max) buckets.delete(buckets.keys().next().value!);
    }
    const b = createTokenBucket(clock, limit);
    buckets.set(name, b);
    return b;
  };
  return {
    take: (name) => (buckets.get(name) ?? make(name)).take(),
    refund: (name) => buckets.get(name)?.refund(),
    get size() {
      return buckets.size;
    },
  };
}
