/**
 * The shape every HTTP-facing refusal shares (the service's AuthzError, the gateway's
 * GatewayError, DPoP's DpopError, mTLS's CertificateBindingError): `code` from the shared
 * registry (error-codes.ts), and the OAuth error name and HTTP status the registry maps it to, so
 * a refusal reads the same wherever it is made. Callers branch on `code`; messages never carry a
 * token, a proof, a key or a secret.
 */
import { wireError, type ErrorCode } from './error-codes.js';

export class WireError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  /** The error name a client reads (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §5). */
  readonly oauthError: string;
  /** The registry's HTTP status, unless the transport needs another (405, 413, 415). */
  readonly status: number;

  constructor(code: C, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    const wire = wireError(code);
    this.oauthError = wire.oauth;
    this.status = options.status ?? wire.http;
  }
}
