/**
 * The one error hierarchy of sender-constraint/. `code` is from the shared registry
 * (cose/error-codes.ts): `invalid_dpop_proof` and `use_dpop_nonce` are RFC 9449's own error
 * names (§5, §8, §9), `busy` a budget that refuses rather than grows. `status` is the
 * authorization server's (400, RFC 9449 §5/§8) unless the caller is a resource server, which
 * answers 401 with `WWW-Authenticate` (RFC 9449 §7.1, §9). Messages never carry a proof, a key
 * or a token.
 */
import { WireError, type ErrorCode } from '../cose/index.js';

export const DPOP_ERR = {
  INVALID_DPOP_PROOF: 'invalid_dpop_proof',
  USE_DPOP_NONCE: 'use_dpop_nonce',
  BUSY: 'busy',
} as const satisfies Record<string, ErrorCode>;

export type DpopErrorCode = (typeof DPOP_ERR)[keyof typeof DPOP_ERR];

/** `status` is the registry's, as an authorization server answers (RFC 9449 §5/§8). */
export class DpopError extends WireError<DpopErrorCode> {}

export const invalidDpopProof = (message: string, cause?: unknown): DpopError =>
  new DpopError('invalid_dpop_proof', message, cause !== undefined ? { cause } : undefined);

/** RFC 6750 §3: quoted-string values exclude '"' and '\\'; we keep printable ASCII only. */
const quotable = (text: string): string => text.replace(/[^\x20-\x7e]|["\\]/g, '').slice(0, 200);

/**
 * The `WWW-Authenticate` challenge a resource server sends with a DPoP refusal (RFC 9449 §7.1:
 * scheme `DPoP`, `error`, `error_description` and `algs`, the algorithms it accepts). With no
 * error (no token or proof presented at all) only `algs` is sent (RFC 6750 §3.1).
 */
export function dpopWwwAuthenticate(options: { algs: readonly string[]; error?: string; description?: string; realm?: string }): string {
  const parts: string[] = [];
  if (options.realm !== undefined) parts.push(`realm="${quotable(options.realm)}"`);
  if (options.error !== undefined) parts.push(`error="${quotable(options.error)}"`);
  if (options.error !== undefined && options.description !== undefined) parts.push(`error_description="${quotable(options.description)}"`);
  parts.push(`algs="${options.algs.map(quotable).join(' ')}"`);
  return `DPoP ${parts.join(', ')}`;
}
