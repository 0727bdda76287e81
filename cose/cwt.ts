/**
 * Creating and verifying CWTs (RFC 8392). This is where a token is verified: structure, then
 * signature or MAC with a trusted key chosen by kid, then the claims against the caller's checks.
 * Strict by default: an audience, an algorithm allow-list and a cnf are required; loosening
 * takes a named option.
 */
import { Tag } from './cbor-value.js';
import { CoseError, CwtClaimError, CoseFormatError, ERR } from './errors.js';
import { decodeCbor, decodeOwnedCbor } from './cbor-decode.js';
import { encodeCbor } from './cbor-encode.js';
import type { CborValue } from './cbor-value.js';
import { ALG } from './algorithms.js';
import type { CoseKey } from './cose-key.js';
import { buildSign1, verifySign1 } from './sign1.js';
import { buildMac0, verifyMac0 } from './mac0.js';
import { buildEncrypt0, decryptEncrypt0 } from './encrypt0.js';
import { coseTypeOf, CWT_TAG, unwrapCwtTag } from './message.js';
import { claimsFromMap, claimsToMap, claimTag, type CwtClaims } from './cwt-claims.js';
import type { Confirmation } from './cnf.js';
import type { ParsedHeaders } from './headers.js';
import type { KeyInput } from './key-input.js';
import type { CryptoProvider } from './crypto-provider.js';
import { portableProvider } from './portable-provider.js';

/** A token larger than this is refused unread: ours are about 200 bytes, sealed ones under 400. */
export const MAX_TOKEN_BYTES = 4096;
/** Claims sets nest at most: map > cnf > COSE_Key, or map > scope > entry > methods. */
const CLAIMS_MAX_DEPTH = 8;

/** RFC 9053 algorithms a verifier accepts unless told otherwise: the ones keybound issues. */
export const DEFAULT_TOKEN_ALGORITHMS: readonly number[] = [ALG.EdDSA, ALG.ES256, ALG.HMAC_256_64, ALG.HMAC_256_256];
export const DEFAULT_ENCRYPTION_ALGORITHMS: readonly number[] = [
  ALG.AES_CCM_16_64_128,
  ALG.AES_CCM_16_128_128,
  ALG.A128GCM,
  ALG.A256GCM,
  ALG.CHACHA20_POLY1305,
];

export interface CreateCwtOptions {
  /** Key identifier put in the protected header; defaults to the key's own kid. */
  kid?: Uint8Array;
  /** COSE algorithm; defaults to the one the key implies (Ed25519 → EdDSA, 32-byte secret → HMAC 256/64). */
  alg?: number;
  /** Sign-then-encrypt (RFC 8392 A.6): wrap the token in a COSE_Encrypt0 under this key. */
  encryptTo?: CoseKey;
  encryptAlg?: number;
  provider?: CryptoProvider;
  /** Wrap in CWT tag 61 (default true: we emit 61(18(...)), RFC 8392 §6). */
  cwtTag?: boolean;
}

/** Creates a CWT: COSE_Sign1 for asymmetric keys, COSE_Mac0 for symmetric ones. */
export function createCwt(claims: CwtClaims, key: CoseKey, opts: CreateCwtOptions = {}): Uint8Array {
  const payload = encodeCbor(claimsToMap(claims));
  const kid = opts.kid ?? key.kid;
  const common = { provider: opts.provider ?? portableProvider, ...(kid ? { kid } : {}), ...(opts.alg !== undefined ? { alg: opts.alg } : {}) };
  let message: CborValue = key.kty === 'Symmetric' ? buildMac0(payload, key, common) : buildSign1(payload, key, common);
  if (opts.encryptTo) {
    const { encryptTo } = opts;
    message = buildEncrypt0(encodeCbor(message), encryptTo, {
      provider: common.provider,
      ...(encryptTo.kid ? { kid: encryptTo.kid } : {}),
      ...(opts.encryptAlg !== undefined ? { alg: opts.encryptAlg } : {}),
    });
  }
  return encodeCbor(opts.cwtTag === false ? message : new Tag(message, CWT_TAG));
}

