/**
 * The COSE algorithm identifiers keybound uses by name (RFC 9053, IANA "COSE Algorithms"), on
 * their own so that both halves of the algorithm table (algorithms.ts, symmetric-algorithms.ts)
 * can read them without importing each other. algorithms.ts re-exports them.
 */
/** COSE algorithm identifiers we use by name in code. */
export const ALG = {
  EdDSA: -8,
  ES256: -7,
  ES384: -35,
  ES512: -36,
  HMAC_256_64: 4,
  HMAC_256_256: 5,
  HMAC_384_384: 6,
  HMAC_512_512: 7,
  A128GCM: 1,
  A192GCM: 2,
  A256GCM: 3,
  AES_CCM_16_64_128: 10,
  AES_CCM_16_64_256: 11,
  AES_CCM_64_64_128: 12,
  AES_CCM_64_64_256: 13,
  CHACHA20_POLY1305: 24,
  AES_CCM_16_128_128: 30,
  AES_CCM_16_128_256: 31,
  AES_CCM_64_128_128: 32,
  AES_CCM_64_128_256: 33,
  /** RFC 9052 §8.5.1: direct use of a shared key, in a recipient structure. */
  DIRECT: -6,
} as const;
