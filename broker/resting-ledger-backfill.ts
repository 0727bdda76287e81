/**
 * Sessions that rested before the ledger existed (resting-session-ledger.ts): a broker of an
 * earlier version watched them with its own timers only, so after the upgrade's restart nothing
 * would end them. Once per Redis (a marker key, set when a walk is complete; brokers that start
 * together may both walk, and the second adds nothing: an entry is never overwritten), every
 * persistent session aedes-persistence-redis keeps (its `clients` set: the clean=false sessions
 * with stored filters) that has no ledger entry gets one:
 * - its client id's owner record (client-id-owners.ts) still there: it ends when that record
 *   does (the record's TTL is the token's expiry plus the grace), under the record's connection,
 *   so a session connected somewhere is only ended if that connection is gone by then;
 * - no record: its end is unknown, so it gets a whole grace from now, never ended at once (a
 *   device asleep through the upgrade still finds its queue).
 * Paged (SSCAN), one script per session: a large store is walked without holding Redis.
 */
import type { Clock, CryptoProvider } from '../cose/index.js';
import { clientIdDigest, REDIS_CLIENT_ID_PREFIX } from './client-id-owners.js';
import type { RedisEval } from './jti-store.js';
import { REDIS_RESTING_PREFIX } from './resting-session-ledger.js';

/** Set once the sessions of a store have been given ledger entries. */
export const REDIS_RESTING_BACKFILLED = `${REDIS_RESTING_PREFIX}:backfilled`;
/** aedes-persistence-redis's set of client ids with stored subscriptions. */
const AEDES_CLIENTS_KEY = 'clients';
const PAGE = 500;

export interface RedisScan extends RedisEval {
  exists(key: string): Promise<number>;
  set(key: string, value: string): Promise<unknown>;
  sscan(key: string, cursor: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
}

/**
 * KEYS: the owner record, the ledger's ends, its who. ARGV: member, client id, now (s), grace (s).
 * The connection is the record's last field; without a record, "-" (no connection holds it).
 */
const BACKFILL_SCRIPT = `
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local v = redis.call('GET', KEYS[1])
local connection, ends = '-', tonumber(ARGV[3]) + tonumber(ARGV[4])
if v then
  connection = string.match(v, ' (%S+)$') or '-'
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then ends = tonumber(ARGV[3]) + ttl / 1000 end
end
redis.call('ZADD', KEYS[2], ends, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], connection .. ' ' .. ARGV[2])
return 1
`;

/** Gives every persistent session without a ledger entry one (once per Redis); resolves with how many. */
export async function backfillRestingLedger(redis: RedisScan, provider: CryptoProvider, clock: Clock, graceS: number): Promise<number> {
  if ((await redis.exists(REDIS_RESTING_BACKFILLED)) === 1) return 0;
  let added = 0;
  let cursor = '0';
  do {
    const [next, ids] = await redis.sscan(AEDES_CLIENTS_KEY, cursor, 'COUNT', PAGE);
    for (const clientId of ids) {
      const member = clientIdDigest(provider, clientId);
      const answer = await redis.eval(BACKFILL_SCRIPT, 3, REDIS_CLIENT_ID_PREFIX + member, REDIS_RESTING_PREFIX, `${REDIS_RESTING_PREFIX}:who`, member, clientId, clock(), graceS);
      if (answer === 1) added++;
    }
    cursor = next;
  } while (cursor !== '0');
  // Only a complete walk counts: one cut short (Redis went away) is walked again at the next start.
  await redis.set(REDIS_RESTING_BACKFILLED, String(Math.floor(clock())));
  return added;
}
