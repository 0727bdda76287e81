/**
 * Byte budgets for what waits in persistent sessions: aedes queues every QoS 1/2 PUBLISH for each
 * clean=false subscriber until it is acknowledged, so bytes published toward a sleeping device
 * stay in memory or Redis. A token bucket in bytes per key (a device named in `ace/<device>/…`, or
 * a publisher, its token's signed subject or else its PoP key, across all its connections) bounds what one device can be sent and what
 * one client can send while the device sleeps: at most `burst + perSecond × sleep` bytes.
 * A device's budget is also split between its senders: one client (subject, else key) toward one device takes at
 * most 1/DEVICE_SENDER_SHARES of it (`shareOf`), so a key that spends its share leaves the rest to
 * the others (tokens from other clients still reach the device), while the device's own budget
 * still bounds what its session holds in total.
 * Pure and bounded: the clock is injected; a full table evicts only keys back at full budget.
 */
import type { Clock } from '../cose/index.js';

export interface ByteRate {
  /** Bytes allowed at once. */
  burst: number;
  /** Refill, bytes per second. */
  perSecond: number;
}

/** Per device: 256 KiB at once (a few hundred tokens and requests), then 1 KiB/s. */
export const DEFAULT_DEVICE_QUEUE_RATE: ByteRate = { burst: 256 * 1024, perSecond: 1024 };
/** Per client (subject, else key), across all its connections: 1 MiB at once, then 16 KiB/s. */
export const DEFAULT_CLIENT_QUEUE_RATE: ByteRate = { burst: 1024 * 1024, perSecond: 16 * 1024 };
/**
 * One sender's part of a device's budget: a quarter, so one client cannot starve the device's other
 * senders (adversarial review), and a fair sender still has room for a few dozen tokens at once.
 */
export const DEVICE_SENDER_SHARES = 4;

/** The budget of one sender (client: subject, else key) toward one device: 1/DEVICE_SENDER_SHARES of the device's. */
export function shareOf(rate: ByteRate, shares = DEVICE_SENDER_SHARES): ByteRate {
  return { burst: Math.floor(rate.burst / shares), perSecond: rate.perSecond / shares };
}

/** Keys tracked at once; past it (and nothing back at full budget), a publish is refused. */
export const MAX_BYTE_BUDGET_KEYS = 100_000;

export interface ByteBudgets {
  /** Would `bytes` fit in `key`'s budget now? */
  has(key: string, bytes: number): boolean;
  /** Takes `bytes` from `key`'s budget; false (nothing taken) when they do not fit. */
  take(key: string, bytes: number): boolean;
  readonly size: number;
}

export function createByteBudgets(clock: Clock, rate: ByteRate, maxKeys = MAX_BYTE_BUDGET_KEYS): ByteBudgets {
  const buckets = new Map<string, { bytes: number; at: number }>();
  const level = (key: string): number => {
    const b = buckets.get(key);
    if (!b) return rate.burst;
    return Math.min(rate.burst, b.bytes + Math.max(0, clock() - b.at) * rate.perSecond);
  };
  const evictFull = (): void => {
    for (const key of buckets.keys()) if (level(key) >= rate.burst) buckets.delete(key);
  };
  return {
    has: (key, bytes) => level(key) >= bytes,
    take(key, bytes) {
      const left = level(key);
      if (left < bytes) return false;
      if (!buckets.has(key) && buckets.size >= maxKeys) {
        evictFull();
        if (buckets.size >= maxKeys) return false;
      }
      buckets.set(key, { bytes: left - bytes, at: clock() });
      return true;
    },
    get size() {
      return buckets.size;
    },
  };
}
