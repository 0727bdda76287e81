/**
 * One error hierarchy for the portable core. Callers branch on `code`, never on message
 * text (as jose does). Messages name labels and numbers, never keys or whole tokens.
 */
export class CoseError extends Error {
  /**
   * The class's name in a literal, which each of ours sets: a device bundle's minifier renames
   * classes (firmware-sim/device-bundle.ts), and a device's log should say CoseAlgorithmError, not
   * `e`. A subclass of anyone's that sets none is known by its own class name. (A static field
   * rather than a static block: esbuild still drops a class no one uses.)
   */
  static readonly errorName: string = 'CoseError';
  /** Stable, machine-readable code, e.g. `ERR_COSE_BAD_SIGNATURE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    // A codes-only device bundle has no message text (firmware-sim/error-message-strip.ts): the code stands in.
    super(message || code, options);
    this.name = Object.hasOwn(new.target, 'errorName') ? new.target.errorName : new.target.name;
    this.code = code;
  }
}

/** Malformed or disallowed CBOR (RFC 8949) on input, or a value we refuse to emit. */
export class CborError extends CoseError {
  static override readonly errorName: string = 'CborError';
}

/** A COSE structure (RFC 9052) that is not what it must be: wrong tag, wrong types, bad headers. */
export class CoseFormatError extends CoseError {
  static override readonly errorName: string = 'CoseFormatError';
}

/** An algorithm that is unknown, not allowed here, or does not match the key. */
export class CoseAlgorithmError extends CoseError {
  static override readonly errorName: string = 'CoseAlgorithmError';
}

/** A COSE_Key (RFC 9052 §7) that is malformed or unusable for the operation. */
export class CoseKeyError extends CoseError {
  static override readonly errorName: string = 'CoseKeyError';
}

/** A signature, MAC or AEAD tag that does not verify. */
export class CoseVerificationError extends CoseError {
  static override readonly errorName: string = 'CoseVerificationError';
}

/** A CWT (RFC 8392) whose claims fail a check. `claim` names it, e.g. `exp(4)`. */
export class CwtClaimError extends CoseError {
  static override readonly errorName: string = 'CwtClaimError';
  readonly claim: string;
  readonly reason: string;

  constructor(code: string, claim: string, reason: string) {
    super(code, reason ? `${claim} ${reason}` : claim);
    this.claim = claim;
    this.reason = reason;
  }
}

/** An AIF scope (RFC 9237) or text scope that does not parse. */
export class ScopeError extends CoseError {
  static override readonly errorName: string = 'ScopeError';
}

export const ERR = {
  CBOR_TRAILING_BYTES: 'ERR_CBOR_TRAILING_BYTES',
  CBOR_TRUNCATED: 'ERR_CBOR_TRUNCATED',
  CBOR_TOO_LARGE: 'ERR_CBOR_TOO_LARGE',
  CBOR_TOO_DEEP: 'ERR_CBOR_TOO_DEEP',
  CBOR_DUPLICATE_KEY: 'ERR_CBOR_DUPLICATE_KEY',
  CBOR_INDEFINITE_LENGTH: 'ERR_CBOR_INDEFINITE_LENGTH',
  CBOR_NON_MINIMAL: 'ERR_CBOR_NON_MINIMAL',
  CBOR_MALFORMED: 'ERR_CBOR_MALFORMED',
  CBOR_BAD_UTF8: 'ERR_CBOR_BAD_UTF8',
  CBOR_TAG_NOT_ALLOWED: 'ERR_CBOR_TAG_NOT_ALLOWED',
  CBOR_UNSUPPORTED_VALUE: 'ERR_CBOR_UNSUPPORTED_VALUE',
  COSE_WRONG_TAG: 'ERR_COSE_WRONG_TAG',
  COSE_MALFORMED: 'ERR_COSE_MALFORMED',
  COSE_BAD_HEADER: 'ERR_COSE_BAD_HEADER',
  COSE_DUPLICATE_HEADER: 'ERR_COSE_DUPLICATE_HEADER',
  COSE_UNKNOWN_CRIT: 'ERR_COSE_UNKNOWN_CRIT',
  COSE_ALG_MISSING: 'ERR_COSE_ALG_MISSING',
  COSE_ALG_UNPROTECTED: 'ERR_COSE_ALG_UNPROTECTED',
  COSE_ALG_UNSUPPORTED: 'ERR_COSE_ALG_UNSUPPORTED',
  COSE_ALG_NOT_ALLOWED: 'ERR_COSE_ALG_NOT_ALLOWED',
  COSE_ALG_KEY_MISMATCH: 'ERR_COSE_ALG_KEY_MISMATCH',
  COSE_BAD_SIGNATURE: 'ERR_COSE_BAD_SIGNATURE',
  COSE_BAD_MAC: 'ERR_COSE_BAD_MAC',
  COSE_DECRYPT_FAILED: 'ERR_COSE_DECRYPT_FAILED',
  COSE_NO_KEY: 'ERR_COSE_NO_KEY',
  COSE_DETACHED_PAYLOAD: 'ERR_COSE_DETACHED_PAYLOAD',
  COSE_KEY_INVALID: 'ERR_COSE_KEY_INVALID',
  COSE_KEY_OPS: 'ERR_COSE_KEY_OPS',
  COSE_BAD_LENGTH: 'ERR_COSE_BAD_LENGTH',
  /** The host's random source returned the wrong type, length, or all zeros (host-randomness.ts). */
  COSE_BAD_RANDOMNESS: 'ERR_COSE_BAD_RANDOMNESS',
  CWT_MALFORMED: 'ERR_CWT_MALFORMED',
  CWT_EXPIRED: 'ERR_CWT_EXPIRED',
  CWT_NOT_YET_VALID: 'ERR_CWT_NOT_YET_VALID',
  CWT_WRONG_AUDIENCE: 'ERR_CWT_WRONG_AUDIENCE',
  CWT_WRONG_ISSUER: 'ERR_CWT_WRONG_ISSUER',
  CWT_CLAIM_MISSING: 'ERR_CWT_CLAIM_MISSING',
  CWT_CLAIM_INVALID: 'ERR_CWT_CLAIM_INVALID',
  CWT_NESTING: 'ERR_CWT_NESTING',
  SCOPE_INVALID: 'ERR_SCOPE_INVALID',
  JWT_BRIDGE_UNSUPPORTED: 'ERR_JWT_BRIDGE_UNSUPPORTED',
} as const;
