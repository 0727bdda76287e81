/**
 * RFC 9431 §6: a retained message lives no longer than the token of the client that published
 * it. The broker notes, per retained topic, when the publisher's token expires; the wiring clears
 * expired ones from persistence and refuses to forward them meanwhile. Pure and bounded.
 */

/** One entry per retained topic; beyond this many, new retained publishes are refused. */
export const MAX_RETAINED_TOPICS = 100_000;

export interface RetainedExpiry {
  /** Records a retained publish; false when the table is full (the publish is then not retained). */
  set(topic: string, expiresAt: number): boolean;
  /** A retained message was cleared (empty payload). */
  clear(topic: string): void;
  isExpired(topic: string, now: number): boolean;
  /** Topics whose retained message outlived its token; removed from the table. */
  takeExpired(now: number): string[];
  readonly size: number;
}

export function createRetainedExpiry(max = MAX_RETAINED_TOPICS): RetainedExpiry {
  const table = new Map<string, number>();
  return {
    set(topic, expiresAt) {
      if (!table.has(topic) && table.size >= max) return false;
      table.set(topic, expiresAt);
      return true;
    },
    clear: (topic) => void table.delete(topic),
    isExpired(topic, now) {
      const at = table.get(topic);
      return at !== undefined && at <= now;
    },
    takeExpired(now) {
      const out: string[] = [];
      for (const [topic, at] of table) if (at <= now) out.push(topic);
      for (const t of out) table.delete(t);
      return out;
    },
    get size() {
      return table.size;
    },
  };
}