/** Seconds since the epoch. Injected so that tests and the simulator drive time. */
export type Clock = () => number;

export interface VerifyCwtOptions {
  /** This verifier's audience: the token's aud must name it. Required unless `anyAudience`. */
  audience?: string;
  /** Explicitly skip the audience check (tools such as `keybound inspect` only). */
  anyAudience?: boolean;
  issuer?: string;
  clock: Clock;
  /** Seconds of tolerated clock skew for exp and nbf (default 60). */
  leeway?: number;
  /** Signature/MAC algorithms accepted (default DEFAULT_TOKEN_ALGORITHMS). */
  algorithms?: readonly number[];
  /** Keys to open a sign-then-encrypt token; without them an Encrypt0 token is refused. */
  decryptionKeys?: KeyInput;
  encryptionAlgorithms?: readonly number[];
  /** Accept a token with no cnf (not a PoP token). Off by default. */
  allowNoCnf?: boolean;
  /** Accept a token with neither exp nor exi. Off by default. */
  allowNoExpiry?: boolean;
  maxTokenBytes?: number;
  provider?: CryptoProvider;
}

export interface VerifiedCwt {
  claims: CwtClaims;
  /** The confirmation the holder must prove; undefined only with allowNoCnf. */
  cnf: Confirmation | undefined;
  header: ParsedHeaders;
  /** 'Sign1' or 'Mac0', and whether it arrived encrypted. */
  protection: { type: 'Sign1' | 'Mac0'; encrypted: boolean };
}

/** Verifies a CWT offline against trusted keys and returns its claims. */
export function verifyCwt(token: Uint8Array, trust: KeyInput, opts: VerifyCwtOptions): VerifiedCwt {
  if (!opts.audience && !opts.anyAudience) {
    throw new CoseError(ERR.CWT_WRONG_AUDIENCE, 'verifyCwt needs an audience (or anyAudience: true)');
  }
  const maxBytes = opts.maxTokenBytes ?? MAX_TOKEN_BYTES;
  const provider = opts.provider ?? portableProvider;
  let outer = unwrapCwtTag(decodeCbor(token, { maxBytes, maxDepth: 8 }));
  let encrypted = false;
  if (coseTypeOf(outer) === 'Encrypt0') {
    if (!opts.decryptionKeys) throw new CoseFormatError(ERR.COSE_NO_KEY, 'token is encrypted and no decryption key was given');
    const { plaintext } = decryptEncrypt0(outer, opts.decryptionKeys, {
      provider,
      algorithms: opts.encryptionAlgorithms ?? DEFAULT_ENCRYPTION_ALGORITHMS,
    });
    outer = unwrapCwtTag(decodeOwnedCbor(plaintext, { maxBytes, maxDepth: 8 }));
    encrypted = true;
  }
  const type = coseTypeOf(outer) ?? guessUntagged(outer);
  const verifyOpts = { provider, algorithms: opts.algorithms ?? DEFAULT_TOKEN_ALGORITHMS };
  let verified;
  if (type === 'Sign1') verified = verifySign1(outer, trust, verifyOpts);
  else if (type === 'Mac0') verified = verifyMac0(outer, trust, verifyOpts);
  else throw new CoseFormatError(ERR.CWT_NESTING, `a CWT must be COSE_Sign1 or COSE_Mac0 (optionally inside one COSE_Encrypt0), not ${type ?? 'this'}`);

  let claimsValue: CborValue;
  try {
    // The payload is a view into the private copy the token was decoded from.
    claimsValue = decodeOwnedCbor(verified.payload, { maxBytes, maxDepth: CLAIMS_MAX_DEPTH });
  } catch (cause) {
    throw new CwtClaimError(ERR.CWT_MALFORMED, 'claims', `are not valid CBOR (${(cause as CoseError).code})`);
  }
  const claims = claimsFromMap(claimsValue);
  checkClaims(claims, opts);
  return { claims, cnf: claims.cnf, header: verified.headers, protection: { type, encrypted } };
}

