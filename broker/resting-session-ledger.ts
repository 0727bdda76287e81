/**
 * Persistent sessions at rest, in Redis: one ledger for every broker on that Redis, outliving
 * each of them. resting-sessions.ts watches a session at rest with a timer in the broker it left;
 * a broker that restarts (a deploy, a crash) forgets its timers, while aedes-persistence-redis
 * keeps the sessions they watched until a clean CONNECT under their id. A device that never came
 * back then held its filters, and kept queueing QoS 1/2 messages, for ever. Here each session at
 * rest is an entry (its client id's hash, scored by its end) that any broker on the Redis ends
 * once due: at start, when one of its own timers fires, and at least every RESTING_SWEEP_MS.
 *
 * Taking an entry leases it (its score moves RESTING_LEASE_S ahead) rather than removing it: a
 * broker that dies between taking and ending leaves it to be taken again, and only `done`, with
 * the entry as it was taken, removes it. An entry whose session came back is left as it is: its
 * end (hooks.ts endAtRest) finds the id held by another connection and does nothing.
 */
import type { Clock, CryptoProvider } from '../cose/index.js';
import { clientIdDigest } from './client-id-owners.js';
import type { RedisEval } from './jti-store.js';
import { MAX_TIMER_MS } from './timer-delay.js';

export const REDIS_RESTING_PREFIX = 'keybound:resting';
/** The longest wait between sweeps: catches entries left by brokers that are gone. */
export const RESTING_SWEEP_MS = 60_000;
/** A taken entry comes back after this, should its broker not end it (died, Redis down). */
export const RESTING_LEASE_S = 60;
/** Entries taken by one script call: one sweep never holds Redis long. */
const TAKE_AT_ONCE = 100;
const MIN_WAIT_MS = 100;

export interface RestingEntry {
  clientId: string;
  /** The connection that left the session (hooks.ts: its CONNECT proof's jti, hex). */
  connection: string;
  /** What `done` compares: the entry as taken. */
  held: string;
}

export interface RestingSessionLedger {
  /** The connection of a persistent session closed: its session ends at `until` (seconds). */
  rest(clientId: string, connection: string, until: number): Promise<void>;
  /** Leases up to TAKE_AT_ONCE entries due at `now`; `next` is the earliest end left (seconds). */
  take(now: number): Promise<{ due: RestingEntry[]; next: number | undefined }>;
  /** The entry's session ended (or was no longer at rest): remove it, unless it rested again since. */
  done(entry: RestingEntry): Promise<void>;
}

/** KEYS[1] the ends (sorted set: id hash → end, s), KEYS[2] who (hash: id hash → "<connection> <client id>"). */
const REST_SCRIPT = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
`;
/** ARGV: now, lease end, how many. Returns the taken entries' "who", then the earliest end left. */
const TAKE_SCRIPT = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(due) do
  local who = redis.call('HGET', KEYS[2], m)
  if who then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], m)
    out[#out + 1] = who
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
out[#out + 1] = first[2] or ''
return out
`;
const DONE_SCRIPT = `
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
`;

export function redisRestingSessionLedger(redis: RedisEval, provider: CryptoProvider): RestingSessionLedger {
  const keys = [REDIS_RESTING_PREFIX, `${REDIS_RESTING_PREFIX}:who`] as const;
  // Client ids are attacker-chosen text (up to 64 KiB): the sorted set holds their hash.
  const member = (clientId: string) => clientIdDigest(provider, clientId);
  return {
    async rest(clientId, connection, until) {
      await redis.eval(REST_SCRIPT, 2, ...keys, until, member(clientId), `${connection} ${clientId}`);
    },
    async take(now) {
      const answer = await redis.eval(TAKE_SCRIPT, 2, ...keys, now, now + RESTING_LEASE_S, TAKE_AT_ONCE);
      if (!Array.isArray(answer) || !answer.every((x) => typeof x === 'string')) throw new TypeError('resting sessions: unexpected answer from Redis');
      const rows = answer as string[];
      const next = rows.pop();
      const due: RestingEntry[] = [];
      for (const held of rows) {
        const space = held.indexOf(' ');
        if (space > 0) due.push({ connection: held.slice(0, space), clientId: held.slice(space + 1), held });
      }
      return { due, next: next ? Number(next) : undefined };
    },
    async done(entry) {
      await redis.eval(DONE_SCRIPT, 2, ...keys, member(entry.clientId), entry.held);
    },
  };
}

export interface RestingSweeps {
  /** Sweep now (the broker is up, or one of its timers fired); a sweep under way sweeps again after. */
  kick(): void;
  close(): void;
}

/**
 * Ends due sessions from the ledger with `end` (true: finished, whether it ended the session or
 * found it back; false: try again after the lease), then waits until the earliest end left, at
 * most RESTING_SWEEP_MS (entries other brokers add are theirs to watch until they go away). The
 * first sweep is the caller's `kick`, once the store can end sessions.
 */
export function startRestingSweeps(ledger: RestingSessionLedger, clock: Clock, end: (entry: RestingEntry) => Promise<boolean>, failed: (error: Error) => void): RestingSweeps {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  let closed = false;
  const arm = (next: number | undefined): void => {
    if (closed) return;
    // Not sooner than MIN_WAIT_MS: an end another broker's clock put in our past is no hot loop.
    const ms = next === undefined ? RESTING_SWEEP_MS : Math.max(MIN_WAIT_MS, Math.ceil((next - clock()) * 1000));
    timer = setTimeout(kick, Math.min(ms, RESTING_SWEEP_MS, MAX_TIMER_MS));
    timer.unref?.();
  };
  async function sweep(): Promise<number | undefined> {
    for (;;) {
      const { due, next } = await ledger.take(clock());
      for (const entry of due) if (!closed && (await end(entry))) await ledger.done(entry);
      if (due.length < TAKE_AT_ONCE || closed) return next;
    }
  }
  function kick(): void {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = true;
    sweep().then(
      (next) => finish(next),
      (e: Error) => {
        if (!closed) failed(e); // closing: the store's connection went first
        finish(undefined);
      },
    );
  }
  function finish(next: number | undefined): void {
    running = false;
    if (again) {
      again = false;
      kick();
    } else arm(next);
  }
  return {
    kick,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
