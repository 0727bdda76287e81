/**
 * DPoP at the service's endpoints (RFC 9449 §5, §8, §10): the one proof a request carries is
 * checked for this endpoint's method and URI, with the service's iat window, algorithm list,
 * server nonce and (jkt, jti) replay record in its store (shared by every instance). /token calls
 * it; /par (RFC 9126, RFC 9449 §10.1) calls it the same way. Refusals are AuthzErrors with the
 * registry codes invalid_dpop_proof and use_dpop_nonce (400, §5 and §8); the caller sends a fresh
 * DPoP-Nonce header with every answer when nonces are on (dpopNonceHeader).
 */
import {
  DEFAULT_DPOP_ALGS,
  DEFAULT_IAT_WINDOW_SECONDS,
  DpopError,
  checkDpopNonce,
  dpopReplayExpiry,
  issueDpopNonce,
  verifyDpopProof,
  type DpopNonceSecrets,
  type DpopProof,
  type DpopReplayRecord,
} from '../sender-constraint/index.js';
import { AuthzError } from './errors.js';
import type { AuthzStore } from './store.js';

/** RFC 9449 §5: the token_type of a DPoP-bound access token, at /token and /introspect (§6.2). */
export const DPOP_TOKEN_TYPE = 'DPoP';

export interface DpopSettings {
  /**
   * The nonce secrets every instance shares (dpop-nonce.ts): current and, after a rotation, the
   * previous one. Read per request, so a rotated file is picked up without a restart. Absent: the
   * service asks for no nonce.
   */
  nonceSecrets?: () => DpopNonceSecrets;
  /** Seconds either side of now a proof's iat may be (RFC 9449 §11.1); default 60. */
  iatWindow?: number;
  /** The asymmetric JWS algorithms accepted in proofs (metadata dpop_signing_alg_values_supported). */
  algs?: readonly string[];
}

export interface DpopEndpointContext {
  store: AuthzStore;
  /** Seconds since the epoch. */
  clock: () => number;
  dpop?: DpopSettings;
}

/** What of the HTTP request the check needs. */
export interface DpopEndpointRequest {
  method: string;
  /** The endpoint's absolute URI as clients address it (the metadata's URL, not the socket's). */
  url: string;
  /** The DPoP header as node gives it: one string, several, or none. */
  dpop: string | string[] | undefined;
}

/** The (jkt, jti) replay record of the service: its store, shared by every instance (§11.1). */
export function storeReplayRecord(store: AuthzStore, clock: () => number): DpopReplayRecord {
  return { seen: (jkt, jti, expiresAt) => store.recordDpopProof(jkt, jti, expiresAt, Math.floor(clock())) };
}

export const dpopAlgs = (settings: DpopSettings | undefined): readonly string[] => settings?.algs ?? DEFAULT_DPOP_ALGS;

/**
 * The request's DPoP proof, checked (RFC 9449 §4.3) and recorded; undefined when it has none.
 * Throws AuthzError invalid_dpop_proof, or use_dpop_nonce when the service's nonce is missing or
 * stale. With `record: false` the proof is checked but not recorded: the caller records it
 * (recordDpopProofUse) once the client is known, as /token does. A proof costs its sender one
 * signature, so recording before then lets anyone fill the store.
 */
export async function checkDpopAtEndpoint(ctx: DpopEndpointContext, req: DpopEndpointRequest, options: { record?: boolean } = {}): Promise<DpopProof | undefined> {
  if (req.dpop === undefined) return undefined;
  // §4.3 step 1: exactly one DPoP header field (node joins none; a list arrives as an array or with a comma).
  if (Array.isArray(req.dpop) || req.dpop.includes(',')) throw new AuthzError('invalid_dpop_proof', 'exactly one DPoP header is allowed');
  const now = ctx.clock();
  const settings = ctx.dpop;
  const secrets = settings?.nonceSecrets?.();
  try {
    return await verifyDpopProof(req.dpop, {
      method: req.method,
      url: req.url,
      now,
      iatWindow: settings?.iatWindow ?? DEFAULT_IAT_WINDOW_SECONDS,
      algs: dpopAlgs(settings),
      ...(secrets ? { nonce: (n: string) => checkDpopNonce(n, secrets, now) } : {}),
      ...(options.record === false ? {} : { replay: storeReplayRecord(ctx.store, ctx.clock) }),
    });
  } catch (e) {
    if (e instanceof DpopError) throw new AuthzError(e.code === 'busy' ? 'temporarily_unavailable' : e.code, e.message);
    throw e;
  }
}

/**
 * RFC 9449 §11.1: records the proof's (jkt, jti) in the store until its iat leaves the window, and
 * refuses a second use (invalid_dpop_proof). Called by each grant once its client is authenticated
 * (or, for a public client, its code, refresh token or device code found), before anything is
 * issued or consumed for it, so only requests that could lead to a token write a row.
 */
export async function recordDpopProofUse(ctx: DpopEndpointContext, proof: DpopProof): Promise<void> {
  const window = ctx.dpop?.iatWindow ?? DEFAULT_IAT_WINDOW_SECONDS;
  if (await storeReplayRecord(ctx.store, ctx.clock).seen(proof.jkt, proof.jti, dpopReplayExpiry(proof.iat, window))) throw new AuthzError('invalid_dpop_proof', 'DPoP proof replayed');
}

/** RFC 9449 §8.2: a fresh nonce for the DPoP-Nonce header of any answer, when nonces are on. */
export function dpopNonceHeader(ctx: DpopEndpointContext): Record<string, string> {
  const secrets = ctx.dpop?.nonceSecrets?.();
  return secrets ? { 'dpop-nonce': issueDpopNonce(secrets, ctx.clock()) } : {};
}
