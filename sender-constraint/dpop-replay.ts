/**
 * The (jkt, jti) replay record of DPoP proofs (RFC 9449 §11.1: a server keeps the jti of proofs
 * it accepted for as long as their iat would still be accepted). Keyed per key thumbprint, so one
 * client cannot burn another's jti. The authorization service keeps its record in its store
 * (SQLite or PostgreSQL, shared by its instances); the gateway in Redis; this file holds the
 * interface and a bounded in-memory record for a single process.
 */
import { DpopError } from './errors.js';

export interface DpopReplayRecord {
  /**
   * Records (jkt, jti) until `expiresAt` (seconds) and answers whether it was already recorded
   * (a replay). Atomic: of two concurrent calls with the same pair exactly one answers false.
   */
  seen(jkt: string, jti: string, expiresAt: number): Promise<boolean>;
}

export interface MemoryDpopReplayOptions {
  /** The most pairs held at once: a full record refuses (`busy`) rather than grows or forgets early. */
  capacity?: number;
  /** Seconds since the epoch (injected: nothing here reads the host clock). */
  clock: () => number;
}

/** Enough for a single process serving a few hundred proofs a second over a two-minute window. */
export const DEFAULT_REPLAY_CAPACITY = 100_000;

/** A bounded in-memory replay record: one process only (instances must share a store or Redis). */
export class MemoryDpopReplay implements DpopReplayRecord {
  readonly #entries = new Map<string, number>();
  readonly #capacity: number;
  readonly #clock: () => number;

  constructor(options: MemoryDpopReplayOptions) {
    this.#capacity = options.capacity ?? DEFAULT_REPLAY_CAPACITY;
    if (!Number.isSafeInteger(this.#capacity) || this.#capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#clock = options.clock;
  }

  get size(): number {
    return this.#entries.size;
  }

  async seen(jkt: string, jti: string, expiresAt: number): Promise<boolean> {
    const now = this.#clock();
    // jkt is a fixed-length b64url thumbprint, so "jkt jti" cannot collide across pairs.
    const key = `${jkt} ${jti}`;
    const held = this.#entries.get(key);
    if (held !== undefined && held > now) return true;
    if (held === undefined && this.#entries.size >= this.#capacity) this.#sweep(now);
    if (held === undefined && this.#entries.size >= this.#capacity) throw new DpopError('busy', 'DPoP replay record full');
    this.#entries.set(key, expiresAt);
    return false;
  }

  /** Drops expired pairs; Map keeps insertion order, and most expire in that order. */
  #sweep(now: number): void {
    for (const [key, expiresAt] of this.#entries) if (expiresAt <= now) this.#entries.delete(key);
  }
}
