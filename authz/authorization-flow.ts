/**
 * The authorization code flow's pages (RFC 6749 §4.1 with RFC 7636 PKCE): /authorize checks the
 * request and opens it in the browser session, /login signs the person in, /consent issues the
 * code for the one request the consent form names. Each is a function of a WebRequest.
 *
 * Consent is bound to what it shows: every opened request gets its own unguessable id, placed in
 * that request's forms only, and /consent approves the request whose id the form carries, never
 * "whatever is pending now". A top-level navigation to another /authorize (SameSite=Lax cookies
 * ride along) therefore cannot change what an Allow already on screen approves.
 */
import { AuthzError } from './errors.js';
import { BrowserSessions, type BrowserSession, type PendingAuthorization } from './browser-sessions.js';
import { consentPage, loginPage, messagePage, PAGE_CSP } from './pages.js';
import { verifySecret, lookupHash } from './secret-hash.js';
import { decideScope, resolveAudience } from './policy.js';
import { scopeFromRequest, scopeToStored } from './scope-forms.js';
import { isValidChallenge } from './pkce.js';
import { normalizeUserCode } from './user-code.js';
import { storedReqCnf } from './token-endpoint.js';
import type { Params } from './ace-params.js';
import type { ClientRecord } from './store.js';
import { takePushedRequest } from './pushed-authorization.js';
import { authorizationRedirect, responseModeOf, type ResponseMode } from './authorization-response.js';
import { formOf, htmlResponse, redirectResponse, type WebContext, type WebRequest, type WebResponse } from './web-exchange.js';

/** RFC 6749 §4.1.2: codes live minutes at most; one is plenty for a redirect. */
export const AUTH_CODE_LIFETIME = 60;
/**
 * RFC 6749 §10.10 (credentials guessing): password guessing at /login is limited per user name and per
 * address: this many failures in a window, then 429 (a right password included) until it passes.
 */
export const LOGIN_ATTEMPTS = 5;
export const LOGIN_WINDOW = 300;
/** RFC 7638 SHA-256 thumbprint in base64url: 32 bytes, 43 characters. */
const DPOP_JKT = /^[A-Za-z0-9_-]{43}$/;

const expired = (): WebResponse => htmlResponse(403, messagePage('Forbidden', 'The form expired. Start again.'));

/** Browsers apply form-action to the redirect after a POST, so the consent form must allow the client's redirect origin. */
function consentCsp(redirectUri: string): Record<string, string> {
  return { 'content-security-policy': PAGE_CSP.replace("form-action 'self'", `form-action 'self' ${new URL(redirectUri).origin}`) };
}

async function consentFor(ctx: WebContext, session: BrowserSession, requestId: string, p: PendingAuthorization, headers: Record<string, string>): Promise<WebResponse> {
  const client = await ctx.token.store.getClient(p.clientId);
  if (!client) return htmlResponse(400, messagePage('Cannot continue', 'No authorization request is pending.'));
  return htmlResponse(200, consentPage(session.csrf, requestId, client.name, p.audience, p.scope, session.user!), { ...headers, ...consentCsp(p.redirectUri) });
}

/** What /authorize decided about a request: the request to open, or where and what to answer. */
export type AuthorizationCheck =
  | { ok: true; client: ClientRecord; pending: PendingAuthorization }
  /** A bad client or redirect URI: tell the user, never redirect (RFC 6749 §4.1.2.1). */
  | { ok: false; page: string }
  /** Any other error goes back to the (registered) redirect URI. */
  | { ok: false; error: string; redirectUri: string; clientId: string; mode: ResponseMode; state?: string };

/**
 * RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once." The token
 * endpoint refuses repeats too; taking the first here while a front end reads the last would let
 * the two disagree on the client or the redirect.
 */
function hasRepeatedParameter(q: URLSearchParams): boolean {
  const names = [...q.keys()];
  return new Set(names).size !== names.length;
}
const REPEATED_PARAMETER_PAGE = 'A request parameter appears more than once (RFC 6749 §3.1). Start again from the application.';

/**
 * RFC 6749 §4.1.1 with RFC 7636 PKCE S256: the checks an authorization request passes, whether
 * it arrives at /authorize or is pushed to /par first (RFC 9126 §2.1: "as at the authorization
 * endpoint").
 */
