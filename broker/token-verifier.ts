/**
 * The broker as a resource server (DESIGN.md "MQTT"): a token is verified offline with the
 * service's keys (by-value CWT), or introspected at the service and the answer cached until the
 * token's expiry ("phantom token", reference tokens). Verified tokens are cached by their hash,
 * so a reconnect with the same token costs one proof check, not a signature check.
 * Revoked hashes (from the service's signed list) are refused before any cache is consulted.
 */
import { isIssuedBefore, parseScope, toHex, type Clock, type CryptoProvider } from '../cose/index.js';
import { DeviceError, createTokenAcceptance, isByValueToken, type AcceptedToken, type AcceptedTokenCache } from '../device/index.js';
import { BrokerError, BROKER_ERR, brokerErrorFromDevice } from './errors.js';
import type { DeferredSignatures } from '../cose/index.js';
import type { Introspect } from './introspection-client.js';
import { MESSAGE_POP_CLAIM } from './message-pop.js';
import { memoizedTokenHash } from './token-hash-memo.js';
import type { BrokerTrust } from './trust.js';

/** Tokens kept verified: one per connected client and then some; each entry is ~300 bytes. */
export const MAX_CACHED_TOKENS = 50_000;
/** An inactive reference token is remembered this long, so garbage cannot hammer the service. */
export const NEGATIVE_CACHE_SECONDS = 30;
const MAX_NEGATIVE_ENTRIES = 10_000;

export type VerifiedToken = AcceptedToken & {
  /** The token asks that every PUBLISH be signed by the cnf key (MESSAGE_POP_CLAIM). */
  messagePop: boolean;
};

export interface TokenVerifierOptions {
  audience: string;
  trust: BrokerTrust;
  clock: Clock;
  provider: CryptoProvider;
  /** Seconds of tolerated skew for exp/nbf (default 0: RFC 9431 disconnects at expiry). */
  leeway?: number;
  introspect?: Introspect;
  isRevoked(hashHex: string): boolean;
  /** The own audience's issued-before floor (-1 or absent: none), from an overflowing list. */
  issuedBefore?: () => number;
  /**
   * The trust's key refresh (trust-refresh.ts): when a token names a kid no trusted key has, the
   * key set is fetched again (rate-limited there) and the token checked once more.
   */
  keyRefresh?: { readonly misses: number; refresh(): Promise<boolean> };
}

export interface TokenVerifier {
  /**
   * With `deferred`, a by-value token's signature is only recorded there (deferred-signatures.ts)
   * and its cache entry waits for `deferred.commit()`: the caller confirms before trusting it.
   */
  verify(token: Uint8Array, deferred?: DeferredSignatures): Promise<VerifiedToken>;
  /** Drops a token from the cache (revoked). */
  forget(hashHex: string): void;
  /**
   * Whether a token this verifier's rules accepted elsewhere (a worker thread with the same trust
   * or a subset of it, admission-threads.ts) still stands here: a by-value token, not revoked,
   * not under the issued-before floor, not expired. What this side alone can know.
   */
  stillAccepts(verified: VerifiedToken): boolean;
  /** Caches a token accepted elsewhere (after stillAccepts), as if verified here. */
  remember(verified: VerifiedToken): void;
  readonly cached: number;
}

/**
 * The broker's side of the acceptance core (device/token-acceptance.ts): the same rules and codes
 * as a device, an LRU of accepted tokens, and the phantom-token path (introspection, async, with a
 * negative cache so that garbage cannot hammer the service).
 */
