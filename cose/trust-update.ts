/**
 * Trust-anchor updates (issue 10): how a device that was provisioned with the service's signing
 * keys learns the next ones without being re-flashed. A COSE_Sign1 (RFC 9052 §4.2, tag 18) signed
 * by a key the device ALREADY trusts, over the complete new anchor set with a sequence number, so
 * that an update relayed through an untrusted broker can be neither forged (only a current anchor
 * signs), replayed (seq strictly grows), nor moved to another device (aud).
 *
 *   protected: {1: alg (-8 EdDSA | -7 ES256), 4: kid of the signing anchor}
 *   payload:   {1: seq uint, 2: [COSE_Key, ...] (1..16 public keys, each with kid(2), alg(3)),
 *               3: iat uint, 4: aud text}
 *
 * external_aad is empty. The format is fixed in /work/notes/trust-update.md, shared with the
 * service side. Every refusal is a TrustUpdateError with one of TRUST_UPDATE_ERR's codes.
 */
import { CoseError } from './errors.js';
import { ALG, algorithmById, assertKeyFitsAlgorithm } from './algorithms.js';
import { decodeCbor } from './cbor-decode.js';
import { encodeCbor } from './cbor-encode.js';
import { asSafeInteger, isMap, type CborMap, type CborValue } from './cbor-value.js';
import { coseKeyFromMap, coseKeyToMap, type CoseKey } from './cose-key.js';
import { toHex } from './bytes.js';
import { createSign1, verifySign1 } from './sign1.js';
import { HEADER, type ParsedHeaders } from './headers.js';
import type { CryptoProvider } from './crypto-provider.js';
import type { RefusalCode } from './error-codes.js';

export const TRUST_UPDATE_LABEL = { seq: 1, keys: 2, iat: 3, aud: 4 } as const;
/** The payload bound of the shared format: 16 P-256 keys with kids fit well under it. */
export const MAX_TRUST_UPDATE_PAYLOAD = 4096;
/** The whole message: the payload plus headers (a kid of at most 64 bytes) and a signature. */
export const MAX_TRUST_UPDATE_BYTES = MAX_TRUST_UPDATE_PAYLOAD + 256;
export const MAX_TRUST_UPDATE_KEYS = 16;
/** The signature algorithms an update may use (and its keys may be for). */
export const TRUST_UPDATE_ALGORITHMS: readonly number[] = [ALG.EdDSA, ALG.ES256];

/**
 * Stable codes (registered in error-codes.ts): a verifier reports which one refused an update.
 * Checked in this order: size, structure, signer, signature, audience, sequence.
 */
export const TRUST_UPDATE_ERR = {
  /** Larger than MAX_TRUST_UPDATE_BYTES (or its payload than MAX_TRUST_UPDATE_PAYLOAD): never parsed. */
  TOO_LARGE: 'too_large',
  /** Not a COSE_Sign1 of the format above (including bad keys in the set). */
  MALFORMED: 'malformed',
  /** The protected kid(4) names none of the verifier's current anchors, or is missing. */
  UNKNOWN_KID: 'unknown_kid',
  /** alg(1) is not EdDSA/ES256, or does not fit the anchor its kid names (RFC 9052 §7.1). */
  ALG_MISMATCH: 'alg_mismatch',
  /** The signature does not verify with that anchor. */
  BAD_SIGNATURE: 'bad_signature',
  /** aud(4) names another device. */
  WRONG_AUDIENCE: 'wrong_audience',
  /** seq(1) is not greater than the one the verifier stored. */
  STALE: 'stale',
} as const satisfies Record<string, RefusalCode>;

export type TrustUpdateCode = (typeof TRUST_UPDATE_ERR)[keyof typeof TRUST_UPDATE_ERR];

export class TrustUpdateError extends CoseError {
  static override readonly errorName: string = 'TrustUpdateError';
  declare readonly code: TrustUpdateCode;
  constructor(code: TrustUpdateCode, message: string, options?: { cause?: unknown }) {
    super(code, `trust update: ${message}`, options);
  }
}

export interface TrustUpdate {
  seq: number;
  /** The complete new anchor set (public keys, each with kid and alg). */
  keys: CoseKey[];
  iat: number;
  aud: string;
}

export interface VerifiedTrustUpdate {
  seq: number;
  keys: CoseKey[];
  iat: number;
}

export interface VerifyTrustUpdateOptions {
  /** The verifier's CURRENT trust anchors: the signer must be one of them. */
  anchors: readonly CoseKey[];
  /** The seq of the update last applied (-1 or 0 before any). */
  storedSeq: number;
  /** This device's id / audience. */
  audience: string;
  provider?: CryptoProvider;
}

