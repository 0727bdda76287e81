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
   * `holder`: whose share of a bounded record the pair counts against (default: the key). A
   * DPoP key is its client's own choice, so a caller that knows the client names it here.
   */
  seen(jkt: string, jti: string, expiresAt: number, holder?: string): Promise<boolean>;
}

export interface MemoryDpopReplayOptions {
  /** The most pairs held at once: a full record refuses (`busy`) rather than grows or forgets early. */
  capacity?: number;
  /**
   * The most pairs one holder (the `holder` seen() is given, else the key, jkt) holds at once
   * (default an eighth of the capacity): past it that holder's proofs are refused `busy`, and
   * only its own. Without a share, one token holder making proofs as fast as it can sign filled
   * the record, and every other client got 503 for the two minutes its entries live (review, stop
   * 34); with a share per key only, one client making a key (and a token) per share did the same
   * (review 36), so the gateway names the token's client as the holder.
   */
  perKey?: number;
  /** Seconds since the epoch (injected: nothing here reads the host clock). */
  clock: () => number;
}

/** Enough for a single process serving a few hundred proofs a second over a two-minute window. */
export const DEFAULT_REPLAY_CAPACITY = 100_000;
/** One key's share: 12,500 of the default capacity is ~100 proofs a second over the window. */
const DEFAULT_SHARE_DIVISOR = 8;
/** A sweep reads every entry: at most one a second, so a key at its share cannot make each request cost one. */
const SWEEP_INTERVAL_S = 1;

/** A bounded in-memory replay record: one process only (instances must share a store or Redis). */
export class MemoryDpopReplay implements DpopReplayRecord {
  readonly #entries = new Map<string, { holder: string; expiresAt: number }>();
  readonly #heldBy = new Map<string, number>();
  readonly #capacity: number;
  readonly #perKey: number;
  readonly #clock: () => number;
  #lastSweep = -Infinity;

  constructor(options: MemoryDpopReplayOptions) {
    this.#capacity = options.capacity ?? DEFAULT_REPLAY_CAPACITY;
    if (!Number.isSafeInteger(this.#capacity) || this.#capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#perKey = options.perKey ?? Math.max(1, Math.floor(this.#capacity / DEFAULT_SHARE_DIVISOR));
    if (!Number.isSafeInteger(this.#perKey) || this.#perKey < 1 || this.#perKey > this.#capacity) throw new RangeError('perKey must be a positive integer no larger than capacity');
    this.#clock = options.clock;
  }

  get size(): number {
    return this.#entries.size;
  }

  async seen(jkt: string, jti: string, expiresAt: number, holder: string = `k:${jkt}`): Promise<boolean> {
    const now = this.#clock();
    // jkt is a fixed-length b64url thumbprint, so "jkt jti" cannot collide across pairs.
    const key = `${jkt} ${jti}`;
    const held = this.#entries.get(key);
    if (held !== undefined && held.expiresAt > now) return true;
    if (held !== undefined) this.#delete(key, held.holder);
    const full = () => this.#entries.size >= this.#capacity || (this.#heldBy.get(holder) ?? 0) >= this.#perKey;
    if (full() && now - this.#lastSweep >= SWEEP_INTERVAL_S) this.#sweep(now);
    if (this.#entries.size >= this.#capacity) throw new DpopError('busy', 'DPoP replay record full');
    if (full()) throw new DpopError('busy', "this client's share of the DPoP replay record is full: retry later");
    this.#entries.set(key, { holder, expiresAt });
    this.#heldBy.set(holder, (this.#heldBy.get(holder) ?? 0) + 1);
    return false;
  }

  #delete(key: string, holder: string): void {
    this.#entries.delete(key);
    const n = (this.#heldBy.get(holder) ?? 1) - 1;
    if (n > 0) this.#heldBy.set(holder, n);
    else this.#heldBy.delete(holder);
  }

  /** Drops expired pairs; Map keeps insertion order, and most expire in that order. */
  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, e] of this.#entries) if (e.expiresAt <= now) this.#delete(key, e.holder);
  }
}
