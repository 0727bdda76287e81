/**
 * Where the broker remembers proof jtis (DESIGN.md "PoP proof": iat plus a random jti held for
 * the acceptance window). In one process, device/'s bounded replay cache; on Redis, a key per jti
 * set with a TTL, so a proof replayed at another broker of the cluster is refused too.
 *
 * A claim also names the allowances a fresh proof draws on (its PoP key's, its client id's). In
 * one process admission.ts holds them; on Redis they are charged again cluster-wide, in the same
 * script as the jti (atomic: no flood of CONNECTs spread over the brokers, nor in flight at once,
 * gets past them), so a cluster of N brokers does not give a key N allowances.
 */
import { toHex, type Clock } from '../cose/index.js';
import { createReplayCache } from '../device/index.js';
import type { RateLimit } from './rate-limiter.js';

/** An allowance a fresh proof draws one unit from: a name (already short: a hash) and its rate. */
export interface Allowance {
  name: string;
  limit: RateLimit;
}

export interface JtiStore {
  /**
   * Records `jti` until `until` (seconds): 'seen' if it was already there, 'full' if no room is
   * left, 'busy' if a shared allowance is spent (nothing recorded, nothing charged).
   */
  claim(jti: Uint8Array, until: number, allowances?: readonly Allowance[]): Promise<'claimed' | 'seen' | 'full' | 'busy'>;
}

/** A broker admits thousands of clients a minute; 100k entries cover a 2-minute window at ~800/s. */
export const DEFAULT_JTI_ENTRIES = 100_000;

/** In one process the allowances are admission.ts's own buckets: nothing to share. */
export function memoryJtiStore(clock: Clock, maxEntries = DEFAULT_JTI_ENTRIES): JtiStore {
  // No per-owner share here: admission budgets each key and subject before a jti reaches the store.
  const cache = createReplayCache(clock, maxEntries, 1);
  return { claim: async (jti, until) => (cache.remember(jti, until) ? 'claimed' : cache.full() ? 'full' : 'seen') };
}

/** The slice of ioredis we use: EVAL with keys then arguments. */
export interface RedisEval {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

export const REDIS_JTI_PREFIX = 'keybound:jti:';
export const REDIS_ALLOWANCE_PREFIX = 'keybound:allow:';

/**
 * KEYS[1] the jti, KEYS[2..] the allowances (hash {t tokens, at ms}); ARGV[1] the jti's TTL in
 * ms, ARGV[2] now in ms, then burst and rate per allowance. A token bucket per allowance, refilled
 * by the time since it was last charged (never backwards: brokers' clocks differ a little); it
 * expires once it would be full again, so an idle name costs Redis nothing.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'seen' end
local now = tonumber(ARGV[2])
local tokens, at = {}, {}
for i = 2, #KEYS do
  local burst, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', KEYS[i], 't', 'at')
  local t, last = tonumber(v[1]) or burst, tonumber(v[2]) or now
  if now > last then t = math.min(burst, t + (now - last) / 1000 * rate); last = now end
  if t < 1 then return 'busy' end
  tokens[i], at[i] = t, last
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
for i = 2, #KEYS do
  local burst, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i] - 1), 'at', tostring(at[i]))
  local full = 86400000
  if rate > 0 then full = math.min(full, math.ceil(burst / rate * 1000)) end
  redis.call('PEXPIRE', KEYS[i], math.max(1000, full))
end
return 'claimed'
`;

export function redisJtiStore(redis: RedisEval, clock: Clock, prefix = REDIS_JTI_PREFIX): JtiStore {
  return {
    async claim(jti, until, allowances = []) {
      // At least one second: a TTL of 0 would be refused by Redis, and the iat check covers the rest.
      const ms = Math.max(1000, Math.ceil((until - clock()) * 1000));
      const keys = [prefix + toHex(jti), ...allowances.map((a) => REDIS_ALLOWANCE_PREFIX + a.name)];
      const args = [ms, Math.floor(clock() * 1000), ...allowances.flatMap((a) => [a.limit.burst, a.limit.perSecond])];
      const answer = await redis.eval(CLAIM_SCRIPT, keys.length, ...keys, ...args);
      if (answer === 'claimed' || answer === 'seen' || answer === 'busy') return answer;
      throw new TypeError('jti store: unexpected answer from Redis');
    },
  };
}
