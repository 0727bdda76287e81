/**
 * Who holds an MQTT client id: the PoP key (its RFC 9679 thumbprint) of the session under it,
 * until that session's token expires. MQTT 3.1.1 §3.1.4 lets a new CONNECT under a client id
 * take the old one's place, and aedes does so across a cluster ($SYS/<broker>/new/clients closes
 * the holder at every peer) and for a persistent session at rest (clean=true wipes its
 * subscriptions; clean=false hands its queued QoS 1/2 messages to the newcomer, and aedes clears
 * those the newcomer may not receive). The proof binds the client id, but anyone admitted can
 * sign proofs for any id: without this record, any admitted client could cut off a connected
 * client at another broker, and wipe or drain a sleeping device's session.
 *
 * A record is kept while the connection lives, and for a persistent session (clean=false) after
 * it closes, until its session ends: the token's expiry plus PERSISTENT_SESSION_GRACE_S. A device
 * whose token runs out while it sleeps keeps its session (its queued tokens and requests) until
 * it wakes with a new one; before, the record went at the token's expiry and any key could then
 * wipe the session with a clean=true CONNECT (MQTT 3.1.1 §3.1.2.4). A clean session's record goes
 * when it closes. Another key may take the id only from a holder whose token is revoked (the
 * caller, hooks.ts, knows); with a token of the holder's own signed subject (the same client after
 * a key rotation: the service says who it is, so a device is never locked out of its own id); or,
 * with a token whose signed subject is the client id itself, from a holder whose token's subject
 * is not (a first comer cannot squat a device's name). In one process: a
 * bounded map; on Redis: one key per client id with the token's remaining life as TTL, written
 * by a script (no two brokers both take an id), so peers and restarted brokers agree.
 */
import { toHex, utf8, type Clock, type CryptoProvider } from '../cose/index.js';
import type { RedisEval } from './jti-store.js';

export interface ClientIdOwner {
  /** The PoP key's thumbprint (hex): the same key may always take its own session back. */
  key: string;
  /** The holder token's hash (hex): a revoked holder holds nothing. */
  token: string;
  /** This connection (its CONNECT proof's jti, hex): only it releases the record. */
  connection: string;
  /** The record's end (seconds): the token's expiry, plus PERSISTENT_SESSION_GRACE_S for a persistent session. */
  until: number;
  /** The token's subject is the client id (the service named this client so). */
  named: boolean;
  /** The token's signed subject, if any: a newer token of the same subject may take the id. */
  subject?: string;
}

/**
 * How long a persistent session outlives its token at rest: a day for a device that sleeps past
 * its token's expiry to wake with a new one and find what waited for it. Past it the session ends
 * (hooks.ts ends it at rest) and the id is free.
 */
export const PERSISTENT_SESSION_GRACE_S = 24 * 3600;

export interface ClientIdOwners {
  /**
   * Records `owner` as the holder of `clientId`, unless another key holds it: then nothing is
   * written and the holder's token hash is returned. `unlessHeldBy` names a holder token (revoked)
   * whose record may be replaced.
   */
  claim(clientId: string, owner: ClientIdOwner, unlessHeldBy?: string): Promise<string | undefined>;
  /**
   * The session of `connection` ended (a clean session closed, a persistent one's grace ran out):
   * the id is free again. False when another connection holds it (it came back, here or at a
   * peer); true when the record was this connection's or is gone (expired: on Redis its TTL ends
   * with the session, so the record may go a moment before the caller's timer fires).
   */
  release(clientId: string, connection: string): Promise<boolean>;
}

/** Client ids remembered by one process; past it, expired records, then the oldest, go. */
export const MAX_CLIENT_ID_OWNERS = 100_000;

export function memoryClientIdOwners(clock: Clock, max = MAX_CLIENT_ID_OWNERS): ClientIdOwners {
  const records = new Map<string, ClientIdOwner>();
  return {
    async claim(clientId, owner, unlessHeldBy) {
      const held = records.get(clientId);
      const sameSubject = owner.subject !== undefined && held?.subject === owner.subject;
      if (held && held.until > clock() && held.key !== owner.key && held.token !== unlessHeldBy && !(owner.named && !held.named) && !sameSubject) return held.token;
      records.delete(clientId);
      if (records.size >= max) {
        const now = clock();
        for (const [id, r] of records) if (r.until <= now) records.delete(id);
        if (records.size >= max) records.delete(records.keys().next().value!);
      }
      records.set(clientId, { ...owner });
      return undefined;
    },
    async release(clientId, connection) {
      const held = records.get(clientId);
      if (held && held.connection !== connection) return false;
      records.delete(clientId);
      return true;
    },
  };
}

export const REDIS_CLIENT_ID_PREFIX = 'keybound:cid:';

/**
 * KEYS[1] the record ("<key> <token> <named 1|0> <subject hash or -> <connection>"; records of an
 * earlier version have no subject field); ARGV: key, token, connection, TTL ms, the revoked
 * holder's token or "", named (1|0), the subject's hash or "-".
 */
const CLAIM_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v then
  local key, token, named, subject = string.match(v, '^(%S+) (%S+) ([01]) (%S+) %S+$')
  if not key then key, token, named = string.match(v, '^(%S+) (%S+) ([01]) ') subject = '-' end
  if key ~= ARGV[1] and token ~= ARGV[5] and not (ARGV[6] == '1' and named == '0') and not (ARGV[7] ~= '-' and subject == ARGV[7]) then return token end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[6] .. ' ' .. ARGV[7] .. ' ' .. ARGV[3], 'PX', ARGV[4])
return ''
`;
const RELEASE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return 1 end
if string.match(v, ' (%S+)$') == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`;

/**
 * A client id (or subject) as Redis keys name it: attacker-chosen text (up to 64 KiB) by its
 * SHA-256. The resting-session ledger names a session by the same hash, so that its backfill
 * finds the session's record here.
 */
export function clientIdDigest(provider: CryptoProvider, text: string): string {
  return toHex(provider.digest('SHA-256', utf8(text)));
}

export function redisClientIdOwners(redis: RedisEval, clock: Clock, provider: CryptoProvider): ClientIdOwners {
  const digest = (text: string) => clientIdDigest(provider, text);
  const name = (clientId: string) => REDIS_CLIENT_ID_PREFIX + digest(clientId);
  return {
    async claim(clientId, owner, unlessHeldBy = '') {
      const ms = Math.max(1000, Math.ceil((owner.until - clock()) * 1000));
      // Subjects are text the service chose (spaces, any length): kept as their hash.
      const subject = owner.subject !== undefined ? digest(owner.subject) : '-';
      const answer = await redis.eval(CLAIM_SCRIPT, 1, name(clientId), owner.key, owner.token, owner.connection, ms, unlessHeldBy, owner.named ? '1' : '0', subject);
      if (answer === '') return undefined;
      if (typeof answer === 'string') return answer;
      throw new TypeError('client id owners: unexpected answer from Redis');
    },
    async release(clientId, connection) {
      return (await redis.eval(RELEASE_SCRIPT, 1, name(clientId), connection)) === 1;
    },
  };
}