const fail = (code: TrustUpdateCode, message: string, cause?: unknown): TrustUpdateError =>
  new TrustUpdateError(code, message, cause === undefined ? undefined : { cause });

/** A key of the new set: public, named, restricted to an allowed algorithm that fits it. */
function checkAnchor(key: CoseKey, index: number): CoseKey {
  if (key.kty === 'Symmetric' || key.d) throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2)[${index}] must be a public key`);
  if (!key.kid || key.kid.length === 0) throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2)[${index}] has no kid(2)`);
  if (key.alg === undefined || !TRUST_UPDATE_ALGORITHMS.includes(key.alg)) {
    throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2)[${index}] needs alg(3) EdDSA or ES256`);
  }
  try {
    assertKeyFitsAlgorithm(algorithmById(key.alg), key, 'verify');
  } catch (cause) {
    throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2)[${index}]: ${(cause as Error).message}`, cause);
  }
  return key;
}

function checkKeySet(keys: readonly CoseKey[]): void {
  if (keys.length < 1 || keys.length > MAX_TRUST_UPDATE_KEYS) {
    throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2) must hold 1 to ${MAX_TRUST_UPDATE_KEYS} keys`);
  }
  const kids = new Set<string>();
  keys.forEach((key, i) => {
    checkAnchor(key, i);
    const kid = toHex(key.kid!);
    // Two anchors under one kid would make the signer ambiguous (a resolver refuses to guess).
    if (kids.has(kid)) throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2)[${i}] repeats a kid(2)`);
    kids.add(kid);
  });
}

const isUint = (v: number | undefined): v is number => v !== undefined && v >= 0;

export function createTrustUpdate(update: TrustUpdate, signingKey: CoseKey, opts: { provider?: CryptoProvider } = {}): Uint8Array {
  if (!isUint(asSafeInteger(update.seq))) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'seq(1) must be an unsigned integer');
  if (!isUint(asSafeInteger(update.iat))) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'iat(3) must be an unsigned integer');
  if (typeof update.aud !== 'string' || update.aud.length === 0) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'aud(4) must be a non-empty text');
  checkKeySet(update.keys);
  if (!signingKey.kid) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'the signing key needs a kid: the verifier finds its anchor by it');
  const alg = signingKey.alg ?? (signingKey.kty === 'OKP' ? ALG.EdDSA : ALG.ES256);
  if (!TRUST_UPDATE_ALGORITHMS.includes(alg)) throw fail(TRUST_UPDATE_ERR.ALG_MISMATCH, 'the signing key must be for EdDSA or ES256');
  const payload = encodeCbor(
    new Map<CborValue, CborValue>([
      [TRUST_UPDATE_LABEL.seq, update.seq],
      [TRUST_UPDATE_LABEL.keys, update.keys.map((k) => coseKeyToMap(k))],
      [TRUST_UPDATE_LABEL.iat, update.iat],
      [TRUST_UPDATE_LABEL.aud, update.aud],
    ]),
  );
  if (payload.length > MAX_TRUST_UPDATE_PAYLOAD) throw fail(TRUST_UPDATE_ERR.TOO_LARGE, `payload is ${payload.length} bytes (max ${MAX_TRUST_UPDATE_PAYLOAD})`);
  return createSign1(payload, signingKey, { alg, kid: signingKey.kid, ...(opts.provider ? { provider: opts.provider } : {}) });
}

