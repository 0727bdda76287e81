/**
 * A token bucket per client, for the relay topics anyone admitted may publish to
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
 * Fresh CONNECT (and refresh) proofs per token: a device on a flaky link reconnects a few times
 * in a row, never hundreds of times a second; a key holder flooding CONNECTs would otherwise fill
 * the shared jti store and lock every other client out for the acceptance window.
 */
export const DEFAULT_CONNECT_RATE: RateLimit = { burst: 20, perSecond: 2 };

export interface TokenBucket {
  take(): boolean;
  /** Gives back one unit taken for something that did not happen after all. */
  refund(): void;
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
  };
}
