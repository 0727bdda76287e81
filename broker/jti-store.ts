/**
 * Where the broker remembers proof jtis (DESIGN.md "PoP proof": iat plus a random jti held for
 * the acceptance window). In one process, device/'s bounded replay cache; on Redis, a key per jti
 * set with NX and a TTL, so a proof replayed at another broker of the cluster is refused too.
 */
import { toHex, type Clock } from '../cose/index.js';
import { createReplayCache } from '../device/index.js';

export interface JtiStore {
  /** Records `jti` until `until` (seconds): 'seen' if it was already there, 'full' if no room is left. */
  claim(jti: Uint8Array, until: number): Promise<'claimed' | 'seen' | 'full'>;
}

/** A broker admits thousands of clients a minute; 100k entries cover a 2-minute window at ~800/s. */
export const DEFAULT_JTI_ENTRIES = 100_000;

export function memoryJtiStore(clock: Clock, maxEntries = DEFAULT_JTI_ENTRIES): JtiStore {
  const cache = createReplayCache(clock, maxEntries);
  return { claim: async (jti, until) => (cache.remember(jti, until) ? 'claimed' : cache.full() ? 'full' : 'seen') };
}

/** The slice of ioredis we use: `SET key value PX ms NX` answers 'OK' or null. */
export interface RedisSetNx {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<'OK' | null>;
}

export const REDIS_JTI_PREFIX = 'keybound:jti:';

export function redisJtiStore(redis: RedisSetNx, clock: Clock, prefix = REDIS_JTI_PREFIX): JtiStore {
  return {
    async claim(jti, until) {
      // At least one second: a TTL of 0 would be refused by Redis, and the iat check covers the rest.
      const ms = Math.max(1000, Math.ceil((until - clock()) * 1000));
      return (await redis.set(prefix + toHex(jti), '1', 'PX', ms, 'NX')) === 'OK' ? 'claimed' : 'seen';
    },
  };
}