function decodePayload(payload: Uint8Array): TrustUpdate {
  if (payload.length > MAX_TRUST_UPDATE_PAYLOAD) throw fail(TRUST_UPDATE_ERR.TOO_LARGE, `payload is over ${MAX_TRUST_UPDATE_PAYLOAD} bytes`);
  let map: CborValue;
  try {
    map = decodeCbor(payload, { maxBytes: MAX_TRUST_UPDATE_PAYLOAD, maxDepth: 5 });
  } catch (cause) {
    throw fail(TRUST_UPDATE_ERR.MALFORMED, `payload is not CBOR (${(cause as CoseError).code ?? 'error'})`, cause);
  }
  if (!isMap(map)) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'payload must be a map');
  const m: CborMap = map;
  // Strict: a label we do not know may carry a meaning we would silently drop.
  for (const label of m.keys()) {
    if (!Object.values(TRUST_UPDATE_LABEL).includes(label as 1)) throw fail(TRUST_UPDATE_ERR.MALFORMED, `unknown payload label ${String(label).slice(0, 12)}`);
  }
  const seq = asSafeInteger(m.get(TRUST_UPDATE_LABEL.seq));
  const iat = asSafeInteger(m.get(TRUST_UPDATE_LABEL.iat));
  const aud = m.get(TRUST_UPDATE_LABEL.aud);
  const rawKeys = m.get(TRUST_UPDATE_LABEL.keys);
  if (!isUint(seq)) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'seq(1) must be an unsigned integer');
  if (!isUint(iat)) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'iat(3) must be an unsigned integer');
  if (typeof aud !== 'string' || aud.length === 0) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'aud(4) must be a non-empty text');
  if (!Array.isArray(rawKeys)) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'keys(2) must be an array');
  if (rawKeys.length > MAX_TRUST_UPDATE_KEYS) throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2) holds more than ${MAX_TRUST_UPDATE_KEYS} keys`);
  const keys = rawKeys.map((k, i) => {
    try {
      return coseKeyFromMap(k);
    } catch (cause) {
      throw fail(TRUST_UPDATE_ERR.MALFORMED, `keys(2)[${i}] is not a valid COSE_Key`, cause);
    }
  });
  checkKeySet(keys);
  return { seq, keys, iat, aud };
}

/** The anchor the protected kid names, among the verifier's signature keys; the kid must be protected. */
function signerOf(headers: ParsedHeaders, anchors: readonly CoseKey[]): CoseKey {
  const kid = headers.protected.get(HEADER.kid);
  if (!(kid instanceof Uint8Array) || kid.length === 0) throw fail(TRUST_UPDATE_ERR.UNKNOWN_KID, 'kid(4) must be in the protected header');
  const hex = toHex(kid);
  const found = anchors.filter((a) => a.kty !== 'Symmetric' && a.kid !== undefined && toHex(a.kid) === hex);
  if (found.length !== 1) throw fail(TRUST_UPDATE_ERR.UNKNOWN_KID, 'kid(4) names none of the current trust anchors');
  return found[0]!;
}

/**
 * Verifies an update against the verifier's current anchors and returns the new set. Throws a
 * TrustUpdateError; the caller stores nothing unless this returns.
 */
export function verifyTrustUpdate(bytes: Uint8Array, opts: VerifyTrustUpdateOptions): VerifiedTrustUpdate {
  if (!(bytes instanceof Uint8Array)) throw fail(TRUST_UPDATE_ERR.MALFORMED, 'expected bytes');
  if (bytes.length > MAX_TRUST_UPDATE_BYTES) throw fail(TRUST_UPDATE_ERR.TOO_LARGE, `message is ${bytes.length} bytes (max ${MAX_TRUST_UPDATE_BYTES})`);
  let payload: Uint8Array;
  try {
    ({ payload } = verifySign1(bytes, (headers) => signerOf(headers, opts.anchors), {
      algorithms: TRUST_UPDATE_ALGORITHMS,
      ...(opts.provider ? { provider: opts.provider } : {}),
      limits: { maxBytes: MAX_TRUST_UPDATE_BYTES, maxDepth: 8 },
    }));
  } catch (cause) {
    if (cause instanceof TrustUpdateError) throw cause;
    const code = (cause as CoseError).code;
    if (code === 'ERR_COSE_BAD_SIGNATURE') throw fail(TRUST_UPDATE_ERR.BAD_SIGNATURE, 'the signature does not verify with the anchor its kid names', cause);
    if (code === 'ERR_COSE_ALG_KEY_MISMATCH' || code === 'ERR_COSE_ALG_NOT_ALLOWED' || code === 'ERR_COSE_ALG_UNSUPPORTED') {
      throw fail(TRUST_UPDATE_ERR.ALG_MISMATCH, 'alg(1) is not EdDSA/ES256 or does not fit the signing anchor', cause);
    }
    if (cause instanceof CoseError) throw fail(TRUST_UPDATE_ERR.MALFORMED, `not a COSE_Sign1 update (${code})`, cause);
    throw cause;
  }
  const update = decodePayload(payload);
  if (update.aud !== opts.audience) throw fail(TRUST_UPDATE_ERR.WRONG_AUDIENCE, 'aud(4) is another device');
  if (update.seq <= opts.storedSeq) throw fail(TRUST_UPDATE_ERR.STALE, `seq(1) ${update.seq} is not newer than ${opts.storedSeq}`);
  return { seq: update.seq, keys: update.keys, iat: update.iat };
}
