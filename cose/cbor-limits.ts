/** Limits applied to every CBOR input unless a caller passes tighter ones. */
export interface CborLimits {
  /** Largest input accepted, in bytes. */
  maxBytes: number;
  /** Deepest nesting of arrays, maps and tags. */
  maxDepth: number;
}

export const DEFAULT_CBOR_LIMITS: Readonly<CborLimits> = Object.freeze({
  // 64 KiB: ten times the largest token or revocation list we emit; anything bigger is hostile.
  maxBytes: 64 * 1024,
  // Our deepest structure (Encrypt0 > Sign1 > claims > cnf > COSE_Key) nests 6 levels; 16 leaves room.
  maxDepth: 16,
});

/**
 * Tags we accept on input. COSE (RFC 9052 §2) and CWT (RFC 8392 §6) tags, bignums (RFC 8949 §3.4.3)
 * and URIs. Every other tag is refused: cbor-x gives some tags (27, 28/29, 258, records) meanings
 * that could turn hostile input into objects we never meant to build.
 */
export const ALLOWED_TAGS: ReadonlySet<number> = new Set([
  2, 3, // bignums
  16, 17, 18, 96, 97, 98, // COSE_Encrypt0, Mac0, Sign1, Encrypt, Mac, Sign
  32, // URI
  61, // CWT
]);
