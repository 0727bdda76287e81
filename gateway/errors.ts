/**
 * The one error hierarchy of gateway/. `code` is from the shared registry (cose/error-codes.ts);
 * `status` and the OAuth error name are the registry's, so a refusal reads the same at the
 * gateway as at the broker: 401 invalid_token, 403 insufficient_scope (RFC 6750 §3.1), 400
 * invalid_request. Messages never carry a token, a proof or a key.
 */
import { WireError, type ErrorCode } from '../cose/index.js';

export const GATEWAY_ERR = {
  INVALID_TOKEN: 'invalid_token',
  EXPIRED: 'expired',
  WRONG_AUDIENCE: 'wrong_audience',
  INSUFFICIENT_SCOPE: 'insufficient_scope',
  INVALID_REQUEST: 'invalid_request',
  TOO_LARGE: 'too_large',
  REDIS_UNAVAILABLE: 'redis_unavailable',
  INTROSPECTION_FAILED: 'introspection_failed',
} as const satisfies Record<string, ErrorCode>;

export type GatewayErrorCode = (typeof GATEWAY_ERR)[keyof typeof GATEWAY_ERR];

export class GatewayError extends WireError<GatewayErrorCode> {}
