/**
 * How a verifier names the key: a COSE_Key, or a function that picks one from the headers
 * (usually by kid). The chosen key must fit the algorithm the protected header names, and the
 * algorithm must be on the caller's allow-list when one is given.
 */
import { CoseAlgorithmError, CoseKeyError, ERR } from './errors.js';
import { assertKeyFitsAlgorithm, type Algorithm } from './algorithms.js';
import type { CoseKey } from './cose-key.js';
import type { ParsedHeaders } from './headers.js';
import type { CryptoProvider } from './crypto-provider.js';
import { portableProvider } from './portable-provider.js';
import { toHex } from './bytes.js';

export type KeyResolver = (headers: ParsedHeaders) => CoseKey | undefined;
export type KeyInput = CoseKey | KeyResolver;

export interface VerifyOptions {
  /** Bound into the signature/MAC/AAD but not carried (RFC 9052 §4.3). */
  externalAad?: Uint8Array;
  /** Allowed COSE algorithm identifiers; any other is refused before a key is touched. */
  algorithms?: readonly number[];
  provider?: CryptoProvider;
}

export function providerOf(opts: { provider?: CryptoProvider } | undefined): CryptoProvider {
  return opts?.provider ?? portableProvider;
}

export function checkAllowed(alg: Algorithm, algorithms: readonly number[] | undefined): void {
  if (algorithms && !algorithms.includes(alg.id)) {
    throw new CoseAlgorithmError(ERR.COSE_ALG_NOT_ALLOWED, `alg(1) ${alg.name} is not on the allow-list`);
  }
}

export function resolveKey(
  input: KeyInput,
  headers: ParsedHeaders,
  kind: Algorithm['kind'],
  operation: Parameters<typeof assertKeyFitsAlgorithm>[2],
): CoseKey {
  if (headers.alg.kind !== kind) {
    throw new CoseAlgorithmError(ERR.COSE_ALG_KEY_MISMATCH, `alg(1) ${headers.alg.name} is not a ${kind} algorithm`);
  }
  const key = typeof input === 'function' ? input(headers) : input;
  if (!key) throw new CoseKeyError(ERR.COSE_NO_KEY, 'no key known for this kid(4)');
  assertKeyFitsAlgorithm(headers.alg, key, operation);
  return key;
}

/**
 * Picks a key by the kid in the headers (RFC 9052 §3.1: kid is a hint), among keys of the type the
 * algorithm needs; with no kid, a single key of that type is unambiguous. Two candidates are
 * refused rather than guessed between.
 */
export function kidKeyResolver(keys: readonly CoseKey[]): KeyResolver & { sharedKey(kid: Uint8Array): CoseKey | undefined } {
  const byKid = new Map<string, CoseKey[]>();
  for (const key of keys) {
    if (!key.kid) continue;
    const id = toHex(key.kid);
    byKid.set(id, [...(byKid.get(id) ?? []), key]);
  }
  const resolve = ((headers: ParsedHeaders) => {
    const wanted = headers.alg.kty;
    const candidates = headers.kid ? (byKid.get(toHex(headers.kid)) ?? []) : keys;
    const fitting = candidates.filter((k) => k.kty === wanted);
    return fitting.length === 1 ? fitting[0] : undefined;
  }) as KeyResolver & { sharedKey(kid: Uint8Array): CoseKey | undefined };
  resolve.sharedKey = (kid) => (byKid.get(toHex(kid)) ?? []).find((k) => k.kty === 'Symmetric');
  return resolve;
}
