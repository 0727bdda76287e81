/**
 * OSCORE's failures (RFC 8613 §8), each with the answer the RFC prescribes: a server that cannot
 * verify a request answers with `coap` (unprotected, as §8.2 says) and the diagnostic payload
 * `diagnostic`; failures with no answer (the sender's own sequence numbers, its storage, bad
 * configuration) have none. Messages name lengths and numbers, never keys or plaintext.
 */
import { CoseError } from './errors.js';
import { utf8 } from './utf8.js';

/** RFC 7252 §5.10.5 Max-Age (named here, not imported, so the errors stay a leaf module). */
const MAX_AGE = 14;

export const OSCORE_ERR = {
  /** §8.2 step 2 / §8.4 step 2: the OSCORE option is missing, malformed or lacks kid/Partial IV. */
  BAD_OPTION: 'ERR_OSCORE_BAD_OPTION',
  /** §8.2 step 2: no security context for this kid (and kid context). */
  UNKNOWN_CONTEXT: 'ERR_OSCORE_UNKNOWN_CONTEXT',
  /** §7.4: the Partial IV was seen, or is below the replay window. */
  REPLAY: 'ERR_OSCORE_REPLAY',
  /** §8.2 step 6 / §8.4 step 5: the AEAD tag does not verify (wrong key, tampered, wrong request). */
  DECRYPT_FAILED: 'ERR_OSCORE_DECRYPT_FAILED',
  /** The decrypted plaintext is not Code ‖ options ‖ payload (§5.3). */
  BAD_PLAINTEXT: 'ERR_OSCORE_BAD_PLAINTEXT',
  /** §7.2.1: the sender sequence number would pass 2^40 - 1; the context must be renewed. */
  SEQUENCE_EXHAUSTED: 'ERR_OSCORE_SEQUENCE_EXHAUSTED',
  /** The injected storage could not persist the reserved sequence numbers: refuse to send (§B.1.1). */
  STORAGE: 'ERR_OSCORE_STORAGE',
  /** Context input that cannot be used: an ID longer than nonce length - 6, an unsupported algorithm. */
  BAD_CONTEXT: 'ERR_OSCORE_BAD_CONTEXT',
  /** A message we refuse to protect (a Proxy-Uri to decompose, an unknown code). */
  BAD_MESSAGE: 'ERR_OSCORE_BAD_MESSAGE',
} as const;

export type OscoreErrorCode = (typeof OSCORE_ERR)[keyof typeof OSCORE_ERR];

/** What a server answers for each code, RFC 8613 §8.2 (as class × 32 + detail); undefined: no answer. */
const ANSWERS: Record<OscoreErrorCode, { coap: number; diagnostic?: string } | undefined> = {
  ERR_OSCORE_BAD_OPTION: { coap: 130 }, // 4.02 Bad Option
  ERR_OSCORE_UNKNOWN_CONTEXT: { coap: 129, diagnostic: 'Security context not found' }, // 4.01
  ERR_OSCORE_REPLAY: { coap: 129, diagnostic: 'Replay detected' }, // 4.01
  ERR_OSCORE_DECRYPT_FAILED: { coap: 128, diagnostic: 'Decryption failed' }, // 4.00
  ERR_OSCORE_BAD_PLAINTEXT: { coap: 128, diagnostic: 'Decryption failed' }, // 4.00: as undecryptable
  ERR_OSCORE_SEQUENCE_EXHAUSTED: undefined,
  ERR_OSCORE_STORAGE: undefined,
  ERR_OSCORE_BAD_CONTEXT: undefined,
  ERR_OSCORE_BAD_MESSAGE: undefined,
};

export class OscoreError extends CoseError {
  static override readonly errorName: string = 'OscoreError';
  declare readonly code: OscoreErrorCode;
  /** The CoAP response code a server answers with (RFC 8613 §8.2), when there is one. */
  readonly coap: number | undefined;
  /** Its diagnostic payload (RFC 8613 §8.2, RFC 7252 §5.5.2), when the RFC names one. */
  readonly diagnostic: string | undefined;

  constructor(code: OscoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, `OSCORE: ${message}`, options);
    this.coap = ANSWERS[code]?.coap;
    this.diagnostic = ANSWERS[code]?.diagnostic;
  }
}

/**
 * The unprotected answer to a refused request (RFC 8613 §8.2): the error's code, Max-Age 0 so no
 * proxy caches it, and the diagnostic payload; undefined for failures that have no answer. The
 * caller copies type, Message ID and Token from the request.
 */
export function oscoreRefusal(e: OscoreError): { code: number; options: { number: number; value: Uint8Array }[]; payload: Uint8Array } | undefined {
  if (e.coap === undefined) return undefined;
  return { code: e.coap, options: [{ number: MAX_AGE, value: new Uint8Array(0) }], payload: e.diagnostic ? utf8(e.diagnostic) : new Uint8Array(0) };
}