export async function checkAuthorizationRequest(ctx: WebContext, q: URLSearchParams): Promise<AuthorizationCheck> {
  // Which client_id or redirect_uri would be meant is unknowable: a page, not a redirect.
  if (hasRepeatedParameter(q)) return { ok: false, page: REPEATED_PARAMETER_PAGE };
  const { store } = ctx.token;
  const client = await store.getClient(q.get('client_id') ?? '');
  const redirectUri = q.get('redirect_uri') ?? '';
  if (!client || !client.redirectUris.includes(redirectUri)) return { ok: false, page: 'Unknown client or redirect URI.' };
  const state = q.get('state') ?? undefined;
  const asked = responseModeOf(q.get('response_mode'));
  const mode = asked ?? 'query';
  const back = (error: string): AuthorizationCheck => ({ ok: false, error, redirectUri, clientId: client.id, mode, ...(state ? { state } : {}) });
  if (asked === undefined) return back('invalid_request');
  if (q.get('response_type') !== 'code') return back('unsupported_response_type');
  if (!client.grantTypes.includes('authorization_code')) return back('unauthorized_client');
  const challenge = q.get('code_challenge') ?? '';
  if (q.get('code_challenge_method') !== 'S256' || !isValidChallenge(challenge)) return back('invalid_request');
  // RFC 9449 §10: dpop_jkt binds the code to a DPoP key: an RFC 7638 SHA-256 thumbprint, base64url (43 characters).
  const dpopJkt = q.get('dpop_jkt') ?? undefined;
  if (dpopJkt !== undefined && !DPOP_JKT.test(dpopJkt)) return back('invalid_request');
  let audience, scope, reqCnf;
  try {
    audience = await resolveAudience(store, client, q.get('audience') ?? undefined);
    const asked = q.get('scope');
    // A query string is text only: an AIF scope comes as the JSON text of its array (scope-forms.ts).
    scope = scopeToStored(decideScope(asked === null ? undefined : scopeFromRequest(asked, { textMayBeJson: true }), client, audience));
    const p: Params = new Map();
    const rc = q.get('req_cnf');
    if (rc) p.set('req_cnf', rc);
    reqCnf = storedReqCnf(p, client);
  } catch (e) {
    if (e instanceof AuthzError) return back(e.oauthError);
    throw e;
  }
  if (dpopJkt !== undefined && reqCnf) return back('invalid_request'); // two keys for one token
  const pending: PendingAuthorization = {
    clientId: client.id,
    redirectUri,
    audience: audience.id,
    scope,
    codeChallenge: challenge,
    ...(state ? { state } : {}),
    ...(reqCnf ? { reqCnf } : {}),
    ...(dpopJkt !== undefined ? { dpopJkt } : {}),
    ...(mode === 'jwt' ? { responseMode: 'jwt' as const } : {}),
  };
  return { ok: true, client, pending };
}

/**
 * RFC 9126 §4: with request_uri, the request is the one the client pushed (taken once, by that
 * client, before it expires) and every other query parameter but client_id is ignored. A client
 * registered with require_pushed_authorization_requests has no other way in (§6).
 */
async function requestOf(ctx: WebContext, q: URLSearchParams): Promise<URLSearchParams | string> {
  if (hasRepeatedParameter(q)) return REPEATED_PARAMETER_PAGE;
  const requestUri = q.get('request_uri');
  if (requestUri === null) {
    const client = await ctx.token.store.getClient(q.get('client_id') ?? '');
    if (client?.requirePar || ctx.requirePar) return 'This application must push its authorization request first (RFC 9126).';
    return q;
  }
  const pushed = await takePushedRequest(ctx.token, q.get('client_id') ?? '', requestUri);
  return pushed ?? 'The pushed authorization request is unknown, already used, or expired. Start again from the application.';
}

/** RFC 6749 §4.1.1 with RFC 7636: validate, open the request in the session, then sign in and consent. */
export async function handleAuthorize(ctx: WebContext, req: WebRequest): Promise<WebResponse> {
  const q = await requestOf(ctx, req.url.searchParams);
  if (typeof q === 'string') return htmlResponse(400, messagePage('Cannot continue', q));
  const checked = await checkAuthorizationRequest(ctx, q);
  if (!checked.ok) {
    if ('page' in checked) return htmlResponse(400, messagePage('Cannot continue', checked.page));
    // RFC 9207 §2: errors name the issuer too (authorizationRedirect adds iss, or signs it in).
    return redirectResponse(await authorizationRedirect(ctx.token, checked, { error: checked.error, state: checked.state }));
  }
  const { pending } = checked;
  const { session, setCookie } = await ctx.sessions.getOrCreate(req.cookie, req.remoteAddress);
  const requestId = await ctx.sessions.addPending(session, pending);
  const headers = setCookie ?? {};
  if (!session.user) return htmlResponse(200, loginPage(session.csrf, '/consent', undefined, requestId), headers);
  return consentFor(ctx, session, requestId, pending, headers);
}

