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
 * it closes, until the token's expiry; a clean session's record goes when it closes. Another key
 * may take the id only from a holder whose token is revoked (the caller, hooks.ts, knows), or,
 * with a token whose signed subject is the client id itself, from a holder whose token's subject
 * is not (the service says who the client is; a first comer cannot squat a device's name). In one process: a
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
  /** The token's expiry (seconds): the record's end. */
  until: number;
  /** The token's subject is the client id (the service named this client so). */
  named: boolean;
}

export interface ClientIdOwners {
  /**
   * Records `owner` as the holder of `clientId`, unless another key holds it: then nothing is
   * written and the holder's token hash is returned. `unlessHeldBy` names a holder token (revoked)
   * whose record may be replaced.
   */
  claim(clientId: string, owner: ClientIdOwner, unlessHeldBy?: string): Promise<string | undefined>;
  /** The connection closed and its session ends with it (clean=true): the id is free again. */
  release(clientId: string, connection: string): Promise<void>;
}

/** Client ids remembered by one process; past it, expired records, then the oldest, go. */
export const MAX_CLIENT_ID_OWNERS = 100_000;

export function memoryClientIdOwners(clock: Clock, max = MAX_CLIENT_ID_OWNERS): ClientIdOwners {
  const records = new Map<string, ClientIdOwner>();
  return {
    async claim(clientId, owner, unlessHeldBy) {
      const held = records.get(clientId);
      if (held && held.until > clock() && held.key !== owner.key && held.token !== unlessHeldBy && !(owner.named && !held.named)) return held.token;
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
      if (records.get(clientId)?.connection === connection) records.delete(clientId);
    },
  };
}

export const REDIS_CLIENT_ID_PREFIX = 'keybound:cid:';

/**
 * KEYS[1] the record ("<key> <token> <named 1|0> <connection>"); ARGV: key, token, connection,
 * TTL ms, the revoked holder's token or "", named (1|0).
 */
const CLAIM_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v then
  local key, token, named = string.match(v, '^(%S+) (%S+) ([01]) ')
  if key ~= ARGV[1] and token ~= ARGV[5] and not (ARGV[6] == '1' and named == '0') then return token end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[6] .. ' ' .. ARGV[3], 'PX', ARGV[4])
return ''
`;
const RELEASE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v and string.match(v, ' (%S+)$') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return ''
`;

export function redisClientIdOwners(redis: RedisEval, clock: Clock, provider: CryptoProvider): ClientIdOwners {
  // Client ids are attacker-chosen text (up to 64 KiB): named by their hash.
  const name = (clientId: string) => REDIS_CLIENT_ID_PREFIX + toHex(provider.digest('SHA-256', utf8(clientId)));
  return {
    async claim(clientId, owner, unlessHeldBy = '') {
      const ms = Math.max(1000, Math.ceil((owner.until - clock()) * 1000));
      const answer = await redis.eval(CLAIM_SCRIPT, 1, name(clientId), owner.key, owner.token, owner.connection, ms, unlessHeldBy, owner.named ? '1' : '0');
      if (answer === '') return undefined;
      if (typeof answer === 'string') return answer;
      throw new TypeError('client id owners: unexpected answer from Redis');
    },
    async release(clientId, connection) {
      await redis.eval(RELEASE_SCRIPT, 1, name(clientId), connection);
    },
  };
}
