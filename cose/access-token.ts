/**
 * Minting an access token (DESIGN.md "Access token"): the one place where claims for a grant
 * decision become CWT bytes. The service (authz/), the simulator's issuer and the tests' issuers
 * all call it, so a token's shape (exp or exi, cti, cnf, cnonce, tags) is decided once.
 *
 * Pure: the clock, the randomness (provider) and the keys come in; the token bytes, the claims
 * they carry and, when one was made, the symmetric PoP key for the client come out. Recording
 * the token and answering the client are the caller's business.
 */
import { CwtClaimError, ERR } from './errors.js';
import type { CborMap, CborValue } from './cbor-value.js';
import type { CoseKey } from './cose-key.js';
import { publicCoseKey } from './cose-key.js';
import type { CryptoProvider } from './crypto-provider.js';
import { sealCoseKey, type Confirmation } from './cnf.js';
import { CLAIM_CNONCE, claimTag, type CwtClaims } from './cwt-claims.js';
import { createCwt, type Clock } from './cwt.js';
import { exiCti } from './exi-cti.js';

/**
 * The cti made here: 16 bytes, the issue time in milliseconds (6 bytes, big-endian) and then 80
 * random bits. RFC 8392 §3.1.7 asks only that no two tokens share one, and 80 random bits within
 * one millisecond keep that. The time first makes tokens issued one after another sort in issue
 * order, so an issuer's record of them (the authz store's cti key) grows at its end instead of
 * dirtying a random index page per token. The time adds little to iat: milliseconds where iat
 * has seconds.
 */
const CTI_BYTES = 16;
const CTI_TIME_BYTES = 6;
/** Symmetric PoP keys are 32 bytes: enough for HMAC 256/64 proofs (RFC 9053 §3.1) and for HKDF session keys. */
const POP_KEY_BYTES = 32;
/** The kid of a service-made PoP key: the client names its key with it in proofs. */
const POP_KID_BYTES = 8;
/** RFC 9200 §5.8.4.4 leaves the cnonce length to the RS; ours are 8 to 16 bytes, 64 refuses junk. */
export const MAX_CNONCE_BYTES = 64;

/**
 * The confirmation (RFC 8747 §3) in any form the issuers have it: a client's key (its public part
 * is taken), an Encrypted_COSE_Key or kid as built, or `sealFor`: the audience's shared key, under
 * which a symmetric PoP key (made here unless `popKey` is given) is sealed (RFC 9201 §5,
 * RFC 8747 §3.3).
 */
export type AccessTokenCnf = Confirmation | { sealFor: CoseKey; popKey?: CoseKey };

export interface AccessTokenInput {
  issuer: string;
  audience: string;
  subject?: string;
  /** Text, or an AIF array (RFC 9237), as the audience reads it. */
  scope?: CborValue;
  /** Seconds: exp = iat + lifetime, or the exi value for a clock-less audience. */
  lifetime: number;
  /**
   * RFC 9200 §5.10.3: the audience has no clock. The token carries exi = lifetime instead of
   * exp, and cti = exiCti(audience, exiSequence) (cose/exi-cti.ts), so the device keeps one number.
   */
  exiSequence?: number | bigint;
  /** Defaults to the issue time in ms (6 bytes) and 10 random bytes (the exi form when exiSequence is given). */
  cti?: Uint8Array;
  /** Seconds since the epoch; defaults to the clock, floored. */
  iat?: number;
  cnf: AccessTokenCnf;
  /** RFC 9200 §5.8.4.3 ace_profile(38). */
  profile?: number;
  /** RFC 9200 §5.3.1: the nonce the RS asked for, copied into the token as cnonce(39). */
  cnonce?: Uint8Array;
  /** Claims keybound's verifiers read by label (the broker's message-PoP claim): never a registered one. */
  extra?: CborMap;
}

export interface AccessTokenKeys {
  /** Signs (asymmetric key: COSE_Sign1) or MACs (symmetric key: COSE_Mac0) the claims. */
  key: CoseKey;
  /** COSE algorithm; defaults to the one the key implies (createCwt). */
  alg?: number;
  /** Sign-then-encrypt (RFC 8392 Appendix A.6): the token is a COSE_Encrypt0 under this key. */
  encryptTo?: CoseKey;
  encryptAlg?: number;
  /**
   * Leave out CWT tag 61 (RFC 8392 §6 makes it optional): the token is the tagged COSE message
   * alone, 18(...) / 17(...) / 16(...), for peers that cannot read tag 61. The token hash is over
   * the canonical form (token-hash.ts), so both forms of one token are revoked by the same hash.
   */
  untagged?: boolean;
  clock: Clock;
  provider: CryptoProvider;
}

