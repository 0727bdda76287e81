/**
 * The broker's trust follows the service's key rotation (`keybound authz rotate-key`): it re-reads
 * the service's COSE_KeySet (GET <authz>/keys, RFC 9052 §7) periodically and when a token or list
 * names a kid it does not know, so a running broker accepts tokens of a new key without restart,
 * and stops trusting a retired key once the service stops publishing it.
 *
 * What the broker believes, and why: the answer comes over HTTPS from the service's own endpoint,
 * authenticated by its certificate (a private CA with --authz-ca is then the only one trusted), or
 * plain HTTP on loopback only (authz-http.ts). The broker already believes that endpoint's
 * unsigned introspection answers (RFC 7662) about which tokens are active, so a key set from it
 * adds no new root of trust. Bounds: public keys only (a symmetric or private key refuses the whole
 * answer), 1 to 64 keys, 16 KiB; the configured trust (--trust) always stays: a fetched set adds
 * to it and replaces only the previously fetched set. A refused or failed fetch changes nothing.
 *
 * Rate: unknown kids cost at most one fetch per MIN_KEYS_REFRESH_S, whatever the number of
 * tokens naming them (a flood of made-up kids cannot turn the broker into a load generator
 * against the service); concurrent misses share one fetch. The periodic fetch has its own
 * interval and does not use up the unknown-kid allowance: a rotation right after it is still seen
 * at the first token of the new key.
 */
import { toHex, type CoseKey, type KeyResolver } from '../cose/index.js';
import { authzRequest, checkAuthzUrl, type AuthzConnection } from './authz-http.js';
import { readBoundedBody } from '../device/adapters/index.js';
import type { BrokerLog } from './broker-logger.js';
import { timerDelayMs } from './timer-delay.js';
import { brokerTrust, type BrokerTrust } from './trust.js';
import { trustFromBytes } from './trust-file.js';

/** A key set is a few hundred bytes per key; 64 keys fit easily. */
export const MAX_KEYS_FETCH_BYTES = 16 * 1024;
/** An unknown kid triggers at most one fetch in this many seconds. */
export const MIN_KEYS_REFRESH_S = 10;
/** Default seconds between two periodic fetches (the service publishes with max-age=300). */
export const DEFAULT_KEYS_REFRESH_S = 300;
/** The CLI's bounds on --keys-refresh: a second at the shortest, a week at the longest (an unknown kid still fetches at once, MIN_KEYS_REFRESH_S apart). */
export const MIN_KEYS_REFRESH_PERIOD_S = 1;
export const MAX_KEYS_REFRESH_PERIOD_S = 7 * 86_400;
export const KEYS_FETCH_TIMEOUT_MS = 5000;

export interface TrustRefreshOptions extends AuthzConnection {
  audience: string;
  /** Failures (the trust stays as it was). */
  log: BrokerLog;
  /** Routine news: a new key set taken (an operator's rotation, not a warning). Default: `log`. */
  info?: BrokerLog;
  /** Seconds since the epoch (wall clock, for the trust's validity checks). */
  clock: () => number;
  /** Milliseconds, monotonic (performance.now): the rate limit must not move with the wall clock. */
  monotonic?: () => number;
  minIntervalS?: number;
}

export interface RefreshableTrust extends BrokerTrust {
  /** Lookups of a kid that no trusted key has, so far: a verifier compares it before and after. */
  readonly misses: number;
  /**
   * Fetches /keys; for an unknown kid (the default) only if no unknown-kid fetch ran in the last
   * minIntervalS. Joins a fetch already running. True when the key set changed.
   */
  refresh(reason?: 'unknown-kid' | 'periodic'): Promise<boolean>;
  /** Kids (hex) of the keys the last accepted fetch added. */
  readonly fetchedKids: readonly string[];
  /** Fetches that reached the service so far (for tests and metrics). */
  readonly fetches: number;
}