/** POST /login: password check under per-address and per-name limits, then the consent (or device) page. */
export async function handleLogin(ctx: WebContext, req: WebRequest): Promise<WebResponse> {
  const { store, clock } = ctx.token;
  const session = await ctx.sessions.get(req.cookie);
  const form = formOf(req);
  if (!session || !BrowserSessions.checkCsrf(session, form.get('csrf'))) return expired();
  const next = form.get('next') === '/device' ? '/device' : '/consent';
  const requestId = form.get('request') ?? undefined;
  const userCode = next === '/device' ? normalizeUserCode(form.get('user_code') ?? '') : undefined;
  const username = form.get('username') ?? '';
  const now = Math.floor(clock());
  // Hashed, so a long or odd user name makes a fixed-size key. Every attempt is counted before
  // the (slow, off-thread) password check, so parallel guesses cannot all pass a count of zero;
  // a right password gives its attempt back, so only failures remain.
  // The address first: a blocked address adds nothing more (not even a row per user name it tries).
  const limits = [`login:ip:${req.remoteAddress}`, `login:user:${lookupHash(username)}`];
  for (const k of limits) {
    if ((await store.hitRateLimit(k, now, LOGIN_WINDOW)) > LOGIN_ATTEMPTS) {
      return htmlResponse(429, loginPage(session.csrf, next, 'Too many attempts. Wait a few minutes.', requestId, userCode), { 'retry-after': String(LOGIN_WINDOW) });
    }
  }
  const user = await store.getUser(username);
  const ok = await verifySecret(form.get('password') ?? '', user?.passwordHash);
  if (!user || !ok) return htmlResponse(401, loginPage(session.csrf, next, 'Wrong user name or password.', requestId, userCode));
  for (const k of limits) await store.releaseRateLimit(k, now, LOGIN_WINDOW);
  const renewed = await ctx.sessions.renew({ ...session, user: user.username });
  const setCookie = { 'set-cookie': ctx.sessions.cookie(renewed) };
  if (next === '/device') return redirectResponse(userCode ? `/device?user_code=${encodeURIComponent(userCode)}` : '/device', setCookie);
  const pending = requestId ? renewed.pending.get(requestId) : undefined;
  if (!requestId || !pending) return htmlResponse(400, messagePage('Cannot continue', 'No authorization request is pending.'), setCookie);
  return consentFor(ctx, renewed, requestId, pending, setCookie);
}

/** POST /consent: the decision on the request the form names; a code for exactly that request. */
export async function handleConsent(ctx: WebContext, req: WebRequest): Promise<WebResponse> {
  const { store, clock, provider } = ctx.token;
  const session = await ctx.sessions.get(req.cookie);
  const form = formOf(req);
  if (!session?.user || !BrowserSessions.checkCsrf(session, form.get('csrf'))) return expired();
  // One use: approved or denied, the request is closed; an id that is not open issues nothing.
  const p = await ctx.sessions.takePending(session, form.get('request'));
  if (!p) return htmlResponse(403, messagePage('Forbidden', 'This authorization request is no longer open. Start again from the application.'));
  const to = { redirectUri: p.redirectUri, clientId: p.clientId, mode: p.responseMode ?? ('query' as const) };
  if (form.get('decision') !== 'approve') return redirectResponse(await authorizationRedirect(ctx.token, to, { error: 'access_denied', state: p.state }));
  const code = Buffer.from(provider.randomBytes(32)).toString('base64url');
  await store.putAuthCode({
    codeHash: lookupHash(code),
    clientId: p.clientId,
    username: session.user,
    redirectUri: p.redirectUri,
    audience: p.audience,
    scope: p.scope,
    codeChallenge: p.codeChallenge,
    ...(p.reqCnf ? { reqCnf: p.reqCnf } : {}),
    ...(p.dpopJkt !== undefined ? { dpopJkt: p.dpopJkt } : {}),
    expiresAt: Math.floor(clock()) + AUTH_CODE_LIFETIME,
  });
  // RFC 9207: the redirect says who issued the code, against mix-up attacks.
  return redirectResponse(await authorizationRedirect(ctx.token, to, { code, state: p.state }));
}
