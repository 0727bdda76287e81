/**
 * Every code a keybound component answers a peer with, each mapped once to what it becomes on
 * every wire: the OAuth/ACE error a client reads (RFC 6749 §5.2, RFC 6750 §3.1, RFC 8628 §3.5,
 * RFC 9200 §5.8.3), the HTTP status, the CoAP response code (RFC 7252 §12.1.2, written as
 * class × 100 + detail, as device answers carry it: 401 is 4.01) and the MQTT 3.1.1 CONNACK
 * return code (§3.2.2.3: 3 unavailable, 4 bad credentials, 5 not authorized). The device, the
 * broker and the service each raise their own error class with one of these codes; none keeps a
 * mapping of its own. (cose/'s own `ERR_*` codes are diagnostics of a parse or a check, as
 * jose's are; `refusalForCoseError` in device/ turns them into one of these once.)
 */

/** [oauth, http, coap, connack]: plain literals, so a bundle keeps only the table it reads. */
type Row = readonly [oauth: string, http: number, coap: number, connack: number];

/**
 * Refusals a device gives (device/errors.ts DEVICE_ERR), the part of REFUSAL_CODES a device
 * bundle reads (deviceRefusalWire): a table of its own, so that the bundle carries these rows only.
 */
const DEVICE_REFUSAL_CODES = {
  /** The token does not verify: signature, format, claims, no cnf. */
  invalid_token: ['invalid_token', 401, 401, 4],
  /** No trust anchor or shared key for the token's kid or its cnf. */
  unknown_key: ['invalid_token', 401, 401, 4],
  expired: ['invalid_token', 401, 401, 5],
  wrong_audience: ['invalid_token', 401, 403, 5],
  revoked: ['invalid_token', 401, 401, 5],
  /** Sound, but its scope grants nothing for this request (or nothing here at all). */
  insufficient_scope: ['insufficient_scope', 403, 403, 5],
  /** The proof does not verify with the cnf key, or binds something else. */
  bad_proof: ['invalid_token', 401, 401, 4],
  /** The proof's nonce or jti (or a token's cnonce, or exi cti) was seen before. */
  replay: ['invalid_token', 401, 401, 4],
  /** A request that does not parse (not a token problem). */
  bad_request: ['invalid_request', 400, 400, 4],
  /** A budget is exhausted: refuse rather than grow; try again later. */
  busy: ['temporarily_unavailable', 503, 503, 3],
  token_store_full: ['temporarily_unavailable', 503, 503, 3],
  /** The device's own provisioning bundle is malformed, expired or lacks a trust anchor. */
  bad_provisioning: ['server_error', 500, 500, 3],
  /** The authorization service refused or answered nonsense (a device in the client role). */
  as_error: ['server_error', 502, 502, 3],
} as const satisfies Record<string, Row>;

/** Refusals by a resource server (device, broker). RFC 9200 §5.10.1.1 / RFC 6750 §3.1. */
export const REFUSAL_CODES = /* @__PURE__ */ Object.assign({}, DEVICE_REFUSAL_CODES, {
  /** MQTT CONNECT credentials that are not [token, proof], or a user name other than `ace`. */
  bad_credentials: ['invalid_request', 400, 400, 4],
  /** Verified, but a rule forbids it (a topic outside scope, a client id held by another key). */
  not_authorized: ['insufficient_scope', 403, 403, 5],
  /** The authorization service could not be asked (reference tokens at the broker). */
  introspection_failed: ['temporarily_unavailable', 503, 503, 5],
  /** Configuration, at start: the broker's authorization service URL is not https (http on loopback only). Never sent. */
  insecure_authz_url: ['server_error', 500, 500, 3],
  /** Configuration, at start: the broker's trust is another audience's bundle, or a key list with a secret key. Never sent. */
  bad_trust: ['server_error', 500, 500, 3],
  // A trust-anchor update (cose/trust-update.ts) a verifier refuses; it keeps its anchors and
  // reports the code (a service answering for one would send these as a bad request).
  /** Larger than the format's bound: never parsed. */
  too_large: ['invalid_request', 413, 413, 4],
  /** Not a message of the expected format. */
  malformed: ['invalid_request', 400, 400, 4],
  /** Signed under a kid that names none of the current trust anchors. */
  unknown_kid: ['invalid_request', 400, 400, 4],
  /** alg(1) not allowed, or not the one the signing key is for. */
  alg_mismatch: ['invalid_request', 400, 400, 4],
  /** The signature does not verify. */
  bad_signature: ['invalid_request', 400, 400, 4],
  /** Its sequence number is not above the one already applied (a replayed or older update). */
  stale: ['invalid_request', 400, 400, 4],
  /** The broker's shared store (Redis) cannot be reached: at start a configuration error, later CONNACK 3 (try again). */
  redis_unavailable: ['temporarily_unavailable', 503, 503, 3],
} as const satisfies Record<string, Row>);

