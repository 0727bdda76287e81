/**
 * The device flow's verification page (RFC 8628 §3.3): the person signs in, types (or brings in
 * verification_uri_complete) the user code, sees what it asks for, and approves or denies.
 * A function of a WebRequest, like the other page handlers.
 */
import { BrowserSessions } from './browser-sessions.js';
import { deviceConfirmPage, devicePage, loginPage, messagePage } from './pages.js';
import { normalizeUserCode } from './user-code.js';
import { formOf, htmlResponse, type WebContext, type WebRequest, type WebResponse } from './web-exchange.js';

/** RFC 8628 §5.1: a handful of wrong user codes per address per window, then 429. */
export const USER_CODE_ATTEMPTS = 5;
export const USER_CODE_WINDOW = 300;

export async function handleDeviceVerification(ctx: WebContext, req: WebRequest): Promise<WebResponse> {
  const { store, clock } = ctx.token;
  const { session, setCookie } = await ctx.sessions.getOrCreate(req.cookie, req.remoteAddress);
  const headers = setCookie ?? {};
  if (req.method === 'GET') {
    const fromUri = normalizeUserCode(req.url.searchParams.get('user_code') ?? '');
    if (!session.user) {
      // Signing in first must not lose the code verification_uri_complete carried (RFC 8628 §3.3.1):
      // it rides in this sign-in form only, never in the session, where a page the user closed
      // would leave it to pre-fill a later, unrelated visit to /device.
      return htmlResponse(200, loginPage(session.csrf, '/device', undefined, undefined, fromUri), headers);
    }
    return htmlResponse(200, devicePage(session.csrf, fromUri ?? ''), headers);
  }
  if (req.method !== 'POST') return htmlResponse(405, messagePage('Not allowed', 'Use the form.'));
  const form = formOf(req);
  if (!session.user || !BrowserSessions.checkCsrf(session, form.get('csrf'))) return htmlResponse(403, messagePage('Forbidden', 'The form expired. Start again.'));
  const now = Math.floor(clock());
  // RFC 8628 §5.1: user codes are short, so wrong codes are limited per address and per account.
  // Counted before the lookup (parallel guesses cannot all see zero); a valid code gives its
  // attempt back, since the confirm step and the decision post the same code again.
  const limits = [`usercode:ip:${req.remoteAddress}`, `usercode:user:${session.user}`];
  for (const k of limits) {
    if ((await store.hitRateLimit(k, now, USER_CODE_WINDOW)) > USER_CODE_ATTEMPTS) {
      return htmlResponse(429, devicePage(session.csrf, '', undefined, 'Too many attempts. Wait a few minutes.'), { 'retry-after': String(USER_CODE_WINDOW) });
    }
  }
  const userCode = normalizeUserCode(form.get('user_code') ?? '');
  const record = userCode ? await store.getDeviceCodeByUserCode(userCode) : undefined;
  if (!userCode || !record || record.status !== 'pending' || record.expiresAt <= now) {
    return htmlResponse(400, devicePage(session.csrf, '', undefined, 'That code is not valid.'));
  }
  for (const k of limits) await store.releaseRateLimit(k, now, USER_CODE_WINDOW);
  const asked = form.get('decision');
  if (asked !== 'approve' && asked !== 'deny') {
    // RFC 8628 §5.4: name the client, audience and scope before the user decides.
    const client = await store.getClient(record.clientId);
    return htmlResponse(200, deviceConfirmPage(session.csrf, userCode, client?.name ?? record.clientId, record.audience, record.scope, session.user));
  }
  const decision = asked === 'approve' ? 'approved' : 'denied';
  await store.decideDeviceCode(userCode, decision, session.user);
  return htmlResponse(200, messagePage('Done', decision === 'approved' ? 'The device is connected. You can close this page.' : 'Access was denied.'));
}