export interface MintedAccessToken {
  token: Uint8Array;
  /** The claims the token carries, as issued. */
  claims: CwtClaims;
  /** The symmetric PoP key made for the client (cnf `sealFor` only): it goes back in the response's cnf. */
  popKey?: CoseKey;
}

function invalid(name: Parameters<typeof claimTag>[0], reason: string): CwtClaimError {
  return new CwtClaimError(ERR.CWT_CLAIM_INVALID, claimTag(name), reason);
}

/** CTI_BYTES: `now` (seconds) in ms in the first CTI_TIME_BYTES, the rest random. A clock outside 0..2^48 ms is clamped. */
function timeOrderedCti(now: number, provider: CryptoProvider): Uint8Array {
  const cti = provider.randomBytes(CTI_BYTES);
  let ms = Number.isFinite(now) ? Math.min(Math.max(Math.floor(now * 1000), 0), 2 ** 48 - 1) : 0;
  for (let i = CTI_TIME_BYTES - 1; i >= 0; i--) {
    cti[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  return cti;
}

export function mintAccessToken(input: AccessTokenInput, keys: AccessTokenKeys): MintedAccessToken {
  const { provider } = keys;
  if (!Number.isSafeInteger(input.lifetime) || input.lifetime <= 0) throw invalid(input.exiSequence === undefined ? 'exp' : 'exi', 'lifetime must be a positive integer number of seconds');
  if (input.exiSequence !== undefined && input.cti !== undefined) throw invalid('cti', 'is the exi sequence form: give exiSequence or cti, not both');
  const now = keys.clock();
  const iat = input.iat ?? Math.floor(now);
  const claims: CwtClaims = { iss: input.issuer };
  if (input.subject !== undefined) claims.sub = input.subject;
  claims.aud = input.audience;
  claims.iat = iat;
  if (input.scope !== undefined) claims.scope = input.scope;
  if (input.exiSequence !== undefined) {
    claims.cti = exiCti(input.audience, input.exiSequence);
    claims.exi = input.lifetime;
  } else {
    claims.cti = input.cti ?? timeOrderedCti(now, provider);
    claims.exp = iat + input.lifetime;
  }
  if (input.profile !== undefined) claims.ace_profile = input.profile;

  let popKey: CoseKey | undefined;
  const cnf = input.cnf;
  if ('sealFor' in cnf) {
    popKey = cnf.popKey ?? { kty: 'Symmetric', kid: provider.randomBytes(POP_KID_BYTES), k: provider.randomBytes(POP_KEY_BYTES) };
    if (popKey.kty !== 'Symmetric') throw invalid('cnf', 'a sealed PoP key is symmetric');
    claims.cnf = sealCoseKey(popKey, cnf.sealFor, { provider });
  } else if ('osc' in cnf && cnf.osc.ms !== undefined && !keys.encryptTo) {
    // RFC 9203 §3.2: "The OSCORE Master Secret MUST be encrypted by the authorization server so
    // that only the resource server can decrypt it": a signed or MACed token would show it.
    throw invalid('cnf', 'osc(4) with a Master Secret needs an encrypted token (encryptTo: COSE_Encrypt0, RFC 9203 §3.2)');
  } else if ('coseKey' in cnf && cnf.coseKey.d) {
    claims.cnf = { coseKey: publicCoseKey(cnf.coseKey) };
  } else {
    claims.cnf = cnf;
  }

  const other: CborMap = new Map(input.extra ?? []);
  if (input.cnonce !== undefined) {
    if (input.cnonce.length === 0 || input.cnonce.length > MAX_CNONCE_BYTES) throw new CwtClaimError(ERR.CWT_CLAIM_INVALID, `cnonce(${CLAIM_CNONCE})`, `must be 1 to ${MAX_CNONCE_BYTES} bytes`);
    other.set(CLAIM_CNONCE, input.cnonce);
  }
  if (other.size) claims.other = other;

  const token = createCwt(claims, keys.key, {
    provider,
    ...(keys.alg !== undefined ? { alg: keys.alg } : {}),
    ...(keys.encryptTo ? { encryptTo: keys.encryptTo } : {}),
    ...(keys.encryptAlg !== undefined ? { encryptAlg: keys.encryptAlg } : {}),
    ...(keys.untagged ? { cwtTag: false } : {}),
  });
  return popKey ? { token, claims, popKey } : { token, claims };
}
