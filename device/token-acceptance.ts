/**
 * The one place a token is accepted. The device's resource server and the broker both call it,
 * so the same token meets the same rules and the same failure gets the same code everywhere:
 * token bytes in, an AcceptedToken (claims, PoP key, parsed scope, hash) or a DeviceError out.
 *
 * In order (cheap and unauthenticated checks first, state changed last):
 *   1. the hash over canonical bytes (cose/token-hash.ts) is on no revocation list;
 *   2. a token accepted before is served from the cache (one hash, no signature check);
 *   3. verifyCwt: alg from the protected header, key by kid from the trust anchors, audience,
 *      issuer, time (exp/nbf, or exi for clock-less devices), cnf present;
 *   4. scope(9) parses as the verifier's kind of AIF (RFC 9237 for REST, RFC 9431 for MQTT);
 *   5. the PoP key: cnf COSE_Key, cnf kid naming a key the verifier shares, or an
 *      Encrypted_COSE_Key that opens with the verifier's own key;
 *   6. room in the cache, then a cnonce(39) the verifier issued (RFC 9200 §5.3.1) and an exi
 *      sequence number never seen (RFC 9200 §5.10.3): these spend state, so they come last.
 * Reference tokens (the broker's phantom-token path) skip 3 and take the service's introspection
 * answer instead; every later step is the same.
 */
