/**
 * One error hierarchy for the authorization service. `code` is stable for callers; `oauthError`
 * is the RFC 6749 §5.2 / RFC 8628 §3.5 / RFC 9200 §5.8.3 error string a client sees, and
 * `status` the HTTP status it travels with. Messages never carry secrets, keys or whole tokens.
 */
export class AuthzError extends Error {
  readonly code: string;
  readonly oauthError: string;
  readonly status: number;

  constructor(oauthError: string, description: string, opts: { status?: number; code?: string; cause?: unknown } = {}) {
    super(description, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'AuthzError';
    this.oauthError = oauthError;
    this.status = opts.status ?? (oauthError === 'invalid_client' ? 401 : 400);
    this.code = opts.code ?? `ERR_AUTHZ_${oauthError.toUpperCase()}`;
  }
}

export const invalidRequest = (d: string): AuthzError => new AuthzError('invalid_request', d);
export const invalidClient = (d = 'client authentication failed'): AuthzError => new AuthzError('invalid_client', d);
export const invalidGrant = (d: string): AuthzError => new AuthzError('invalid_grant', d);
export const invalidScope = (d: string): AuthzError => new AuthzError('invalid_scope', d);
export const invalidTarget = (d: string): AuthzError => new AuthzError('invalid_target', d);
export const unauthorizedClient = (d: string): AuthzError => new AuthzError('unauthorized_client', d);
export const unsupportedGrantType = (d: string): AuthzError => new AuthzError('unsupported_grant_type', d);
