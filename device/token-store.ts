/**
 * The bounded token store (issue 3 "authz-info ingestion"): verified tokens held within a byte
 * budget from the device profile. On a new token: expired entries go first, then the ones that
 * expire soonest, but only those that expire sooner than the newcomer; if it still does not fit,
 * the newcomer is refused (token_store_full). A token is never silently dropped later.
 */
import { toHex } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { AcceptedToken } from './token-acceptance.js';

/**
 * What an entry costs besides the token bytes it stands for: the 32-byte hash, the parsed PoP key,
 * the scope, the map slot. An estimate for a JS heap, kept honest by bench/device.ts.
 */
export const TOKEN_ENTRY_OVERHEAD = 160;
/** Default budget: 4 KB, room for a dozen typical 250-byte tokens on a small device. */
export const DEFAULT_TOKEN_BUDGET_BYTES = 4096;

/** An accepted token (token-acceptance.ts) and the bytes it is charged against the budget. */
export type StoredToken = AcceptedToken & { cost: number };

export interface TokenStore {
  add(entry: StoredToken): void;
  /** Throws token_store_full if `add` of such an entry would, without changing anything. */
  checkFits(cost: number, expiresAt: number): void;
  /** A live entry, or undefined (expired entries are not returned). */
  get(hash: Uint8Array): StoredToken | undefined;
  /** The entry even if it has expired since (until it is swept), so a refusal can say `expired`. */
  lookup(hash: Uint8Array): StoredToken | undefined;
  delete(hash: Uint8Array): boolean;
  /** Drops expired entries; returns how many. */
  sweep(): number;
  /** Drops the entries a predicate picks (e.g. exi tokens under a new floor); returns their hashes. */
  dropWhere(pick: (entry: StoredToken) => boolean): Uint8Array[];
  readonly used: number;
  readonly size: number;
  readonly budget: number;
}

export function createTokenStore(clock: () => number, budget = DEFAULT_TOKEN_BUDGET_BYTES): TokenStore {
  const entries = new Map<string, StoredToken>();
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
  /** Entries a newcomer may displace, soonest to expire first; throws when even all of them are not enough. */
  const victimsFor = (cost: number, expiresAt: number): [string, StoredToken][] => {
    if (cost > budget) throw new DeviceError(DEVICE_ERR.TOKEN_STORE_FULL, `token needs ${cost} bytes, the budget is ${budget}`);
    sweep();
    if (used + cost <= budget) return [];
    const victims = [...entries].filter(([, e]) => e.expiresAt < expiresAt).sort(([, a], [, b]) => a.expiresAt - b.expiresAt);
    let freeable = 0;
    for (const [, e] of victims) freeable += e.cost;
    if (used - freeable + cost > budget) {
      throw new DeviceError(DEVICE_ERR.TOKEN_STORE_FULL, 'token store is full of tokens that outlive this one');
    }
    return victims;
  };
  return {
    checkFits: (cost, expiresAt) => void victimsFor(cost, expiresAt),
    add(entry) {
      const key = toHex(entry.hash);
      if (entries.has(key)) return; // the same token again: already held
      for (const [k] of victimsFor(entry.cost, entry.expiresAt)) {
        if (used + entry.cost <= budget) break;
        remove(k);
      }
      entries.set(key, entry);
      used += entry.cost;
    },
    get(hash) {
      const e = entries.get(toHex(hash));
      return e && e.expiresAt > clock() ? e : undefined;
    },
    lookup: (hash) => entries.get(toHex(hash)),
    delete: (hash) => remove(toHex(hash)),
    sweep,
    dropWhere(pick) {
      const dropped: Uint8Array[] = [];
      for (const [k, e] of entries) if (pick(e) && remove(k)) dropped.push(e.hash);
      return dropped;
    },
    get used() {
      return used;
    },
    get size() {
      return entries.size;
    },
    budget,
  };
}
