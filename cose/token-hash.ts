/**
 * Token hashes as the ACE revoked-token draft uses them (SHA-256, RFC 6920 `ni` form where people
 * read them), taken over the token's CANONICAL bytes, not over whatever arrived.
 *
 * Why: a holder of a revoked token can change its bytes without touching what the signature
 * covers: drop or add tag 61 or the COSE tag (both forms are accepted on input), put labels in
 * the unprotected header (no signature covers it), or flip an ECDSA signature to (r, n - s). Each
 * gives a new hash, so a list of hashes over received bytes is bypassed, and one token fills many
 * token-store slots. The canonical form removes every such freedom:
 *   61(<COSE tag>([protected, {}, payload-or-ciphertext, low-S signature / tag]))
 * in deterministic CBOR. We emit tokens in exactly that form, so for our own tokens the hash is
 * SHA-256 over their exact bytes, as the draft has it. Input that is not a COSE_Sign1, COSE_Mac0
 * or COSE_Encrypt0 (a reference token: random bytes) is its own canonical form.
 */
import { Tag } from './cbor-value.js';
import { ALG } from './algorithms.js';
import { toBase64Url } from './bytes.js';
import { decodeCbor } from './cbor-decode.js';
import { encodeCbor } from './cbor-encode.js';
import { isMap, type CborValue } from './cbor-value.js';
import type { CryptoProvider } from './crypto-provider.js';
import { lowS } from './ecdsa-low-s.js';
import { COSE_TAG, CWT_TAG, coseTypeOf, unwrapCwtTag, type CoseMessageType } from './message.js';
import { portableProvider } from './portable-provider.js';

/** As cwt.ts MAX_TOKEN_BYTES: larger input is not a token we would accept, so its bytes are its identity. */
export const MAX_CANONICAL_INPUT = 4096;
/** RFC 9053 §2.1: the ECDSA algorithms, whose signatures have two valid forms. */
const ECDSA = new Set<number>([ALG.ES256, ALG.ES384, ALG.ES512]);

function protectedAlg(value: CborValue): number | undefined {
  if (!(value instanceof Uint8Array)) return undefined;
  if (value.length === 0) return undefined;
  const map = decodeCbor(value, { maxBytes: MAX_CANONICAL_INPUT, maxDepth: 8 });
  const alg = isMap(map) ? map.get(1) : undefined;
  return typeof alg === 'number' ? alg : undefined;
}

/** The canonical bytes of a token (see above); the input itself when it is no COSE message. */
export function canonicalTokenBytes(token: Uint8Array): Uint8Array {
  if (token.length > MAX_CANONICAL_INPUT) return token;
  let value: CborValue;
  try {
    value = decodeCbor(token, { maxBytes: MAX_CANONICAL_INPUT, maxDepth: 8 });
  } catch {
    return token; // not strict CBOR: a reference token, or junk that no verifier accepts
  }
  try {
    value = unwrapCwtTag(value);
  } catch {
    return token; // 61 around no COSE tag (RFC 8392 §6): no verifier accepts it
  }
  const tagged = coseTypeOf(value);
  if (value instanceof Tag) value = value.value as CborValue;
  if (!Array.isArray(value) || !(value[0] instanceof Uint8Array) || !isMap(value[1])) return token;
  let alg: number | undefined;
  try {
    alg = protectedAlg(value[0]);
  } catch {
    return token;
  }
  // Untagged: Encrypt0 has three elements; of four, RFC 9053 signature algorithms are negative.
  const type: CoseMessageType | undefined =
    tagged ?? (value.length === 3 ? 'Encrypt0' : value.length === 4 && alg !== undefined ? (alg < 0 ? 'Sign1' : 'Mac0') : undefined);
  const length = type === 'Encrypt0' ? 3 : 4;
  if ((type !== 'Sign1' && type !== 'Mac0' && type !== 'Encrypt0') || value.length !== length) return token;
  const parts: CborValue[] = [value[0], new Map(), ...value.slice(2)];
  if (type === 'Sign1' && ECDSA.has(alg!) && parts[3] instanceof Uint8Array) parts[3] = lowS(parts[3]);
  return encodeCbor(new Tag(new Tag(parts, COSE_TAG[type]), CWT_TAG));
}

export function tokenHash(token: Uint8Array, provider: CryptoProvider = portableProvider): Uint8Array {
  return provider.digest('SHA-256', canonicalTokenBytes(token));
}

/** RFC 6920 §3: `ni:///sha-256;<base64url>`. */
export function tokenHashUri(hash: Uint8Array): string {
  return `ni:///sha-256;${toBase64Url(hash)}`;
}
