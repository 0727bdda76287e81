/**
 * COSE_Sign1 (RFC 9052 §4.2) and the Sig_structure (§4.4) that both signature forms sign.
 */
import { CoseAlgorithmError, CoseFormatError, CoseVerificationError, ERR } from './errors.js';
import { encodeCbor } from './cbor-encode.js';
import type { CborLimits } from './cbor-limits.js';
import type { CborValue } from './cbor-value.js';
import { algorithmById, assertKeyFitsAlgorithm, ALG, type Algorithm } from './algorithms.js';
import { CURVE_LENGTH, type CoseKey } from './cose-key.js';
import { buildHeaders, parseHeaders, type HeaderOptions, type ParsedHeaders } from './headers.js';
import { coseArray, expectBytes, withTag } from './message.js';
import { checkAllowed, providerOf, resolveKey, type KeyInput, type VerifyOptions } from './key-input.js';
import type { CryptoProvider } from './crypto-provider.js';

const EMPTY = /* @__PURE__ */ new Uint8Array(0);

/** Bytes a shortest-form byte-string head takes for `length` (RFC 8949 §3). */
function headLength(length: number): number {
  return length < 24 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

function writeByteStringHead(out: Uint8Array, at: number, length: number): number {
  if (length < 24) {
    out[at] = 0x40 | length;
    return at + 1;
  }
  if (length < 0x100) {
    out[at] = 0x58;
    out[at + 1] = length;
    return at + 2;
  }
  if (length < 0x10000) {
    out[at] = 0x59;
    out[at + 1] = length >> 8;
    out[at + 2] = length & 0xff;
    return at + 3;
  }
  out[at] = 0x5a;
  out[at + 1] = length >>> 24;
  out[at + 2] = (length >>> 16) & 0xff;
  out[at + 3] = (length >>> 8) & 0xff;
  out[at + 4] = length & 0xff;
  return at + 5;
}

const contextBytes = new Map<string, Uint8Array>();

/**
 * A CBOR array of one context string and byte strings (RFC 9052 §4.4 Sig_structure, §6.3
 * MAC_structure), written in one allocation: it sits on every verify's hot path, and its
 * encoding is fixed, so the general deterministic encoder would only add cost.
 */
export function contextStructure(context: string, ...byteStrings: Uint8Array[]): Uint8Array {
  let ctx = contextBytes.get(context);
  if (!ctx) {
    ctx = encodeCbor(context);
    contextBytes.set(context, ctx);
  }
  let total = 1 + ctx.length;
  for (const b of byteStrings) total += headLength(b.length) + b.length;
  const out = new Uint8Array(total);
  out[0] = 0x80 | (byteStrings.length + 1);
  out.set(ctx, 1);
  let at = 1 + ctx.length;
  for (const b of byteStrings) {
    at = writeByteStringHead(out, at, b.length);
    out.set(b, at);
    at += b.length;
  }
  return out;
}

export function sigStructure(
  context: 'Signature' | 'Signature1',
  bodyProtected: Uint8Array,
  signProtected: Uint8Array | undefined,
  externalAad: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  return signProtected
    ? contextStructure(context, bodyProtected, signProtected, externalAad, payload)
    : contextStructure(context, bodyProtected, externalAad, payload);
}

/** The signature algorithm a key implies when none is named. */
export function defaultSignatureAlgorithm(key: CoseKey): Algorithm {
  if (key.alg !== undefined) return algorithmById(key.alg);
  switch (key.crv) {
    case 'Ed25519':
    case 'Ed448':
      return algorithmById(ALG.EdDSA);
    case 'P-256':
      return algorithmById(ALG.ES256);
    case 'P-384':
      return algorithmById(ALG.ES384);
    case 'P-521':
      return algorithmById(ALG.ES512);
    default:
      throw new CoseAlgorithmError(ERR.COSE_ALG_KEY_MISMATCH, `a ${key.kty} key cannot sign`);
  }
}

export function signatureLength(alg: Algorithm, key: CoseKey): number {
  if (alg.id === ALG.EdDSA) return key.crv === 'Ed448' ? 114 : 64;
  return 2 * CURVE_LENGTH[key.crv!]; // RFC 9053 §2.1: r and s, each the curve's length
}

export function signWith(alg: Algorithm, key: CoseKey, toBeSigned: Uint8Array, provider: CryptoProvider): Uint8Array {
  assertKeyFitsAlgorithm(alg, key, 'sign');
  return provider.sign(key, alg.kind === 'signature' ? alg.hash : undefined, toBeSigned);
}

export function verifyWith(alg: Algorithm, key: CoseKey, toBeSigned: Uint8Array, signature: Uint8Array, provider: CryptoProvider): void {
  const expected = signatureLength(alg, key);
  if (signature.length !== expected) {
    throw new CoseVerificationError(ERR.COSE_BAD_SIGNATURE, `signature: expected ${expected} bytes, got ${signature.length}`);
  }
  if (alg.kind !== 'signature' || !provider.verify(key, alg.hash, toBeSigned, signature)) {
    throw new CoseVerificationError(ERR.COSE_BAD_SIGNATURE, `signature does not verify (alg ${alg.name})`);
  }
}

export interface CreateSign1Options extends HeaderOptions {
  /** COSE algorithm identifier; by default the one the key implies (Ed25519 → EdDSA). */
  alg?: number;
  externalAad?: Uint8Array;
  provider?: CryptoProvider;
  /** Emit tag 18 (default true). */
  tagged?: boolean;
  /** Leave the payload out of the message (RFC 9052 §2: nil payload). */
  detached?: boolean;
}

export function createSign1(payload: Uint8Array, key: CoseKey, opts: CreateSign1Options = {}): Uint8Array {
  return encodeCbor(buildSign1(payload, key, opts));
}

/** The COSE_Sign1 as a CBOR value, for nesting inside another structure. */
export function buildSign1(payload: Uint8Array, key: CoseKey, opts: CreateSign1Options = {}): CborValue {
  const alg = opts.alg !== undefined ? algorithmById(opts.alg) : defaultSignatureAlgorithm(key);
  const headers = buildHeaders(alg, opts);
  const tbs = sigStructure('Signature1', headers.protectedBytes, undefined, opts.externalAad ?? EMPTY, payload);
  const signature = signWith(alg, key, tbs, providerOf(opts));
  return withTag([headers.protectedBytes, headers.unprotected, opts.detached ? null : payload, signature], 'Sign1', opts.tagged ?? true);
}

export interface VerifySign1Options extends VerifyOptions {
  /** The payload, when the message carries nil in its place. */
  detachedPayload?: Uint8Array;
  limits?: Partial<CborLimits>;
}

export interface VerifiedMessage {
  payload: Uint8Array;
  headers: ParsedHeaders;
}

export function payloadOf(value: CborValue, detached: Uint8Array | undefined): Uint8Array {
  if (value === null) {
    if (!detached) throw new CoseFormatError(ERR.COSE_DETACHED_PAYLOAD, 'payload is detached and none was given');
    return detached;
  }
  return expectBytes(value, 'payload');
}

/** Verifies a COSE_Sign1 (tag 18, tag 61 around it, or untagged). */
export function verifySign1(input: Uint8Array | CborValue, key: KeyInput, opts: VerifySign1Options = {}): VerifiedMessage {
  const [protectedValue, unprotected, payloadValue, signatureValue] = coseArray(input, 'Sign1', opts.limits);
  const headers = parseHeaders(protectedValue, unprotected);
  checkAllowed(headers.alg, opts.algorithms);
  const coseKey = resolveKey(key, headers, 'signature', 'verify');
  const payload = payloadOf(payloadValue, opts.detachedPayload);
  const signature = expectBytes(signatureValue, 'signature');
  const tbs = sigStructure('Signature1', headers.protectedBytes, undefined, opts.externalAad ?? EMPTY, payload);
  verifyWith(headers.alg, coseKey, tbs, signature, providerOf(opts));
  return { payload, headers };
}
