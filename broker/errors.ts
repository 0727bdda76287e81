/**
 * The broker's one error hierarchy. Every refusal has a stable `code` (callers and tests branch
 * on it) and, for CONNECT, the MQTT 3.1.1 return code it maps to (§3.2.2.3): 4 when the
 * credentials are malformed or do not verify, 5 when they verify but do not authorize.
 * Messages never carry a token or a key.
 */
import { wireError, type ErrorCode } from '../cose/index.js';
import type { DeviceError } from '../device/index.js';
export const BROKER_ERR = {
  /** The password is not [token, proof] (raw CBOR or base64url text), or the username is not `ace`. */
  BAD_CREDENTIALS: 'bad_credentials',
  /** The token does not verify (signature, format, scope of the wrong kind). */
  INVALID_TOKEN: 'invalid_token',
  /** No trust anchor or shared key for the token's kid or its cnf. */
  UNKNOWN_KEY: 'unknown_key',
  EXPIRED: 'expired',
  WRONG_AUDIENCE: 'wrong_audience',
  REVOKED: 'revoked',
  /** The proof does not verify with the cnf key or binds something else. */
  BAD_PROOF: 'bad_proof',
  /** The proof's jti was seen before within its window (here or at another broker on Redis). */
  REPLAY: 'replay',
  /** Verified, but its scope(9) is missing or not AIF-MQTT: it grants nothing here (as at a device). */
  INSUFFICIENT_SCOPE: 'insufficient_scope',
  /** Verified, but the scope does not allow it (Will topic, client id in use by another key...). */
  NOT_AUTHORIZED: 'not_authorized',
  /** The authorization service could not be asked (reference tokens). */
  INTROSPECTION_FAILED: 'introspection_failed',
  /** A budget is exhausted (rate limit, cache): refuse rather than grow. */
  BUSY: 'busy',
  /** Configuration, at start: the authorization service URL is not https (http only on loopback). */
  INSECURE_AUTHZ_URL: 'insecure_authz_url',
  /** Configuration, at start: the trust is refused (another audience's bundle, a secret key in a key list). */
  BAD_TRUST: 'bad_trust',
  /** Redis (--redis) cannot be reached: at start the broker exits with this; later a CONNECT it cannot check is refused with it. */
  REDIS_UNAVAILABLE: 'redis_unavailable',
} as const satisfies Record<string, ErrorCode>; // each maps once to its CONNACK code in cose/error-codes.ts

export type BrokerErrorCode = (typeof BROKER_ERR)[keyof typeof BROKER_ERR];

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes we use. */
export const CONNACK = { SERVER_UNAVAILABLE: 3, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;


export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  /** The CONNACK return code this refusal maps to. */
  readonly returnCode: number;

  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'BrokerError';
    this.code = code;
    this.returnCode = wireError(code).connack;
  }
}

const SHARED_CODES: ReadonlySet<string> = new Set(Object.values(BROKER_ERR));

/**
 * A refusal of the acceptance core or of the proof check (device/) as the broker's error, with the
 * same code a device would give for the same failure. Of the device codes the broker does not
 * share, only a full store can reach here (`busy`); anything else is a token it cannot use.
 */
export function brokerErrorFromDevice(cause: DeviceError): BrokerError {
  const code = SHARED_CODES.has(cause.code)
    ? (cause.code as BrokerErrorCode)
    : cause.code === 'token_store_full'
      ? BROKER_ERR.BUSY
      : BROKER_ERR.INVALID_TOKEN;
  return new BrokerError(code, cause.message, { cause });
}
