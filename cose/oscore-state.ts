/**
 * The mutable half of an OSCORE security context (RFC 8613 §3.1): the Sender Sequence Number and
 * the Recipient's replay window, kept through an injected storage seam so that a reboot never
 * reuses a nonce. Sequence numbers are reserved ahead in blocks (RFC 8613 §B.1.1): the storage
 * holds a limit every number below which may already have been used; a restart resumes at the
 * limit, wasting at most one block and reusing none. The replay window (RFC 8613 §7.4, the sliding
 * window of RFC 4303 §3.4.3) is saved with every accepted request, so that after a restart the
 * peer's next request is accepted and an old one still refused, without the Echo round trip of
 * §B.1.2.
 */
import { concatBytes, toHex } from './bytes.js';
import type { CryptoProvider } from './crypto-provider.js';
import type { OscoreContext } from './oscore-context.js';
import { OscoreError, OSCORE_ERR } from './oscore-errors.js';

/** What the storage keeps for one context: plain JSON-friendly numbers and a hex bitmap. */
export interface OscorePersistedState {
  /** Every sender sequence number below this may have been used; none at or above it has. */
  senderSequenceLimit: number;
  /** Highest recipient sequence number accepted; -1 when none. */
  replayHighest: number;
  /** Replay bitmap as hex: bit i set means replayHighest - i was accepted. */
  replayBitmap: string;
}

/**
 * The storage seam, one per context (name its slot with `oscoreStorageName`). `save` must
 * have made the state durable when it returns; a throw refuses the send or the acceptance.
 */
export interface OscoreStateStorage {
  load(): OscorePersistedState | undefined;
  save(state: OscorePersistedState): void;
}

/**
 * A name for a context's storage slot that changes whenever its keys do: contexts re-derived with
 * the same IDs but a new Master Salt (RFC 9203 §4.3's fresh nonces) or secret must not inherit
 * each other's replay window. A truncated SHA-256 of the derived keys and IV: it names, it does
 * not reveal (one-way, and no key is derivable from 128 bits of a hash).
 */
export function oscoreStorageName(ctx: OscoreContext, provider: CryptoProvider): string {
  const tag = provider.digest('SHA-256', concatBytes(ctx.senderKey, ctx.recipientKey, ctx.commonIv));
  return `oscore-${toHex(tag.subarray(0, 16))}`;
}

/** RFC 8613 §7.2.1: a Partial IV is at most 5 bytes, so sequence numbers stop at 2^40 - 1. */
export const OSCORE_MAX_SEQUENCE = 2 ** 40 - 1;
/** Numbers reserved per write (§B.1.1 "K"): one flash write per 64 messages sent. */
export const OSCORE_DEFAULT_RESERVE = 64;

export interface OscoreStateOptions {
  /** Sequence numbers reserved per storage write; default 64. */
  reserve?: number;
}

/** Storage that forgets at exit: only for contexts that themselves die with the process (fresh keys per run). */
export function memoryOscoreStorage(initial?: OscorePersistedState): OscoreStateStorage & { readonly saved: OscorePersistedState | undefined } {
  let saved = initial && { ...initial };
  return {
    get saved() {
      return saved && { ...saved };
    },
    load: () => saved && { ...saved },
    save: (state) => {
      saved = { ...state };
    },
  };
}

function bitmapToHex(bitmap: bigint): string {
  return bitmap.toString(16);
}

function bitmapFromHex(hex: unknown, size: number): bigint {
  if (typeof hex !== 'string' || !/^[0-9a-f]{1,256}$/.test(hex)) throw new OscoreError(OSCORE_ERR.STORAGE, 'stored replay bitmap is not hex');
  return BigInt(`0x${hex}`) & ((1n << BigInt(size)) - 1n);
}

function storedNumber(value: unknown, min: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > OSCORE_MAX_SEQUENCE + 1) {
    throw new OscoreError(OSCORE_ERR.STORAGE, `stored ${what} is not a sequence number`);
  }
  return value;
}

