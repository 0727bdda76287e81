/**
 * The bounded token store (issue 3 "authz-info ingestion"): verified tokens held within a byte
 * budget from the device profile. On a new token: expired entries go first, then the ones that
 * expire soonest, but only those that expire sooner than the newcomer; if it still does not fit,
 * the newcomer is refused (token_store_full). A token is never silently dropped later.
 * Budgets per client, not per token: past half the budget, an owner (a token's subject) displaces
 * only its own entries and gives way to other owners first. Otherwise a client asking the service
 * for fresh tokens (each outliving every other client's) pushes all others out.
 */
import { encodeCborArrayOf, parseRestScope, type CborValue, type Scope } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { AcceptedToken } from './token-acceptance.js';
import { decodeStoredToken, encodeStoredToken } from './token-persistence.js';

/**
 * What an entry costs besides the token bytes it stands for: the 32-byte hash, the PoP key, the
 * scope, the map slot. An estimate for a JS heap, kept honest by bench/device.ts.
 */
export const TOKEN_ENTRY_OVERHEAD = 160;
/** Default budget: 4 KB, room for a dozen typical 250-byte tokens on a small device. */
export const DEFAULT_TOKEN_BUDGET_BYTES = 4096;
/** The part of the budget one owner may hold: a half, so one client never holds the whole store. */
export const TOKEN_OWNER_SHARE = 1 / 2;

/** An accepted token (token-acceptance.ts) and the bytes it is charged against the budget. */
export type StoredToken = AcceptedToken & { cost: number };

export interface TokenStore {
  add(entry: StoredToken): void;
  /** Throws token_store_full if `add` of such an entry would, without changing anything. */
  checkFits(cost: number, expiresAt: number, subject: string | undefined): void;
  /** A live entry, or undefined (expired entries are not returned). */
  get(hash: Uint8Array): StoredToken | undefined;
  /** The entry even if it has expired since (until it is swept), so a refusal can say `expired`. */
  lookup(hash: Uint8Array): StoredToken | undefined;
  delete(hash: Uint8Array): boolean;
  /** Drops expired entries; returns how many. */
  sweep(): number;
  /** Drops the entries a predicate picks (e.g. exi tokens under a new floor); returns their hashes. */
  dropWhere(pick: (entry: StoredToken) => boolean): Uint8Array[];
  /** The storage value of every entry held (expired ones too, until swept), without decoding. */
  encoded(): Uint8Array;
  readonly used: number;
  readonly size: number;
  readonly budget: number;
}

/**
 * What the store holds per token (issue 13: <= 1 KB of heap per token): the entry in its compact
 * storage encoding, and only the numbers eviction reads on every add. A decoded entry (PoP key,
 * parsed scope, claims: a dozen objects) lives only while a request uses it; decoding one is a
 * few microseconds next to the signature or MAC check that request costs.
 */
interface HeldToken {
  readonly bytes: Uint8Array;
  readonly expiresAt: number;
  readonly cost: number;
  readonly subject: string | undefined;
}

/**
 * The map key of a hash: its bytes as a 32-character one-byte string, one flat string (toHex
 * builds a 64-character one from 32 concatenations, which V8 may keep as a chain of 32 pieces).
 */
const keyOf = (hash: Uint8Array): string => String.fromCharCode(...hash);

export function createTokenStore(
  clock: () => number,
  budget = DEFAULT_TOKEN_BUDGET_BYTES,
  parseScope: (claim: CborValue) => Scope = parseRestScope,
): TokenStore {
  const entries = new Map<string, HeldToken>();
  const lookup = (hash: Uint8Array): StoredToken | undefined => {
    const e = entries.get(keyOf(hash));
    return e && decodeStoredToken(e.bytes, parseScope);
  };
  let used = 0;
  const remove = (key: string) => {
    const e = entries.get(key);
    if (!e) return false;
    used -= e.cost;
    entries.delete(key);
    return true;
  };
  const sweep = () => {
    const now = clock();
    let n = 0;
    for (const [k, e] of entries) if (e.expiresAt <= now && remove(k)) n++;
    return n;
  };
  const share = Math.floor(budget * TOKEN_OWNER_SHARE);
  /**
   * The entries a newcomer displaces, in order; throws when it cannot fit. Free room takes anyone.
   * Otherwise an owner past its share gives way first (whatever its expiry) to a newcomer whose
   * owner is within its share; then entries that expire before the newcomer go, but a newcomer
   * whose owner is past its share displaces only that owner's own.
   */
  const victimsFor = (cost: number, expiresAt: number, subject: string | undefined): string[] => {
    if (cost > budget) throw new DeviceError(DEVICE_ERR.TOKEN_STORE_FULL, `token needs ${cost} bytes, the budget is ${budget}`);
    sweep();
    if (used + cost <= budget) return [];
    // Bytes and entries per owner. An owner is past its share when it holds more than `share` in
    // more than one token: with a small budget every owner still gets one token.
    const held = new Map<string | undefined, { bytes: number; count: number }>();
    for (const e of entries.values()) {
      const h = held.get(e.subject) ?? { bytes: 0, count: 0 };
      held.set(e.subject, { bytes: h.bytes + e.cost, count: h.count + 1 });
    }
    const mine = held.get(subject);
    const overShare = mine !== undefined && mine.bytes + cost > share;
    const soonestFirst = [...entries].sort(([, a], [, b]) => a.expiresAt - b.expiresAt);
    const picks: string[] = [];
    let free = budget - used;
    if (!overShare) {
      for (const [k, e] of soonestFirst) {
        if (free >= cost) break;
        const h = held.get(e.subject)!;
        if (e.subject === subject || h.bytes <= share || h.count <= 1) continue;
        picks.push(k);
        held.set(e.subject, { bytes: h.bytes - e.cost, count: h.count - 1 });
        free += e.cost;
      }
    }
    for (const [k, e] of soonestFirst) {
      if (free >= cost) break;
      if (e.expiresAt >= expiresAt || (overShare && e.subject !== subject) || picks.includes(k)) continue;
      picks.push(k);
      free += e.cost;
    }
    if (free < cost) {
      throw new DeviceError(
        DEVICE_ERR.TOKEN_STORE_FULL,
        overShare ? 'token store is full, and this client already holds its share of it' : 'token store is full of tokens that outlive this one',
      );
    }
    return picks;
  };
  return {
    checkFits: (cost, expiresAt, subject) => void victimsFor(cost, expiresAt, subject),
    add(entry) {
      const key = keyOf(entry.hash);
      if (entries.has(key)) return; // the same token again: already held
      const { cost, expiresAt, subject } = entry;
      const held: HeldToken = { bytes: encodeStoredToken(entry), expiresAt, cost, subject };
      for (const k of victimsFor(cost, expiresAt, subject)) remove(k);
      entries.set(key, held);
      used += cost;
    },
    get(hash) {
      const e = lookup(hash);
      return e && e.expiresAt > clock() ? e : undefined;
    },
    lookup,
    delete: (hash) => remove(keyOf(hash)),
    sweep,
    dropWhere(pick) {
      const dropped: Uint8Array[] = [];
      for (const [k, e] of entries) {
        const entry = decodeStoredToken(e.bytes, parseScope);
        if (pick(entry) && remove(k)) dropped.push(entry.hash);
      }
      return dropped;
    },
    encoded: () => encodeCborArrayOf([...entries.values()].map((e) => e.bytes)),
    get used() {
      return used;
    },
    get size() {
      return entries.size;
    },
    budget,
  };
}
