/**
 * The broker's one error hierarchy. Every refusal has a stable `code` (callers and tests branch
 * on it) and, for CONNECT, the MQTT 3.1.1 return code it maps to (§3.2.2.3): 4 when the
 * credentials are malformed or do not verify, 5 when they verify but do not authorize.
 * Messages never carry a token or a key.
 */
export const BROKER_ERR = {
  /** The password is not [token, proof] (raw CBOR or base64url text), or the username is not `ace`. */
  BAD_CREDENTIALS: 'bad_credentials',
  /** The token does not verify (signature, format, unknown key). */
  INVALID_TOKEN: 'invalid_token',
  EXPIRED: 'expired',
  WRONG_AUDIENCE: 'wrong_audience',
  REVOKED: 'revoked',
  /** The proof does not verify with the cnf key or binds something else. */
  BAD_PROOF: 'bad_proof',
  /** The proof's jti was seen before within its window (here or at another broker on Redis). */
  REPLAY: 'replay',
  /** Verified, but the scope does not allow it (Will topic, client id in use by another key...). */
  NOT_AUTHORIZED: 'not_authorized',
  /** The authorization service could not be asked (reference tokens). */
  INTROSPECTION_FAILED: 'introspection_failed',
  /** A budget is exhausted (rate limit, cache): refuse rather than grow. */
  BUSY: 'busy',
  /** Configuration, at start: the authorization service URL is not https (http only on loopback). */
  INSECURE_AUTHZ_URL: 'insecure_authz_url',
} as const;

export type BrokerErrorCode = (typeof BROKER_ERR)[keyof typeof BROKER_ERR];

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes we use. */
export const CONNACK = { SERVER_UNAVAILABLE: 3, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;

const RETURN_CODE: Record<BrokerErrorCode, number> = {
  bad_credentials: CONNACK.BAD_CREDENTIALS,
  invalid_token: CONNACK.BAD_CREDENTIALS,
  bad_proof: CONNACK.BAD_CREDENTIALS,
  replay: CONNACK.BAD_CREDENTIALS,
  expired: CONNACK.NOT_AUTHORIZED,
  wrong_audience: CONNACK.NOT_AUTHORIZED,
  revoked: CONNACK.NOT_AUTHORIZED,
  not_authorized: CONNACK.NOT_AUTHORIZED,
  introspection_failed: CONNACK.NOT_AUTHORIZED,
  // A full budget is the broker's state, not the client's fault: "server unavailable", try later.
  busy: CONNACK.SERVER_UNAVAILABLE,
  // Never a CONNECT answer (the broker does not start), listed for completeness.
  insecure_authz_url: CONNACK.SERVER_UNAVAILABLE,
};

export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  /** The CONNACK return code this refusal maps to. */
  readonly returnCode: number;

  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'BrokerError';
    this.code = code;
    this.returnCode = RETURN_CODE[code];
  }
}
