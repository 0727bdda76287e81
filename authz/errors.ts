/**
 * One error hierarchy for the authorization service. `code` is one of cose/error-codes.ts (the
 * same registry the device and the broker answer from), and it is also the RFC 6749 §5.2 /
 * RFC 8628 §3.5 / RFC 9200 §5.8.3 error a client reads; `status` is the registry's HTTP status
 * unless the transport needs another (405, 413, 415). Messages never carry secrets, keys or whole
 * tokens.
 */
import { WireError } from '../cose/index.js';

export class AuthzError extends WireError {}

export const invalidRequest = (d: string): AuthzError => new AuthzError('invalid_request', d);
export const invalidClient = (d = 'client authentication failed'): AuthzError => new AuthzError('invalid_client', d);
export const invalidGrant = (d: string): AuthzError => new AuthzError('invalid_grant', d);
export const invalidScope = (d: string): AuthzError => new AuthzError('invalid_scope', d);
export const invalidTarget = (d: string): AuthzError => new AuthzError('invalid_target', d);
export const unauthorizedClient = (d: string): AuthzError => new AuthzError('unauthorized_client', d);
export const unsupportedGrantType = (d: string): AuthzError => new AuthzError('unsupported_grant_type', d);
