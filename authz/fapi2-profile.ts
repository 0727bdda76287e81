/**
 * The FAPI 2.0 Security Profile (OpenID FAPI 2.0 Security Profile, final) as a service mode,
 * `authz serve --profile fapi2`. On top of what keybound always does (authorization code only,
 * no implicit flow; PKCE with S256 only; RFC 9207 `iss` in every authorization response;
 * redirect URIs compared exactly; codes of at most 60 s, §5.3.2.1), the mode requires:
 * - pushed authorization requests for every client (§5.3.2.2: /authorize takes request_uri only);
 * - confidential clients authenticating by mTLS (RFC 8705) or a signed assertion (our CWT
 *   analogue of private_key_jwt), never a shared secret and never none (§5.3.2.1);
 * - sender-constrained access tokens (§5.3.2.1): bound to the client's TLS certificate
 *   (RFC 8705 §3). A token that would be bound to nothing the resource server can check at the
 *   HTTP layer is refused rather than issued; or bound to the DPoP key of the request's proof
 *   (RFC 9449).
 */
import { AuthzError, invalidClient } from './errors.js';
import type { AuthenticatedClient } from './client-auth.js';

export type ServiceProfile = 'fapi2';

/** FAPI 2.0 §5.3.2.1: client authentication methods allowed in this mode. */
export const FAPI2_CLIENT_AUTH_METHODS: readonly AuthenticatedClient['method'][] = ['tls_client_auth', 'self_signed_tls_client_auth', 'cwt_assertion'];

/** Refuses a client authentication method FAPI 2.0 does not allow (a secret, or none). */
export function checkFapi2ClientAuth(auth: AuthenticatedClient): void {
  if (!FAPI2_CLIENT_AUTH_METHODS.includes(auth.method)) {
    throw invalidClient(`FAPI 2.0: authenticate with a TLS certificate or a signed assertion, not ${auth.method}`);
  }
}

/**
 * Refuses to issue an access token that is not sender-constrained (FAPI 2.0 §5.3.2.1): bound to
 * the client's TLS certificate, or to the DPoP key whose proof this request carries (RFC 9449).
 */
export function checkFapi2SenderConstraint(auth: AuthenticatedClient, dpopProof: boolean): void {
  if (auth.certificateThumbprint === undefined && !dpopProof) {
    throw new AuthzError('invalid_request', 'FAPI 2.0: access tokens are sender-constrained; send a DPoP proof (RFC 9449) or authenticate with your TLS certificate (RFC 8705)');
  }
}
