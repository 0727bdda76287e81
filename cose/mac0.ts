/**
 * COSE_Mac0 (RFC 9052 §6.2) and the MAC_structure (§6.3) both MAC forms authenticate.
 * HMAC per RFC 9053 §3.1, truncated to the algorithm's tag length, compared in constant time.
 */
import { CoseAlgorithmError, CoseVerificationError, ERR } from './errors.js';
import { encodeCbor } from './cbor-encode.js';
import type { CborValue } from './cbor-value.js';
import { algorithmById, assertKeyFitsAlgorithm, type Algorithm } from './algorithms.js';
import { constantTimeEqual } from './bytes.js';
import type { CoseKey } from './cose-key.js';
import { buildHeaders, parseHeaders, type HeaderOptions } from './headers.js';
import { coseArray, expectBytes, withTag } from './message.js';
import { checkAllowed, providerOf, resolveKey, type KeyInput } from './key-input.js';
import { contextStructure, payloadOf, type VerifiedMessage, type VerifySign1Options } from './sign1.js';
import type { CryptoProvider } from './crypto-provider.js';

const EMPTY = new Uint8Array(0);

export function macStructure(context: 'MAC' | 'MAC0', bodyProtected: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  return contextStructure(context, bodyProtected, externalAad, payload);
}

export function computeTag(alg: Algorithm, key: CoseKey, toBeMaced: Uint8Array, provider: CryptoProvider): Uint8Array {
  if (alg.kind !== 'mac') throw new CoseAlgorithmError(ERR.COSE_ALG_KEY_MISMATCH, `alg(1) ${alg.name} is not a MAC`);
  return provider.hmac(alg.hash, key.k!, toBeMaced).slice(0, alg.tagLength);
}

export function checkTag(alg: Algorithm, key: CoseKey, toBeMaced: Uint8Array, tag: Uint8Array, provider: CryptoProvider): void {
  const expected = computeTag(alg, key, toBeMaced, provider);
  if (!constantTimeEqual(expected, tag)) {
    throw new CoseVerificationError(ERR.COSE_BAD_MAC, `tag does not verify (alg ${alg.name})`);
  }
}

export interface CreateMac0Options extends HeaderOptions {
  /** Default: HMAC 256/64 for a 32-byte key, as RFC 8392 A.4 uses. */
  alg?: number;
  externalAad?: Uint8Array;
  provider?: CryptoProvider;
  tagged?: boolean;
}

export function buildMac0(payload: Uint8Array, key: CoseKey, opts: CreateMac0Options = {}): CborValue {
  const alg = algorithmById(opts.alg ?? key.alg ?? 4);
  assertKeyFitsAlgorithm(alg, key, 'MAC create');
  const headers = buildHeaders(alg, opts);
  const tag = computeTag(alg, key, macStructure('MAC0', headers.protectedBytes, opts.externalAad ?? EMPTY, payload), providerOf(opts));
  return withTag([headers.protectedBytes, headers.unprotected, payload, tag], 'Mac0', opts.tagged ?? true);
}

export function createMac0(payload: Uint8Array, key: CoseKey, opts: CreateMac0Options = {}): Uint8Array {
  return encodeCbor(buildMac0(payload, key, opts));
}

export function verifyMac0(input: Uint8Array | CborValue, key: KeyInput, opts: VerifySign1Options = {}): VerifiedMessage {
  const [protectedValue, unprotected, payloadValue, tagValue] = coseArray(input, 'Mac0', opts.limits);
  const headers = parseHeaders(protectedValue, unprotected);
  checkAllowed(headers.alg, opts.algorithms);
  const coseKey = resolveKey(key, headers, 'mac', 'MAC verify');
  const payload = payloadOf(payloadValue, opts.detachedPayload);
  const tbm = macStructure('MAC0', headers.protectedBytes, opts.externalAad ?? EMPTY, payload);
  checkTag(headers.alg, coseKey, tbm, expectBytes(tagValue, 'tag'), providerOf(opts));
  return { payload, headers };
}
