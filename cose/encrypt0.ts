/**
 * COSE_Encrypt0 (RFC 9052 §5.2) and the Enc_structure (§5.3) used as AEAD additional data.
 * The nonce is the IV header (5), or a Partial IV (6) folded into a context's base IV (§3.1).
 */
import { CoseFormatError, CoseVerificationError, ERR } from './errors.js';
import { encodeCbor } from './cbor-encode.js';
import type { CborMap, CborValue } from './cbor-value.js';
import { algorithmById, assertKeyFitsAlgorithm, type Algorithm } from './algorithms.js';
import type { CoseKey } from './cose-key.js';
import { buildHeaders, HEADER, parseHeaders, type HeaderOptions, type ParsedHeaders } from './headers.js';
import { coseArray, expectBytes, withTag } from './message.js';
import { checkAllowed, providerOf, resolveKey, type KeyInput, type VerifyOptions } from './key-input.js';
import type { CborLimits } from './cbor-limits.js';
import type { CryptoProvider } from './crypto-provider.js';

const EMPTY = new Uint8Array(0);

export function encStructure(context: 'Encrypt' | 'Encrypt0', bodyProtected: Uint8Array, externalAad: Uint8Array): Uint8Array {
  return encodeCbor([context, bodyProtected, externalAad]);
}

/** RFC 9052 §3.1: pad the Partial IV on the left to the nonce length and XOR it into the base IV. */
export function nonceFromPartialIv(baseIv: Uint8Array, partialIv: Uint8Array, length: number): Uint8Array {
  if (baseIv.length !== length || partialIv.length > length) {
    throw new CoseFormatError(ERR.COSE_BAD_HEADER, `base IV must be ${length} bytes and Partial IV(6) no longer`);
  }
  const nonce = new Uint8Array(baseIv);
  for (let i = 0; i < partialIv.length; i++) nonce[length - partialIv.length + i]! ^= partialIv[i]!;
  return nonce;
}

export function nonceOf(headers: ParsedHeaders, alg: Algorithm, baseIv: Uint8Array | undefined): Uint8Array {
  if (alg.kind !== 'aead') throw new CoseFormatError(ERR.COSE_BAD_HEADER, `alg(1) ${alg.name} is not an AEAD`);
  const n = alg.aead.nonceLength;
  const iv = (headers.protected.get(HEADER.iv) ?? headers.unprotected.get(HEADER.iv)) as Uint8Array | undefined;
  const partial = (headers.protected.get(HEADER.partialIv) ?? headers.unprotected.get(HEADER.partialIv)) as Uint8Array | undefined;
  if (iv && partial) throw new CoseFormatError(ERR.COSE_BAD_HEADER, 'IV(5) and Partial IV(6) must not both be present');
  if (iv) {
    if (iv.length !== n) throw new CoseFormatError(ERR.COSE_BAD_HEADER, `IV(5) must be ${n} bytes for ${alg.name}, got ${iv.length}`);
    return iv;
  }
  if (partial && baseIv) return nonceFromPartialIv(baseIv, partial, n);
  throw new CoseFormatError(ERR.COSE_BAD_HEADER, 'no IV(5), and no Partial IV(6) with a base IV');
}

export interface CreateEncrypt0Options extends HeaderOptions {
  /** Default: AES-CCM-16-64-128 (RFC 8392 A.5, the constrained-device choice). */
  alg?: number;
  externalAad?: Uint8Array;
  provider?: CryptoProvider;
  tagged?: boolean;
  /** A nonce to use instead of a random one: only for reproducing test vectors. */
  iv?: Uint8Array;
}

export function buildEncrypt0(plaintext: Uint8Array, key: CoseKey, opts: CreateEncrypt0Options = {}): CborValue {
  const alg = algorithmById(opts.alg ?? key.alg ?? 10);
  assertKeyFitsAlgorithm(alg, key, 'encrypt');
  if (alg.kind !== 'aead') throw new CoseFormatError(ERR.COSE_BAD_HEADER, `alg(1) ${alg.name} is not an AEAD`);
  const provider = providerOf(opts);
  const iv = opts.iv ?? provider.randomBytes(alg.aead.nonceLength);
  const unprotected: CborMap = new Map(opts.unprotected ?? []);
  unprotected.set(HEADER.iv, iv);
  const headers = buildHeaders(alg, { ...opts, unprotected });
  const aad = encStructure('Encrypt0', headers.protectedBytes, opts.externalAad ?? EMPTY);
  const ciphertext = provider.aeadEncrypt(alg.aead, key.k!, iv, aad, plaintext);
  return withTag([headers.protectedBytes, headers.unprotected, ciphertext], 'Encrypt0', opts.tagged ?? true);
}

export function createEncrypt0(plaintext: Uint8Array, key: CoseKey, opts: CreateEncrypt0Options = {}): Uint8Array {
  return encodeCbor(buildEncrypt0(plaintext, key, opts));
}

export interface DecryptOptions extends VerifyOptions {
  /** Context base IV for messages that carry a Partial IV(6). */
  baseIv?: Uint8Array;
  limits?: Partial<CborLimits>;
}

export interface DecryptedMessage {
  plaintext: Uint8Array;
  headers: ParsedHeaders;
}

export function openCiphertext(
  headers: ParsedHeaders,
  key: CoseKey,
  context: 'Encrypt' | 'Encrypt0',
  ciphertext: Uint8Array,
  opts: DecryptOptions,
): Uint8Array {
  const alg = headers.alg;
  if (alg.kind !== 'aead') throw new CoseFormatError(ERR.COSE_BAD_HEADER, `alg(1) ${alg.name} is not an AEAD`);
  const nonce = nonceOf(headers, alg, opts.baseIv);
  const aad = encStructure(context, headers.protectedBytes, opts.externalAad ?? EMPTY);
  const plaintext = providerOf(opts).aeadDecrypt(alg.aead, key.k!, nonce, aad, ciphertext);
  if (!plaintext) throw new CoseVerificationError(ERR.COSE_DECRYPT_FAILED, `decryption failed (alg ${alg.name})`);
  return plaintext;
}

export function decryptEncrypt0(input: Uint8Array | CborValue, key: KeyInput, opts: DecryptOptions = {}): DecryptedMessage {
  const [protectedValue, unprotected, ciphertextValue] = coseArray(input, 'Encrypt0', opts.limits);
  const headers = parseHeaders(protectedValue, unprotected);
  checkAllowed(headers.alg, opts.algorithms);
  const coseKey = resolveKey(key, headers, 'aead', 'decrypt');
  if (ciphertextValue === null) throw new CoseFormatError(ERR.COSE_DETACHED_PAYLOAD, 'detached ciphertext is not supported');
  const plaintext = openCiphertext(headers, coseKey, 'Encrypt0', expectBytes(ciphertextValue, 'ciphertext'), opts);
  return { plaintext, headers };
}
