/**
 * The retained-expiry table (retained-expiry.ts), shared by every broker of a cluster and kept
 * across restarts. Each retained publish the broker takes is mirrored as a retained sidecar
 * message on `$keybound/retained-exp/<topic>` carrying the publisher token's expiry and hash
 * (so every broker can clear it when that token is revoked, RFC 9431 §6): aedes routes
 * it through the shared mq to the other brokers (which update their tables) and stores it in the
 * shared persistence (which a starting broker reads back). Without it, a broker would clear a
 * topic at the expiry of the token it saw, deleting a newer retained message that a longer-lived
 * token had published at another broker, and a restarted broker would never clear anything.
 * `$` topics are never granted to clients (MQTT 3.1.1 §4.7.2; topic-rules.ts), so only brokers
 * read or write these.
 */
import type { RetainedExpiry } from './retained-expiry.js';

export const RETAINED_EXPIRY_PREFIX = '$keybound/retained-exp/';

export interface SharedRetainedExpiry extends RetainedExpiry {
  /** A sidecar seen on the mq or in persistence: another broker's (or an earlier run's) record. */
  applyShared(sidecarTopic: string, payload: Uint8Array): void;
}

interface SidecarRecord {
  expiresAt: number;
  publishedAt: number;
  owner?: string;
}

/**
 * "<expiresAt> <publishedAt>[ <owner>]": seconds since the epoch as decimal text and the
 * publisher's token hash in hex; small, and readable in a Redis dump.
 */
function parseSidecar(payload: Uint8Array): SidecarRecord | undefined {
  if (payload.length === 0 || payload.length > 128) return undefined;
  const m = /^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?)(?: ([0-9a-f]{64}))?$/.exec(new TextDecoder().decode(payload));
  if (!m) return undefined;
  const expiresAt = Number(m[1]);
  const publishedAt = Number(m[2]);
  if (!Number.isFinite(expiresAt) || !Number.isFinite(publishedAt)) return undefined;
  return { expiresAt, publishedAt, ...(m[3] !== undefined ? { owner: m[3] } : {}) };
}

export function shareRetainedExpiry(local: RetainedExpiry, publishSidecar: (topic: string, payload: Uint8Array) => void, clock: () => number): SharedRetainedExpiry {
  const encoder = new TextEncoder();
  const mirror = (topic: string, record: SidecarRecord | undefined) =>
    publishSidecar(
      RETAINED_EXPIRY_PREFIX + topic,
      record === undefined ? new Uint8Array(0) : encoder.encode(`${record.expiresAt} ${record.publishedAt}${record.owner !== undefined ? ` ${record.owner}` : ''}`),
    );
  return {
    set(topic, expiresAt, publishedAt = clock(), owner) {
      if (!local.set(topic, expiresAt, publishedAt, owner)) return false;
      mirror(topic, { expiresAt, publishedAt, ...(owner !== undefined ? { owner } : {}) });
      return true;
    },
    ownedBy: (owner) => local.ownedBy(owner),
    get: (topic) => local.get(topic),
    clear(topic) {
      local.clear(topic);
      mirror(topic, undefined);
    },
    isExpired: (topic, now) => local.isExpired(topic, now),
    takeExpired(now) {
      const topics = local.takeExpired(now);
      for (const t of topics) mirror(t, undefined);
      return topics;
    },
    takeOwnedBy(owners) {
      const topics = local.takeOwnedBy(owners);
      for (const t of topics) mirror(t, undefined);
      return topics;
    },
    get size() {
      return local.size;
    },
    applyShared(sidecarTopic, payload) {
      if (!sidecarTopic.startsWith(RETAINED_EXPIRY_PREFIX)) return;
      const topic = sidecarTopic.slice(RETAINED_EXPIRY_PREFIX.length);
      if (!topic) return;
      const mine = local.get(topic);
      if (payload.length === 0) {
        // A peer cleared the topic (its record had expired, or its client cleared the message).
        // A record of ours that is still live belongs to a newer publish: keep it.
        if (mine && mine.expiresAt <= clock()) local.clear(topic);
        return;
      }
      const record = parseSidecar(payload);
      if (record === undefined) return; // only brokers write $ topics; a malformed one is ignored
      // The latest publish wins, whatever order brokers hear of it in; a full table keeps what it has.
      // Past this broker's per-token count the record is kept without its owner (the publishing
      // broker enforced the budget; revocation then clears it there, and expiry here).
      if (!mine || record.publishedAt >= mine.publishedAt) {
        if (!local.set(topic, record.expiresAt, record.publishedAt, record.owner)) local.set(topic, record.expiresAt, record.publishedAt);
      }
    },
  };
}
