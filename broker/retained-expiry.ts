/**
 * RFC 9431 §6: a retained message lives no longer than the token of the client that published
 * it. The broker notes, per retained topic, when the publisher's token expires; the wiring clears
 * expired ones from persistence and refuses to forward them meanwhile. Pure and bounded.
 */

/** One entry per retained topic; beyond this many, new retained publishes are refused. */
export const MAX_RETAINED_TOPICS = 100_000;

export interface RetainedExpiry {
  /**
   * Records a retained publish taken at `publishedAt` (seconds; orders records from several
   * brokers); false when the table is full (the publish is then not retained).
   */
  set(topic: string, expiresAt: number, publishedAt?: number): boolean;
  /** The record for a topic, if any. */
  get(topic: string): { expiresAt: number; publishedAt: number } | undefined;
  /** A retained message was cleared (empty payload). */
  clear(topic: string): void;
  isExpired(topic: string, now: number): boolean;
  /** Topics whose retained message outlived its token; removed from the table. */
  takeExpired(now: number): string[];
  readonly size: number;
}

export function createRetainedExpiry(max = MAX_RETAINED_TOPICS): RetainedExpiry {
  const table = new Map<string, { expiresAt: number; publishedAt: number }>();
  return {
    set(topic, expiresAt, publishedAt = 0) {
      if (!table.has(topic) && table.size >= max) return false;
      table.set(topic, { expiresAt, publishedAt });
      return true;
    },
    get: (topic) => table.get(topic),
    clear: (topic) => void table.delete(topic),
    isExpired(topic, now) {
      const at = table.get(topic)?.expiresAt;
      return at !== undefined && at <= now;
    },
    takeExpired(now) {
      const out: string[] = [];
      for (const [topic, { expiresAt }] of table) if (expiresAt <= now) out.push(topic);
      for (const t of out) table.delete(t);
      return out;
    },
    get size() {
      return table.size;
    },
  };
}
