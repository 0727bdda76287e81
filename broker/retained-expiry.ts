/**
 * RFC 9431 §6: a retained message lives no longer than the token of the client that published
 * it. The broker notes, per retained topic, when the publisher's token expires; the wiring clears
 * expired ones from persistence and refuses to forward them meanwhile. Pure and bounded.
 */

/** One entry per retained topic; beyond this many, new retained publishes are refused. */
export const MAX_RETAINED_TOPICS = 100_000;
/** Retained topics one token may hold at once (at this broker): one client cannot fill the table for all. */
export const MAX_RETAINED_PER_TOKEN = 1000;
/** A retained topic's length in UTF-8 bytes: the table keeps topics, so their size is bounded too. */
export const MAX_RETAINED_TOPIC_BYTES = 1024;
/** aedes allows 100 topic levels and the expiry sidecar adds 2 ($keybound/retained-exp/). */
export const MAX_RETAINED_TOPIC_LEVELS = 98;

export interface RetainedExpiry {
  /**
   * Records a retained publish taken at `publishedAt` (seconds; orders records from several
   * brokers); false when the table is full (the publish is then not retained).
   */
  set(topic: string, expiresAt: number, publishedAt?: number, owner?: string): boolean;
  /** Topics held by `owner` (a token hash): what MAX_RETAINED_PER_TOKEN counts. */
  ownedBy(owner: string): number;
  /** The record for a topic, if any (`owner`: the publisher's token hash, when known). */
  get(topic: string): { expiresAt: number; publishedAt: number; owner?: string } | undefined;
  /** A retained message was cleared (empty payload). */
  clear(topic: string): void;
  isExpired(topic: string, now: number): boolean;
  /** Topics whose retained message outlived its token; removed from the table. */
  takeExpired(now: number): string[];
  /** Topics held by any of these (revoked) token hashes; removed from the table (RFC 9431 §6). */
  takeOwnedBy(owners: ReadonlySet<string>): string[];
  readonly size: number;
}

export function createRetainedExpiry(max = MAX_RETAINED_TOPICS, maxPerOwner = MAX_RETAINED_PER_TOKEN): RetainedExpiry {
  const table = new Map<string, { expiresAt: number; publishedAt: number; owner?: string }>();
  const owned = new Map<string, number>();
  const forget = (topic: string) => {
    const owner = table.get(topic)?.owner;
    if (owner !== undefined) {
      const n = (owned.get(owner) ?? 1) - 1;
      if (n > 0) owned.set(owner, n);
      else owned.delete(owner);
    }
    table.delete(topic);
  };
  return {
    set(topic, expiresAt, publishedAt = 0, owner) {
      const prior = table.get(topic);
      if (!prior && table.size >= max) return false;
      if (owner !== undefined && prior?.owner !== owner && (owned.get(owner) ?? 0) >= maxPerOwner) return false;
      if (prior) forget(topic);
      table.set(topic, { expiresAt, publishedAt, ...(owner !== undefined ? { owner } : {}) });
      if (owner !== undefined) owned.set(owner, (owned.get(owner) ?? 0) + 1);
      return true;
    },
    ownedBy: (owner) => owned.get(owner) ?? 0,
    get: (topic) => table.get(topic),
    clear: forget,
    isExpired(topic, now) {
      const at = table.get(topic)?.expiresAt;
      return at !== undefined && at <= now;
    },
    takeExpired(now) {
      const out: string[] = [];
      for (const [topic, { expiresAt }] of table) if (expiresAt <= now) out.push(topic);
      for (const t of out) forget(t);
      return out;
    },
    takeOwnedBy(owners) {
      const out: string[] = [];
      for (const [topic, { owner }] of table) if (owner !== undefined && owners.has(owner)) out.push(topic);
      for (const t of out) forget(t);
      return out;
    },
    get size() {
      return table.size;
    },
  };
}