const fingerprint = (keys: readonly CoseKey[]) =>
  keys
    .map((k) => `${k.kid ? toHex(k.kid) : ''}:${k.x ? toHex(k.x) : ''}:${k.y ? toHex(k.y) : ''}:${k.alg ?? ''}`)
    .sort()
    .join(',');

async function fetchKeySet(opts: TrustRefreshOptions): Promise<CoseKey[]> {
  const res = await authzRequest(opts, 'keys', { method: 'GET', timeoutMs: KEYS_FETCH_TIMEOUT_MS });
  if (Number(res.headers.get('content-length') ?? 0) > MAX_KEYS_FETCH_BYTES) {
    await res.body?.cancel();
    throw new Error('answer too large');
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  const bytes = await readBoundedBody(res, MAX_KEYS_FETCH_BYTES);
  // Only a COSE_KeySet: trust-file.ts refuses private or symmetric keys and bounds the count; a
  // provisioning bundle (it carries shared secrets) is never what /keys answers.
  const input = trustFromBytes(bytes, opts.clock());
  if (!Array.isArray(input)) throw new Error('not a COSE_KeySet');
  return [...(input as readonly CoseKey[])];
}

/** Wraps the configured trust; throws insecure_authz_url for a URL in clear off loopback. */
export function refreshableTrust(base: BrokerTrust, opts: TrustRefreshOptions): RefreshableTrust {
  checkAuthzUrl(opts.authzUrl);
  const monotonic = opts.monotonic ?? (() => performance.now());
  const minIntervalMs = (opts.minIntervalS ?? MIN_KEYS_REFRESH_S) * 1000;
  let fetched: BrokerTrust | undefined;
  let fetchedKeys: CoseKey[] = [];
  let misses = 0;
  let fetches = 0;
  /** When an unknown kid last caused a fetch. */
  let lastFetchAt = Number.NEGATIVE_INFINITY;
  let running: Promise<boolean> | undefined;

  const resolve = ((headers) => {
    const key = base.resolve(headers) ?? fetched?.resolve(headers);
    if (!key && headers.kid) misses++;
    return key;
  }) as KeyResolver;

  const fetchOnce = async (): Promise<boolean> => {
    fetches++;
    try {
      const keys = await fetchKeySet(opts);
      const next = brokerTrust(keys, { audience: opts.audience, now: opts.clock() });
      const changed = fingerprint(keys) !== fingerprint(fetchedKeys);
      fetched = next;
      fetchedKeys = keys;
      if (changed) (opts.info ?? opts.log)(`broker: trust refreshed from the service's /keys (${keys.length} keys)`);
      return changed;
    } catch (e) {
      const name = (e as Error).name;
      const why = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : String((e as Error).message).slice(0, 80);
      opts.log(`broker: key set fetch refused or failed, trust unchanged: ${why}`);
      return false;
    }
  };

  return {
    resolve,
    sharedKey: base.sharedKey,
    issuer: base.issuer,
    get signers() {
      const seen = new Set(base.signers.map((k) => (k.kid ? toHex(k.kid) : '')));
      return [...base.signers, ...(fetched?.signers ?? []).filter((k) => !seen.has(k.kid ? toHex(k.kid) : ''))];
    },
    get misses() {
      return misses;
    },
    get fetches() {
      return fetches;
    },
    get fetchedKids() {
      return fetchedKeys.filter((k) => k.kid).map((k) => toHex(k.kid!));
    },
    refresh(reason = 'unknown-kid') {
      if (running) return running;
      if (reason === 'unknown-kid') {
        if (monotonic() - lastFetchAt < minIntervalMs) return Promise.resolve(false);
        lastFetchAt = monotonic();
      }
      running = fetchOnce().finally(() => (running = undefined));
      return running;
    },
  };
}

/** Refreshes every intervalS (and once now, awaited); returns stop(). */
export async function startTrustRefresh(trust: RefreshableTrust, intervalS: number): Promise<() => void> {
  await trust.refresh('periodic');
  const timer = setInterval(() => void trust.refresh('periodic'), timerDelayMs(intervalS));
  timer.unref();
  return () => clearInterval(timer);
}
