/**
 * The broker as a resource server (DESIGN.md "MQTT"): a token is verified offline with the
 * service's keys (by-value CWT), or introspected at the service and the answer cached until the
 * token's expiry ("phantom token", reference tokens). Verified tokens are cached by their hash,
 * so a reconnect with the same token costs one proof check, not a signature check.
 * Revoked hashes (from the service's signed list) are refused before any cache is consulted.
 */
import {
  CoseError,
  DEFAULT_ENCRYPTION_ALGORITHMS,
  ERR,
  Tag,
  decodeCbor,
  openEncryptedCoseKey,
  parseScope,
  toHex,
  tokenHash,
  verifyCwt,
  type CborValue,
  type Clock,
  type Confirmation,
  type CoseKey,
  type CryptoProvider,
  type Scope,
  detachedCoseKey,
} from '../cose/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';
import type { Introspect } from './introspection-client.js';
import { MESSAGE_POP_CLAIM } from './message-pop.js';
import type { BrokerTrust } from './trust.js';

/** Tokens kept verified: one per connected client and then some; each entry is ~300 bytes. */
export const MAX_CACHED_TOKENS = 50_000;
/** An inactive reference token is remembered this long, so garbage cannot hammer the service. */
export const NEGATIVE_CACHE_SECONDS = 30;
const MAX_NEGATIVE_ENTRIES = 10_000;

export interface VerifiedToken {
  hash: Uint8Array;
  hashHex: string;
  scope: Scope;
  popKey: CoseKey;
  /** Seconds; the token's exp. */
  expiresAt: number;
  subject: string | undefined;
  /** The token asks that every PUBLISH be signed by the cnf key (MESSAGE_POP_CLAIM). */
  messagePop: boolean;
  reference: boolean;
}

export interface TokenVerifierOptions {
  audience: string;
  trust: BrokerTrust;
  clock: Clock;
  provider: CryptoProvider;
  /** Seconds of tolerated skew for exp/nbf (default 0: RFC 9431 disconnects at expiry). */
  leeway?: number;
  introspect?: Introspect;
  isRevoked(hashHex: string): boolean;
}

export interface TokenVerifier {
  verify(token: Uint8Array): Promise<VerifiedToken>;
  /** Drops a token from the cache (revoked). */
  forget(hashHex: string): void;
  readonly cached: number;
}

/** A by-value token is a COSE structure (tagged, or an untagged array); anything else is a reference. */
function looksLikeCwt(token: Uint8Array): boolean {
  try {
    const v = decodeCbor(token, { maxBytes: token.length, maxDepth: 8 });
    return v instanceof Tag || Array.isArray(v);
  } catch {
    return false;
  }
}