/**
 * An untagged COSE message does not say what it is. Sign1 and Mac0 both have four elements;
 * RFC 9052 §2 leaves the type to the application, and a CWT verifier that holds only
 * signature keys or only MAC keys decides by the algorithm in the protected header.
 */
function guessUntagged(value: CborValue): 'Sign1' | 'Mac0' | undefined {
  if (!Array.isArray(value) || value.length !== 4 || !(value[0] instanceof Uint8Array)) return undefined;
  try {
    const prot = value[0].length === 0 ? new Map() : decodeCbor(value[0], { maxBytes: 4096, maxDepth: 8 });
    const alg = prot instanceof Map ? prot.get(1) : undefined;
    if (typeof alg !== 'number') return undefined;
    return alg < 0 ? 'Sign1' : 'Mac0'; // RFC 9053: signature algorithms have negative ids, HMAC positive
  } catch {
    return undefined;
  }
}

/** The claim checks of RFC 8392 §3.1 and RFC 7519 §4.1 against the verifier's options. */
export function checkClaims(claims: CwtClaims, opts: VerifyCwtOptions): void {
  const now = opts.clock();
  const leeway = opts.leeway ?? 60;
  if (opts.audience && !opts.anyAudience) {
    const auds = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (auds.length === 0) throw new CwtClaimError(ERR.CWT_CLAIM_MISSING, claimTag('aud'), 'missing');
    if (!auds.includes(opts.audience)) throw new CwtClaimError(ERR.CWT_WRONG_AUDIENCE, claimTag('aud'), 'does not name this audience');
  }
  if (opts.issuer !== undefined && claims.iss !== opts.issuer) {
    throw new CwtClaimError(claims.iss === undefined ? ERR.CWT_CLAIM_MISSING : ERR.CWT_WRONG_ISSUER, claimTag('iss'), 'is not the expected issuer');
  }
  if (claims.exp !== undefined && now >= claims.exp + leeway) {
    throw new CwtClaimError(ERR.CWT_EXPIRED, claimTag('exp'), 'has passed');
  }
  if (claims.nbf !== undefined && now + leeway < claims.nbf) {
    throw new CwtClaimError(ERR.CWT_NOT_YET_VALID, claimTag('nbf'), 'is in the future');
  }
  if (claims.exp === undefined && claims.exi === undefined && !opts.allowNoExpiry) {
    throw new CwtClaimError(ERR.CWT_CLAIM_MISSING, claimTag('exp'), 'missing (and no exi(40))');
  }
  // RFC 9200 §5.10.3: a token with exi must carry a cti so that it is never accepted twice.
  if (claims.exi !== undefined && claims.cti === undefined) {
    throw new CwtClaimError(ERR.CWT_CLAIM_MISSING, claimTag('cti'), 'missing, and exi(40) requires it');
  }
  if (!claims.cnf && !opts.allowNoCnf) throw new CwtClaimError(ERR.CWT_CLAIM_MISSING, claimTag('cnf'), 'missing: not a proof-of-possession token');
}

/** Decodes a CWT's claims WITHOUT verifying anything: for display (`keybound inspect`) only. */
export function readCwtUnverified(token: Uint8Array): { claims: CwtClaims; type: string } {
  let v = unwrapCwtTag(decodeCbor(token, { maxBytes: MAX_TOKEN_BYTES }));
  const type = coseTypeOf(v) ?? guessUntagged(v) ?? 'unknown';
  if (v instanceof Tag) v = v.value as CborValue;
  if (type === 'Encrypt0' || !Array.isArray(v) || !(v[2] instanceof Uint8Array)) {
    throw new CoseFormatError(ERR.CWT_MALFORMED, `claims of a ${type} token cannot be read without a key`);
  }
  return { claims: claimsFromMap(decodeCbor(v[2], { maxBytes: MAX_TOKEN_BYTES, maxDepth: CLAIMS_MAX_DEPTH })), type };
}