import {
  CLAIM_CNONCE,
  CoseError,
  DEFAULT_ENCRYPTION_ALGORITHMS,
  ERR,
  Tag,
  decodeCbor,
  detachedCoseKey,
  openEncryptedCoseKey,
  toHex,
  tokenHash,
  utf8,
  verifyCwt,
  type CborMap,
  type CborValue,
  type Clock,
  type Confirmation,
  type CoseKey,
  type CryptoProvider,
  type KeyInput,
  type OscoreInputMaterial,
  type Scope,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';
import { EXI_OWNER_BYTES, type ExiTracker } from './exi-tracker.js';
import type { RequestHints } from './request-hints.js';

/** What a verifier trusts: the service's anchors, and the symmetric keys it shares by kid. */
export interface AcceptanceTrust {
  readonly resolve: KeyInput;
  readonly issuer?: string | undefined;
  sharedKey(kid: Uint8Array): CoseKey | undefined;
}

export interface AcceptedToken {
  hash: Uint8Array;
  hashHex: string;
  scope: Scope;
  /** The raw scope claim, for hints and persisted sessions. */
  scopeClaim: CborValue;
  /** The key a holder proves: a public COSE_Key, or the symmetric PoP key. */
  popKey: CoseKey;
  /** Verifier-clock second at which the token stops being valid (exp, or first receipt + exi). */
  expiresAt: number;
  subject: string | undefined;
  /** The token's iat(6), for an issued-before floor (cose/revocation-list.ts); undefined for reference tokens. */
  issuedAt: number | undefined;
  /** The exi sequence number (RFC 9200 §5.10.3) of a clock-less token. */
  exiSequence: number | undefined;
  /** Claims keybound does not interpret (e.g. the broker's message-PoP claim). */
  other: CborMap | undefined;
  /** Accepted on the service's introspection answer, not by its signature. */
  reference: boolean;
  /**
   * RFC 9203 §3.2.1: the OSCORE_Input_Material of a cnf osc(4) token (its popKey is then the
   * Master Secret, kid = the material's id): device/authz-info.ts derives the context from it.
   */
  osc?: OscoreInputMaterial;
  /**
   * The kid of the anchor that signed it (COSE_Sign1 tokens): a verifier whose anchors a trust
   * update replaced refuses held tokens of a key that left the set (device/trust-updates.ts).
   */
  signerKid?: Uint8Array;
}

/** Where accepted tokens are kept: the device's byte-budgeted store, the broker's LRU. */
export interface AcceptedTokenCache {
  /** The entry even if it has expired since, so a refusal can say `expired`. */
  get(hashHex: string): AcceptedToken | undefined;
  /** Throws a DeviceError (token_store_full, busy) when `add` would not fit; changes nothing. */
  reserve(entry: AcceptedToken, tokenBytes: number): void;
  add(entry: AcceptedToken, tokenBytes: number): void;
  delete(hashHex: string): void;
}

/** What an introspection answer (RFC 7662, RFC 9200 §5.9.2) vouches for. */
export interface IntrospectedClaims {
  active: boolean;
  aud?: string | string[];
  exp?: number;
  scope?: CborValue;
  cnf?: Confirmation;
  sub?: string;
}

export interface TokenAcceptanceOptions {
  audience: string;
  trust: AcceptanceTrust;
  clock: Clock;
  provider: CryptoProvider;
  /** Which AIF the scope must be: a device's REST resources or a broker's MQTT topics. */
  scopeKind: 'aif-rest' | 'aif-mqtt';
  /**
   * Reads scope(9) as that kind, throwing when it is not (cose's parseRestScope, or parseScope
   * with `expect`). Passed in so a device bundle carries only the REST parser.
   */
  parseScope: (value: CborValue) => Scope;
  /** Seconds of tolerated skew for exp/nbf (default 0). */
  leeway?: number;
  /** Refuse tokens without exp(4): a broker disconnects at a wall-clock time (RFC 9431 §6). */
  requireExp?: boolean;
  isRevoked(hash: Uint8Array): boolean;
  /** An issued-before floor from an overflowing list: is a by-value token with this iat dead? */
  isIssuedBeforeFloor?(iat: number | undefined): boolean;
  cache: AcceptedTokenCache;
  /** Clock-less expiry state; without it a token with exi(40) is refused. */
  exi?: ExiTracker;
  /** The nonces this verifier handed out as cnonce hints; a token's cnonce(39) must be one, unused. */
  cnonces?: { consume(nonce: Uint8Array): boolean };
  /** AS Request Creation Hints (RFC 9200 §5.3) for every refusal. */
  hints?: () => RequestHints;
  /**
   * Step 1's hash (cose tokenHash: SHA-256 over the canonical bytes, which costs a decode and a
   * re-encode). A server that sees the same token again and again passes a memo of it (the
   * broker: broker/token-hash-memo.ts); it must answer exactly what tokenHash answers, as a copy
   * the caller may keep. Default: tokenHash with `provider`.
   */
  hashToken?: (token: Uint8Array) => Uint8Array;
}

/** A token hashed and checked against revocation, and found in the cache if it was there. */
export interface PresentedToken {
  token: Uint8Array;
  hash: Uint8Array;
  hashHex: string;
  known: AcceptedToken | undefined;
}

export interface TokenAcceptance {
  /** Steps 1 and 2: hash, revocation, cache. Throws revoked/expired. */
  present(token: Uint8Array): PresentedToken;
  /**
   * The whole check for a by-value token (a cached one costs only step 1 and 2). `bound`: the
   * OSCORE_Input_Material of the context an RFC 9203 update of access rights came under; a cnf
   * kid(3) naming its id binds the token to it (§4.4).
   */
  accept(token: Uint8Array, bound?: OscoreInputMaterial): AcceptedToken;
  /** Steps 4 to 6 on the service's introspection answer for a reference token. */
  acceptIntrospected(presented: PresentedToken, answer: IntrospectedClaims): AcceptedToken;
  /** A token accepted earlier, by its hash (a request that carries only the hash). */
  find(hash: Uint8Array): AcceptedToken;
}

/** Maps a cose/ verification error onto the refusal codes every verifier shares. */
export function refusalForCoseError(cause: CoseError): DeviceErrorCode {
  switch (cause.code) {
    case ERR.CWT_EXPIRED:
      return DEVICE_ERR.EXPIRED;
    case ERR.CWT_WRONG_AUDIENCE:
      return DEVICE_ERR.WRONG_AUDIENCE;
    case ERR.COSE_NO_KEY:
      return DEVICE_ERR.UNKNOWN_KEY;
    default:
      return DEVICE_ERR.INVALID_TOKEN;
  }
}

/** A by-value token is a COSE structure (tagged, or an untagged array); anything else is a reference. */
export function isByValueToken(token: Uint8Array): boolean {
  try {
    const v = decodeCbor(token, { maxBytes: token.length, maxDepth: 8 });
    return v instanceof Tag || Array.isArray(v);
  } catch {
    return false;
  }
}

/** A device's acceptance: by-value tokens only (no reference tokens, so no introspection answers). */
export type ByValueTokenAcceptance = Omit<TokenAcceptance, 'acceptIntrospected'>;

/** What acceptIntrospected shares with the by-value checks. */
interface AcceptanceSteps {
  audience: string;
  refuse(code: DeviceErrorCode, message: string, cause?: unknown): DeviceError;
  scopeOf(value: CborValue | undefined): Scope;
  popKeyOf(cnf: Confirmation | undefined, encrypted: boolean): CoseKey;
  admit(entry: AcceptedToken, tokenBytes: number, cnonce: CborValue | undefined, exi: undefined): AcceptedToken;
}

/** The broker's acceptance: by-value tokens, and reference tokens on the service's introspection answer. */
export function createTokenAcceptance(opts: TokenAcceptanceOptions): TokenAcceptance {
  return acceptanceWith(opts, (steps) => ({ acceptIntrospected: (p: PresentedToken, answer: IntrospectedClaims) => acceptIntrospected(steps, p, answer) }));
}

/**
 * The same checks without acceptIntrospected: a device takes tokens by value only, and a device
 * bundle (which calls this) then leaves the reference-token path out.
 */
export function createByValueAcceptance(opts: TokenAcceptanceOptions): ByValueTokenAcceptance {
  return acceptanceWith(opts, () => ({}));
}

function acceptanceWith<T extends object>(opts: TokenAcceptanceOptions, more: (steps: AcceptanceSteps) => T): ByValueTokenAcceptance & T {
  const { audience, trust, clock, provider, cache } = opts;
  const leeway = opts.leeway ?? 0;

  const refuse = (code: DeviceErrorCode, message: string, cause?: unknown): DeviceError =>
    new DeviceError(code, message, {
      ...(opts.hints ? { hints: opts.hints() } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });

  function popKeyOf(cnf: Confirmation | undefined, encrypted: boolean, bound?: OscoreInputMaterial): CoseKey {
    if (!cnf) throw refuse(DEVICE_ERR.INVALID_TOKEN, 'cnf(8) missing: not a proof-of-possession token');
    if ('coseKey' in cnf) return cnf.coseKey;
    if ('osc' in cnf) {
      // RFC 9203 §3.2: the Master Secret is encrypted for the RS alone; one seen in the clear is
      // known to whoever carried the token, so it proves nothing.
      if (!encrypted) throw refuse(DEVICE_ERR.INVALID_TOKEN, 'cnf(8) osc(4) in a token not encrypted');
      // RFC 9203 §4.2: a missing mandatory parameter from the AS is 4.00 (bad_request).
      if (!cnf.osc.ms) throw refuse(DEVICE_ERR.BAD_REQUEST, 'cnf(8) osc(4) has no ms(2)');
      return { kty: 'Symmetric', kid: cnf.osc.id, k: cnf.osc.ms };
    }
    if ('kid' in cnf) {
      // RFC 9203 §4.4: a token posted under an OSCORE context names that context's material by its id.
      if (bound && toHex(cnf.kid) === toHex(bound.id)) return { kty: 'Symmetric', kid: bound.id, k: bound.ms };
      const key = trust.sharedKey(cnf.kid);
      if (!key) throw refuse(DEVICE_ERR.UNKNOWN_KEY, 'cnf(8) kid(3) names no key this verifier shares');
      return key;
    }
    try {
      return openEncryptedCoseKey(cnf, trust.resolve, { provider, algorithms: DEFAULT_ENCRYPTION_ALGORITHMS });
    } catch (cause) {
      if (cause instanceof CoseError) {
        const code = cause.code === ERR.COSE_NO_KEY ? DEVICE_ERR.UNKNOWN_KEY : DEVICE_ERR.INVALID_TOKEN;
        throw refuse(code, `cnf(8) Encrypted_COSE_Key(2) does not open (${cause.code})`, cause);
      }
      throw cause;
    }
  }

  function scopeOf(value: CborValue | undefined): Scope {
    // A sound token that grants nothing here: the same code at a device and at the broker (RFC 6750 §3.1).
    if (value === undefined) throw refuse(DEVICE_ERR.INSUFFICIENT_SCOPE, 'scope(9) missing: this verifier grants nothing by default');
    try {
      return opts.parseScope(value);
    } catch (cause) {
      const code = cause instanceof CoseError ? cause.code : 'error';
      throw refuse(DEVICE_ERR.INSUFFICIENT_SCOPE, `scope(9) is not an ${opts.scopeKind.toUpperCase()} scope (${code})`, cause);
    }
  }

  /** Step 6: the entry must fit before state is spent on it; then cnonce, exi, and into the cache. */
  function admit(entry: AcceptedToken, tokenBytes: number, cnonce: CborValue | undefined, exi: { cti: Uint8Array; seconds: number } | undefined): AcceptedToken {
    if (entry.expiresAt <= clock()) throw refuse(DEVICE_ERR.EXPIRED, 'token has expired');
    cache.reserve(exi ? { ...entry, expiresAt: Math.min(entry.expiresAt, clock() + exi.seconds) } : entry, tokenBytes);
    if (cnonce !== undefined) {
      // RFC 9200 §5.3.1: the cnonce must be one this verifier issued and has not seen used.
      if (!(cnonce instanceof Uint8Array) || !opts.cnonces?.consume(cnonce)) {
        throw refuse(DEVICE_ERR.REPLAY, 'cnonce(39) is not a nonce this verifier issued, or it was already used: ask for a token with the new cnonce hint');
      }
    }
    if (exi) {
      if (!opts.exi) throw refuse(DEVICE_ERR.INVALID_TOKEN, 'exi(40) tokens are for clock-less devices: this verifier needs exp(4)');
      let admitted;
      try {
        // RFC 9200 §5.10.3: exi counts from this verifier's first receipt; its cti is never accepted twice.
        // Owned by the token's subject (the client, or its user): each gets a share of the live table.
        const owner = entry.subject === undefined ? undefined : provider.digest('SHA-256', utf8(entry.subject)).subarray(0, EXI_OWNER_BYTES);
        admitted = opts.exi.admit(exi.cti, exi.seconds, owner);
      } catch (cause) {
        if (cause instanceof DeviceError && opts.hints && !cause.hints) throw refuse(cause.code, cause.message, cause);
        throw cause;
      }
      entry.expiresAt = Math.min(entry.expiresAt, admitted.expiresAt);
      entry.exiSequence = admitted.sequence;
    }
    cache.add(entry, tokenBytes);
    return entry;
  }

  /** Revoked by hash, or (a by-value token) issued before a floor an overflowing list set. */
  const revokedEntry = (e: AcceptedToken): boolean => opts.isRevoked(e.hash) || (!e.reference && opts.isIssuedBeforeFloor?.(e.issuedAt) === true);

  function present(token: Uint8Array): PresentedToken {
    if (!(token instanceof Uint8Array)) throw refuse(DEVICE_ERR.INVALID_TOKEN, 'token must be bytes');
    const hash = opts.hashToken ? opts.hashToken(token) : tokenHash(token, provider);
    const hashHex = toHex(hash);
    if (opts.isRevoked(hash)) throw refuse(DEVICE_ERR.REVOKED, 'token is on the revocation list');
    const known = cache.get(hashHex);
    if (known && revokedEntry(known)) {
      cache.delete(hashHex);
      throw refuse(DEVICE_ERR.REVOKED, 'token was issued before the revocation list\'s floor');
    }
    if (known && known.expiresAt <= clock()) {
      cache.delete(hashHex);
      throw refuse(DEVICE_ERR.EXPIRED, 'token has expired');
    }
    return { token, hash, hashHex, known };
  }

  function acceptByValue(p: PresentedToken, bound?: OscoreInputMaterial): AcceptedToken {
    if (p.known) return p.known;
    // Not a COSE structure (a reference token, or junk) fails here too: invalid_token.
    let verified;
    try {
      verified = verifyCwt(p.token, trust.resolve, {
        audience,
        ...(trust.issuer ? { issuer: trust.issuer } : {}),
        clock,
        leeway,
        decryptionKeys: trust.resolve,
        provider,
      });
    } catch (cause) {
      if (cause instanceof CoseError) throw refuse(refusalForCoseError(cause), `token refused: ${cause.message} (${cause.code})`, cause);
      throw cause;
    }
    const { claims } = verified;
    if (opts.isIssuedBeforeFloor?.(claims.iat)) throw refuse(DEVICE_ERR.REVOKED, 'token was issued before the revocation list\'s floor');
    if (opts.requireExp && claims.exp === undefined) throw refuse(DEVICE_ERR.INVALID_TOKEN, 'exp(4) missing: this verifier needs an expiry time');
    const entry: AcceptedToken = {
      hash: p.hash,
      hashHex: p.hashHex,
      scope: scopeOf(claims.scope),
      scopeClaim: claims.scope!,
      popKey: detachedCoseKey(popKeyOf(verified.cnf, verified.protection.encrypted, bound)),
      // One rule at the door and once held: valid until exp + leeway (the broker's leeway is 0 by
      // default, so it disconnects at exp as RFC 9431 §6 asks).
      expiresAt: claims.exp === undefined ? Number.POSITIVE_INFINITY : claims.exp + leeway,
      subject: claims.sub,
      issuedAt: claims.iat,
      exiSequence: undefined,
      other: claims.other,
      reference: false,
      ...(verified.protection.type === 'Sign1' && verified.header.kid ? { signerKid: verified.header.kid.slice() } : {}),
      ...(verified.cnf && 'osc' in verified.cnf ? { osc: verified.cnf.osc } : bound && verified.cnf && 'kid' in verified.cnf && toHex(verified.cnf.kid) === toHex(bound.id) ? { osc: bound } : {}),
    };
    const exi = claims.exi === undefined ? undefined : { cti: claims.cti!, seconds: claims.exi };
    return admit(entry, p.token.length, claims.other?.get(CLAIM_CNONCE), exi);
  }

  return {
    ...more({ audience, refuse, scopeOf, popKeyOf, admit }),
    present,
    accept: (token: Uint8Array, bound?: OscoreInputMaterial) => acceptByValue(present(token), bound),
    find(hash) {
      const hashHex = toHex(hash);
      if (opts.isRevoked(hash)) throw refuse(DEVICE_ERR.REVOKED, 'token is on the revocation list');
      const entry = cache.get(hashHex);
      if (!entry) throw refuse(DEVICE_ERR.INVALID_TOKEN, 'no token with this hash: post one to authz-info');
      if (revokedEntry(entry)) {
        cache.delete(hashHex);
        throw refuse(DEVICE_ERR.REVOKED, 'token was issued before the revocation list\'s floor');
      }
      if (entry.expiresAt <= clock()) {
        cache.delete(hashHex);
        throw refuse(DEVICE_ERR.EXPIRED, 'token has expired');
      }
      return entry;
    },
  };
}

/** Steps 4 to 6 on the service's introspection answer for a reference token (createTokenAcceptance). */
function acceptIntrospected(steps: AcceptanceSteps, p: PresentedToken, answer: IntrospectedClaims): AcceptedToken {
  if (p.known) return p.known;
  if (!answer.active) throw steps.refuse(DEVICE_ERR.INVALID_TOKEN, 'reference token is not active');
  const auds = answer.aud === undefined ? [] : Array.isArray(answer.aud) ? answer.aud : [answer.aud];
  if (!auds.includes(steps.audience)) throw steps.refuse(DEVICE_ERR.WRONG_AUDIENCE, 'reference token is for another audience');
  if (answer.exp === undefined) throw steps.refuse(DEVICE_ERR.INVALID_TOKEN, 'introspection gave no exp(4)');
  const entry: AcceptedToken = {
    hash: p.hash,
    hashHex: p.hashHex,
    scope: steps.scopeOf(answer.scope),
    scopeClaim: answer.scope!,
    // An introspection answer travels over TLS to this verifier alone: as secret as an encrypted token.
    popKey: detachedCoseKey(steps.popKeyOf(answer.cnf, true)),
    expiresAt: answer.exp,
    subject: answer.sub,
    issuedAt: undefined,
    exiSequence: undefined,
    other: undefined,
    reference: true,
    ...(answer.cnf && 'osc' in answer.cnf ? { osc: answer.cnf.osc } : {}),
  };
  return steps.admit(entry, p.token.length, undefined, undefined);
}