export class OscoreState {
  #next: number;
  #limit: number;
  #highest: number;
  #bitmap: bigint;
  readonly #size: number;
  readonly #mask: bigint;
  readonly #reserve: number;
  readonly #storage: OscoreStateStorage;

  private constructor(storage: OscoreStateStorage, size: number, reserve: number, saved: OscorePersistedState | undefined) {
    this.#storage = storage;
    this.#size = size;
    this.#mask = (1n << BigInt(size)) - 1n;
    this.#reserve = reserve;
    // §B.1.1: resume at the stored limit; the numbers between the last one used and it are skipped.
    this.#next = saved ? storedNumber(saved.senderSequenceLimit, 0, 'sequence limit') : 0;
    this.#limit = this.#next;
    this.#highest = saved ? storedNumber(saved.replayHighest, -1, 'replay highest') : -1;
    this.#bitmap = saved ? bitmapFromHex(saved.replayBitmap, size) : 0n;
  }

  /** The state of `ctx` as its storage last saved it (fresh when it holds nothing). */
  static open(ctx: OscoreContext, storage: OscoreStateStorage, opts: OscoreStateOptions = {}): OscoreState {
    const reserve = opts.reserve ?? OSCORE_DEFAULT_RESERVE;
    if (!Number.isInteger(reserve) || reserve < 1 || reserve > 2 ** 20) throw new OscoreError(OSCORE_ERR.BAD_CONTEXT, 'reserve must be 1..2^20');
    let saved: OscorePersistedState | undefined;
    try {
      saved = storage.load();
    } catch (cause) {
      throw new OscoreError(OSCORE_ERR.STORAGE, 'cannot load the sequence state', { cause });
    }
    return new OscoreState(storage, ctx.replayWindow, reserve, saved);
  }

  /** The next sender sequence number, reserving (and durably saving) a new block when needed. */
  nextSequenceNumber(): number {
    const seq = this.#next;
    if (seq > OSCORE_MAX_SEQUENCE) throw new OscoreError(OSCORE_ERR.SEQUENCE_EXHAUSTED, 'sender sequence numbers exhausted: renew the context');
    if (seq >= this.#limit) {
      const limit = Math.min(seq + this.#reserve, OSCORE_MAX_SEQUENCE + 1);
      // Saved before use: a crash after this line wastes the block, never reuses it.
      this.#persist(limit, this.#highest, this.#bitmap);
      this.#limit = limit;
    }
    this.#next = seq + 1;
    return seq;
  }

  /** The next sequence number that would be sent (for inspection and tests). */
  get senderSequenceNumber(): number {
    return this.#next;
  }

  /** Would `seq` pass the replay window (RFC 8613 §7.4)? Pure; `acceptSequenceNumber` once it verified. */
  isFresh(seq: number): boolean {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > OSCORE_MAX_SEQUENCE) return false;
    if (seq > this.#highest) return true;
    const offset = this.#highest - seq;
    if (offset >= this.#size) return false;
    return ((this.#bitmap >> BigInt(offset)) & 1n) === 0n;
  }

  /** Marks a verified request's sequence number as seen, saving the window first (throws on replay). */
  acceptSequenceNumber(seq: number): void {
    if (!this.isFresh(seq)) throw new OscoreError(OSCORE_ERR.REPLAY, `sequence number ${seq} replayed or below the window`);
    let highest = this.#highest;
    let bitmap: bigint;
    if (seq > highest) {
      const shift = seq - highest;
      bitmap = shift >= this.#size ? 1n : ((this.#bitmap << BigInt(shift)) | 1n) & this.#mask;
      highest = seq;
    } else {
      bitmap = this.#bitmap | (1n << BigInt(highest - seq));
    }
    this.#persist(this.#limit, highest, bitmap);
    this.#highest = highest;
    this.#bitmap = bitmap;
  }

  #persist(limit: number, highest: number, bitmap: bigint): void {
    try {
      this.#storage.save({ senderSequenceLimit: limit, replayHighest: highest, replayBitmap: bitmapToHex(bitmap) });
    } catch (cause) {
      throw new OscoreError(OSCORE_ERR.STORAGE, 'cannot save the sequence state', { cause });
    }
  }
}