/** The authorization service. RFC 6749 §5.2, RFC 8628 §3.5, RFC 8693 §2.2.2, RFC 9200 §5.8.3. */
export const SERVICE_ERROR_CODES = {
  invalid_request: ['invalid_request', 400, 400, 4],
  invalid_client: ['invalid_client', 401, 401, 4],
  invalid_grant: ['invalid_grant', 400, 400, 5],
  unauthorized_client: ['unauthorized_client', 400, 400, 5],
  unsupported_grant_type: ['unsupported_grant_type', 400, 400, 4],
  invalid_scope: ['invalid_scope', 400, 400, 5],
  invalid_target: ['invalid_target', 400, 400, 5],
  unsupported_pop_key: ['unsupported_pop_key', 400, 400, 4],
  incompatible_ace_profiles: ['incompatible_ace_profiles', 400, 400, 4],
  access_denied: ['access_denied', 400, 403, 5],
  authorization_pending: ['authorization_pending', 400, 400, 3],
  slow_down: ['slow_down', 400, 400, 3],
  expired_token: ['expired_token', 400, 400, 5],
  server_error: ['server_error', 500, 500, 3],
  temporarily_unavailable: ['temporarily_unavailable', 503, 503, 3],
  // RFC 9449 §5, §8: a DPoP proof that does not verify, or lacks the server's current nonce. 400
  // at an authorization server; a resource server answers 401 (RFC 9449 §7.1, §9) itself.
  invalid_dpop_proof: ['invalid_dpop_proof', 400, 400, 4],
  use_dpop_nonce: ['use_dpop_nonce', 400, 400, 3],
} as const satisfies Record<string, Row>;


/** Every code keybound answers with: the registry is the two tables together. */
export type RefusalCode = keyof typeof REFUSAL_CODES;
export type ErrorCode = RefusalCode | keyof typeof SERVICE_ERROR_CODES;

export interface WireMapping {
  /** The error name a client reads (RFC 6749 §5.2 / RFC 6750 §3.1 registry). */
  readonly oauth: string;
  readonly http: number;
  readonly coap: number;
  readonly connack: number;
}

const own = (table: object, code: string): boolean => Object.prototype.hasOwnProperty.call(table, code);
const mapping = ([oauth, http, coap, connack]: Row): WireMapping => ({ oauth, http, coap, connack });

/** The wire mapping of a resource server's refusal. */
export function refusalWire(code: RefusalCode): WireMapping {
  return mapping(REFUSAL_CODES[code]);
}

/** A device's refusals: the same mapping, from the one table a device bundle keeps. */
export type DeviceRefusalCode = keyof typeof DEVICE_REFUSAL_CODES;
export function deviceRefusalWire(code: DeviceRefusalCode): WireMapping {
  return mapping(DEVICE_REFUSAL_CODES[code]);
}

/** The wire mapping of any code. */
export function wireError(code: ErrorCode): WireMapping {
  return mapping(own(REFUSAL_CODES, code) ? REFUSAL_CODES[code as RefusalCode] : SERVICE_ERROR_CODES[code as keyof typeof SERVICE_ERROR_CODES]);
}

/** Whether a string is one of the registry's codes (for text read back from a peer). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (own(REFUSAL_CODES, value) || own(SERVICE_ERROR_CODES, value));
}

/** Every code with its mapping, for documentation and tests. */
export function allErrorCodes(): Array<[ErrorCode, WireMapping]> {
  return [...Object.entries(REFUSAL_CODES), ...Object.entries(SERVICE_ERROR_CODES)].map(([c, r]) => [c as ErrorCode, mapping(r as Row)]);
}