export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const { clock } = opts;
  const cache = new Map<string, VerifiedToken>();
  const inactive = new Map<string, number>();
  /** Set only during one synchronous accept whose signatures are deferred (verifyOnce). */
  let deferring: DeferredSignatures | undefined;

  function addToCache(verified: VerifiedToken): void {
    if (cache.size >= MAX_CACHED_TOKENS) {
      const now = clock();
      for (const [k, v] of cache) if (v.expiresAt <= now) cache.delete(k);
      // Still full: drop the oldest entry; it costs its owner one signature check on reconnect.
      if (cache.size >= MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value!);
    }
    cache.set(verified.hashHex, verified);
  }

  const lru: AcceptedTokenCache = {
    get: (hashHex) => cache.get(hashHex),
    reserve: () => {},
    add(entry) {
      const verified = entry as VerifiedToken;
      verified.messagePop = entry.other?.get(MESSAGE_POP_CLAIM) === true;
      // A token whose signature is not yet confirmed never enters the cache: a forgery would be
      // accepted from there on its next CONNECT.
      if (deferring) deferring.afterConfirmed(() => addToCache(verified));
      else addToCache(verified);
    },
    delete: (hashHex) => void cache.delete(hashHex),
  };
  // The acceptance verifies with the deferring provider while `deferring` is set, else with ours.
  const acceptanceProvider: CryptoProvider = Object.create(opts.provider, {
    verify: { value: (...args: Parameters<CryptoProvider['verify']>) => (deferring?.provider ?? opts.provider).verify(...args) },
  }) as CryptoProvider;
  const acceptance = createTokenAcceptance({
    audience: opts.audience,
    trust: opts.trust,
    clock,
    provider: acceptanceProvider,
    scopeKind: 'aif-mqtt',
    parseScope: (value) => parseScope(value, { expect: 'aif-mqtt' }),
    leeway: opts.leeway ?? 0,
    // The broker needs a wall-clock expiry to disconnect at (RFC 9431 §6); exi is for clock-less devices.
    requireExp: true,
    isRevoked: (hash) => opts.isRevoked(toHex(hash)),
    isIssuedBeforeFloor: (iat) => isIssuedBefore(opts.issuedBefore?.() ?? -1, iat),
    cache: lru,
    hashToken: memoizedTokenHash(opts.provider),
  });

  async function introspected(presented: ReturnType<typeof acceptance.present>): Promise<AcceptedToken> {
    if (!opts.introspect) throw new BrokerError(BROKER_ERR.INVALID_TOKEN, 'not a CWT, and no authorization service to introspect it at');
    const until = inactive.get(presented.hashHex);
    if (until !== undefined && until > clock()) throw new BrokerError(BROKER_ERR.INVALID_TOKEN, 'reference token is not active');
    const answer = await opts.introspect(presented.token);
    if (!answer.active) {
      if (inactive.size >= MAX_NEGATIVE_ENTRIES) inactive.clear();
      inactive.set(presented.hashHex, clock() + NEGATIVE_CACHE_SECONDS);
    }
    // Revoked while the service was being asked: the list wins.
    return acceptance.acceptIntrospected(acceptance.present(presented.token), answer);
  }

  function acceptByValue(token: Uint8Array, deferred: DeferredSignatures | undefined): AcceptedToken {
    // Synchronous: no other request's accept runs while `deferring` is set.
    deferring = deferred;
    try {
      return acceptance.accept(token);
    } finally {
      deferring = undefined;
    }
  }

  async function verifyOnce(token: Uint8Array, deferred: DeferredSignatures | undefined): Promise<VerifiedToken> {
    try {
      const presented = acceptance.present(token);
      const entry = presented.known ?? (isByValueToken(token) ? acceptByValue(token, deferred) : await introspected(presented));
      return entry as VerifiedToken;
    } catch (cause) {
      if (cause instanceof DeviceError) throw brokerErrorFromDevice(cause);
      throw cause;
    }
  }

  return {
    async verify(token, deferred) {
      const refresh = opts.keyRefresh;
      const missesBefore = refresh?.misses ?? 0;
      try {
        return await verifyOnce(token, deferred);
      } catch (error) {
        // A kid we do not know: perhaps the service rotated its key. One retry, after a fetch.
        if (!refresh || refresh.misses === missesBefore || !(await refresh.refresh())) throw error;
        return verifyOnce(token, deferred);
      }
    },
    forget: (hashHex) => void cache.delete(hashHex),
    stillAccepts: (verified) =>
      !verified.reference &&
      !opts.isRevoked(verified.hashHex) &&
      !isIssuedBefore(opts.issuedBefore?.() ?? -1, verified.issuedAt) &&
      // No leeway here: a token that close to its end is decided on this side, with it.
      verified.expiresAt > clock(),
    remember: (verified) => {
      if (!cache.has(verified.hashHex)) addToCache(verified);
    },
    get cached() {
      return cache.size;
    },
  };
}
