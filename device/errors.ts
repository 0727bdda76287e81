/**
 * The device runtime's one error hierarchy. Every refusal a device gives has a stable `code`
 * (callers branch on it, never on message text) and may carry AS Request Creation Hints
 * (RFC 9200 §5.3) so that the client knows where to get the right token.
 */
import type { DeviceRefusalCode } from '../cose/index.js';
import type { RequestHints } from './request-hints.js';

export const DEVICE_ERR = {
  INVALID_TOKEN: 'invalid_token',
  EXPIRED: 'expired',
  WRONG_AUDIENCE: 'wrong_audience',
  INSUFFICIENT_SCOPE: 'insufficient_scope',
  BAD_PROOF: 'bad_proof',
  REPLAY: 'replay',
  UNKNOWN_KEY: 'unknown_key',
  REVOKED: 'revoked',
  TOKEN_STORE_FULL: 'token_store_full',
  /** The provisioning bundle is malformed, expired or lacks a trust anchor. */
  BAD_PROVISIONING: 'bad_provisioning',
  /** A request or message that does not parse (not a token problem). */
  BAD_REQUEST: 'bad_request',
  /** A budget (sessions, replay cache, nonces) is exhausted: refuse rather than grow. */
  BUSY: 'busy',
  /** The authorization service refused or answered nonsense (client role). */
  AS_ERROR: 'as_error',
} as const satisfies Record<string, DeviceRefusalCode>; // each maps once to its wire answers in cose/error-codes.ts

export type DeviceErrorCode = (typeof DEVICE_ERR)[keyof typeof DEVICE_ERR];

export class DeviceError extends Error {
  readonly code: DeviceErrorCode;
  /** RFC 9200 §5.3 hints for the client, on refusals that a new token can cure. */
  readonly hints: RequestHints | undefined;

  constructor(code: DeviceErrorCode, message: string, options?: { cause?: unknown; hints?: RequestHints }) {
    // A codes-only device bundle has no message text (firmware-sim/error-message-strip.ts): the code stands in.
    super(message || code, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'DeviceError';
    this.code = code;
    this.hints = options?.hints;
  }
}
