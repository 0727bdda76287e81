/**
 * Certificate-bound access tokens (RFC 8705 §3) for clients that authenticated with their TLS
 * certificate: a JWT access token (RFC 9068, jwt-access-token.ts, signed by the service's current
 * key so /jwks.json verifies it) whose `cnf` is `{ "x5t#S256": thumbprint }` (§3.1). A resource
 * server or the gateway compares the thumbprint with the certificate presented to it (§3.2).
 *
 * Why a JWT and not a CWT: the CWT Confirmation Methods registry (RFC 8747 §7.2) has no member
 * for a certificate thumbprint, and our CWT verifiers (device, broker) require a COSE_Key cnf they
 * can check a COSE proof against; a CWT with an x5t#S256 cnf would be a token nobody of ours can
 * use. The certificate binding is an HTTP-side binding, so its token is the HTTP side's format.
 */

/** RFC 8705 §3: the token is a Bearer token whose use the resource server ties to the TLS certificate. */
export const CERTIFICATE_BOUND_TOKEN_TYPE = 'Bearer';