export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const { audience, trust, clock, provider } = opts;
  const leeway = opts.leeway ?? 0;
  const cache = new Map<string, VerifiedToken>();
  const inactive = new Map<string, number>();

  const invalid = (code: (typeof BROKER_ERR)[keyof typeof BROKER_ERR], message: string, cause?: unknown) =>
    new BrokerError(code, message, cause === undefined ? undefined : { cause });

  function popKeyOf(cnf: Confirmation | undefined): CoseKey {
    if (!cnf) throw invalid(BROKER_ERR.INVALID_TOKEN, 'cnf(8) missing: not a proof-of-possession token');
    if ('coseKey' in cnf) return cnf.coseKey;
    if ('kid' in cnf) {
      const key = trust.sharedKey(cnf.kid);
      if (!key) throw invalid(BROKER_ERR.INVALID_TOKEN, 'cnf(8) kid(3) names no key this broker shares');
      return key;
    }
    try {
      return openEncryptedCoseKey(cnf, trust.resolve, { provider, algorithms: DEFAULT_ENCRYPTION_ALGORITHMS });
    } catch (cause) {
      if (cause instanceof CoseError) throw invalid(BROKER_ERR.INVALID_TOKEN, `cnf(8) Encrypted_COSE_Key(2) does not open (${cause.code})`, cause);
      throw cause;
    }
  }

  function mqttScope(value: CborValue | undefined): Scope {
    if (value === undefined) throw invalid(BROKER_ERR.NOT_AUTHORIZED, 'scope(9) missing: the broker grants nothing by default');
    try {
      return parseScope(value, { expect: 'aif-mqtt' });
    } catch (cause) {
      throw invalid(BROKER_ERR.NOT_AUTHORIZED, `scope(9) is not an AIF-MQTT scope (${(cause as CoseError).code})`, cause);
    }
  }

  function byValue(token: Uint8Array, hash: Uint8Array, hashHex: string): VerifiedToken {
    let verified;
    try {
      verified = verifyCwt(token, trust.resolve, {
        audience,
        ...(trust.issuer ? { issuer: trust.issuer } : {}),
        clock,
        leeway,
        decryptionKeys: trust.resolve,
        provider,
      });
    } catch (cause) {
      if (cause instanceof CoseError) {
        const code =
          cause.code === ERR.CWT_EXPIRED ? BROKER_ERR.EXPIRED : cause.code === ERR.CWT_WRONG_AUDIENCE ? BROKER_ERR.WRONG_AUDIENCE : BROKER_ERR.INVALID_TOKEN;
        throw invalid(code, `token refused (${cause.code})`, cause);
      }
      throw cause;
    }
    const { claims } = verified;
    // The broker needs a wall-clock expiry to disconnect at (RFC 9431 §6); exi is for clock-less devices.
    if (claims.exp === undefined) throw invalid(BROKER_ERR.INVALID_TOKEN, 'exp(4) missing: the broker needs an expiry time');
    return {
      hash,
      hashHex,
      scope: mqttScope(claims.scope),
      popKey: detachedCoseKey(popKeyOf(verified.cnf)),
      expiresAt: claims.exp + leeway,
      subject: claims.sub,
      messagePop: claims.other?.get(MESSAGE_POP_CLAIM) === true,
      reference: false,
    };
  }

  async function byReference(token: Uint8Array, hash: Uint8Array, hashHex: string): Promise<VerifiedToken> {
    if (!opts.introspect) throw invalid(BROKER_ERR.INVALID_TOKEN, 'not a CWT, and no authorization service to introspect it at');
    const until = inactive.get(hashHex);
    if (until !== undefined && until > clock()) throw invalid(BROKER_ERR.INVALID_TOKEN, 'reference token is not active');
    const answer = await opts.introspect(token);
    if (!answer.active) {
      if (inactive.size >= MAX_NEGATIVE_ENTRIES) inactive.clear();
      inactive.set(hashHex, clock() + NEGATIVE_CACHE_SECONDS);
      throw invalid(BROKER_ERR.INVALID_TOKEN, 'reference token is not active');
    }
    const auds = answer.aud === undefined ? [] : Array.isArray(answer.aud) ? answer.aud : [answer.aud];
    if (!auds.includes(audience)) throw invalid(BROKER_ERR.WRONG_AUDIENCE, 'reference token is for another audience');
    if (answer.exp === undefined) throw invalid(BROKER_ERR.INVALID_TOKEN, 'introspection gave no exp(4)');
    if (answer.exp <= clock()) throw invalid(BROKER_ERR.EXPIRED, 'reference token has expired');
    return {
      hash,
      hashHex,
      scope: mqttScope(answer.scope),
      popKey: detachedCoseKey(popKeyOf(answer.cnf)),
      expiresAt: answer.exp,
      subject: answer.sub,
      messagePop: false,
      reference: true,
    };
  }

  function remember(entry: VerifiedToken): void {
    if (cache.size >= MAX_CACHED_TOKENS) {
      const now = clock();
      for (const [k, v] of cache) if (v.expiresAt <= now) cache.delete(k);
      // Still full: drop the oldest entry; it costs its owner one signature check on reconnect.
      if (cache.size >= MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value!);
    }
    cache.set(entry.hashHex, entry);
  }

  return {
    async verify(token) {
      const hash = tokenHash(token, provider);
      const hashHex = toHex(hash);
      if (opts.isRevoked(hashHex)) throw invalid(BROKER_ERR.REVOKED, 'token is on the revocation list');
      const known = cache.get(hashHex);
      if (known) {
        if (known.expiresAt > clock()) return known;
        cache.delete(hashHex);
        throw invalid(BROKER_ERR.EXPIRED, 'token has expired');
      }
      const entry = looksLikeCwt(token) ? byValue(token, hash, hashHex) : await byReference(token, hash, hashHex);
      if (entry.expiresAt <= clock()) throw invalid(BROKER_ERR.EXPIRED, 'token has expired');
      remember(entry);
      return entry;
    },
    forget: (hashHex) => void cache.delete(hashHex),
    get cached() {
      return cache.size;
    },
  };
}
