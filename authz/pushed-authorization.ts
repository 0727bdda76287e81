/**
 * Pushed authorization requests (RFC 9126): the client POSTs its authorization request to /par,
 * authenticated as at /token, and gets a `request_uri` to send the browser to /authorize with.
 * The request never travels through the browser, so it cannot be read or changed there, and
 * the service checked it (and who sent it) before any user saw a page.
 *
 * The request_uri is `urn:ietf:params:oauth:request_uri:` + 256 random bits (§2.2); the store
 * keeps only its hash, with the client that pushed it. It is taken once (§4, "one-time use"),
 * only by that client, before it expires: another client's request_uri is as unknown as a
 * guessed one (and is not burnt by the attempt).
 */
import { isErrorCode } from '../cose/index.js';
import { logText } from '../device/index.js';
import { AuthzError, invalidRequest } from './errors.js';
import { authenticateClient } from './client-auth.js';
import { lookupHash } from './secret-hash.js';
import { checkFapi2ClientAuth } from './fapi2-profile.js';
import type { DpopProof } from '../sender-constraint/index.js';
import { recordDpopProofUse } from './dpop-binding.js';
import type { Params } from './ace-params.js';
import type { TokenContext } from './token-endpoint.js';
import type { WebContext } from './web-exchange.js';

/** RFC 9126 §2.2: `expires_in` is short; 60 s covers a redirect and a page load. */
export const PAR_LIFETIME = 60;
/** RFC 9126 §2.2: the URN prefix of request_uri values the AS makes. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
/** 256 bits: unguessable, as a code is. */
const REQUEST_URI_BYTES = 32;
/** An authorization request has a dozen parameters; more is not one. */
const MAX_PUSHED_PARAMS = 32;
/** Client credentials are checked here and never stored with the request (RFC 9126 §2.1). */
const CREDENTIAL_PARAMS = new Set(['client_secret', 'client_assertion', 'client_assertion_type']);

export interface PushedAuthorization {
  request_uri: string;
  expires_in: number;
}

/**
 * POST /par (RFC 9126 §2). `check` validates the request as /authorize would (the caller passes
 * authorization-flow.ts's check): a request that would fail there fails here, with its error.
 */
export async function handlePushedAuthorization(
  ctx: TokenContext,
  params: Params,
  authorization: string | undefined,
  check: (q: URLSearchParams) => Promise<{ ok: true } | { ok: false; error?: string; page?: string }>,
  proof?: DpopProof,
): Promise<PushedAuthorization> {
  const auth = await authenticateClient(ctx, params, authorization, { allowPublic: true });
  if (ctx.profile === 'fapi2') checkFapi2ClientAuth(auth);
  const { client } = auth;
  // RFC 9126 §2.1: request_uri is not allowed in a pushed request.
  if (params.has('request_uri')) throw invalidRequest('request_uri is not allowed at the pushed authorization endpoint');
  if (params.size > MAX_PUSHED_PARAMS) throw invalidRequest(`at most ${MAX_PUSHED_PARAMS} parameters`);
  const q = new URLSearchParams();
  for (const [name, value] of params) {
    if (CREDENTIAL_PARAMS.has(name)) continue;
    if (typeof value !== 'string') throw invalidRequest(`${name.slice(0, 40)} must be text in a pushed authorization request`);
    q.set(name, value);
  }
  // The authenticated client is the request's client (RFC 9126 §2.1: client_id must match).
  if (q.has('client_id') && q.get('client_id') !== client.id) throw invalidRequest('client_id differs from the authenticated client');
  q.set('client_id', client.id);
  if (proof) {
    // RFC 9449 §10.1: the proof's key is the code's dpop_jkt; a dpop_jkt naming another key is refused.
    const named = q.get('dpop_jkt');
    if (named !== null && named !== proof.jkt) throw new AuthzError('invalid_dpop_proof', 'dpop_jkt names another key than the DPoP proof');
    q.set('dpop_jkt', proof.jkt);
  }
  const checked = await check(q);
  if (!checked.ok) {
    if (checked.page !== undefined) throw invalidRequest('unknown redirect_uri for this client');
    // The error /authorize would have redirected with, as a JSON error here (RFC 9126 §2.3).
    const code = checked.error !== undefined && isErrorCode(checked.error) && checked.error !== 'server_error' ? checked.error : 'invalid_request';
    throw new AuthzError(code, `the authorization request is not acceptable: ${logText(checked.error) ?? 'invalid'}`);
  }
  // RFC 9449 §11.1, recorded only now that the client is known and its request acceptable: a
  // proof costs its sender one signature, and recording it before let anyone write a row a
  // request (as at /token, dpop-binding.ts recordDpopProofUse).
  if (proof) await recordDpopProofUse(ctx, proof);
  const requestUri = REQUEST_URI_PREFIX + Buffer.from(ctx.provider.randomBytes(REQUEST_URI_BYTES)).toString('base64url');
  const now = Math.floor(ctx.clock());
  await ctx.store.putPushedRequest({ uriHash: lookupHash(requestUri), clientId: client.id, params: JSON.stringify(Object.fromEntries(q)), expiresAt: now + PAR_LIFETIME }, now);
  return { request_uri: requestUri, expires_in: PAR_LIFETIME };
}

/**
 * RFC 9126 §4: the pushed request a request_uri names, if `clientId` pushed it and it has not
 * expired; taken (deleted) in the same step, so it is used once. Undefined otherwise.
 */
export async function takePushedRequest(ctx: WebContext['token'], clientId: string, requestUri: string): Promise<URLSearchParams | undefined> {
  if (!requestUri.startsWith(REQUEST_URI_PREFIX) || requestUri.length > REQUEST_URI_PREFIX.length + 64 || clientId === '') return undefined;
  const record = await ctx.store.takePushedRequest(lookupHash(requestUri), clientId);
  if (!record || record.expiresAt <= ctx.clock()) return undefined;
  let stored: unknown;
  try {
    stored = JSON.parse(record.params);
  } catch {
    return undefined;
  }
  if (typeof stored !== 'object' || stored === null) return undefined;
  const q = new URLSearchParams(stored as Record<string, string>);
  return q.get('client_id') === clientId ? q : undefined;
}
