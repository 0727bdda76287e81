/**
 * The retained-expiry table (retained-expiry.ts), shared by every broker of a cluster and kept
 * across restarts. Each retained publish the broker takes is mirrored as a retained sidecar
 * message on `$keybound/retained-exp/<topic>` carrying the publisher token's expiry: aedes routes
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

/** Seconds since the epoch as decimal text: small, and readable in a Redis dump. */
function parseExpiry(payload: Uint8Array): number | undefined {
  if (payload.length === 0 || payload.length > 20) return undefined;
  const text = new TextDecoder().decode(payload);
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

export function shareRetainedExpiry(local: RetainedExpiry, publishSidecar: (topic: string, payload: Uint8Array) => void): SharedRetainedExpiry {
  const encoder = new TextEncoder();
  const mirror = (topic: string, expiresAt: number | undefined) =>
    publishSidecar(RETAINED_EXPIRY_PREFIX + topic, expiresAt === undefined ? new Uint8Array(0) : encoder.encode(String(expiresAt)));
  return {
    set(topic, expiresAt) {
      if (!local.set(topic, expiresAt)) return false;
      mirror(topic, expiresAt);
      return true;
    },
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
    get size() {
      return local.size;
    },
    applyShared(sidecarTopic, payload) {
      if (!sidecarTopic.startsWith(RETAINED_EXPIRY_PREFIX)) return;
      const topic = sidecarTopic.slice(RETAINED_EXPIRY_PREFIX.length);
      if (!topic) return;
      const at = parseExpiry(payload);
      // Last writer wins, as for the retained message itself; a full table keeps what it has.
      if (at === undefined) local.clear(topic);
      else local.set(topic, at);
    },
  };
}
