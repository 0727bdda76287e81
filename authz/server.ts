/**
 * The HTTP wiring of the authorization service (node:http). Thin by design: each route decodes,
 * calls the logic in token-endpoint.ts, introspection.ts, registry.ts ..., and encodes. Errors
 * leave as RFC 6749 §5.2 objects in the request's own encoding.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  bundleToJson,
  createRevocationList,
  decodeCoseKey,
  encodeCbor,
  encodeProvisioningBundle,
  fromBase64Url,
  coseKeyToMap,
  fromHex,
  type CryptoProvider,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { CONTENT_TYPE, INTROSPECTION_PARAM, decodeParams, encodeResponse, encodingOf, MAX_BODY_BYTES, type Encoding, type Params, type ResponseValue } from './ace-params.js';
import { AuthzError } from './errors.js';
import { handleTokenRequest, storedReqCnf, type TokenContext } from './token-endpoint.js';
import { handleDeviceAuthorization } from './device-authorization.js';
import { handleIntrospection, handleRevocation } from './introspection.js';
import { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
import { checkIssuanceLimit, type IssuanceLimit } from './issuance-budget.js';
import { coseKeysToJwks } from './jwks.js';
import { BrowserSessions, type BrowserSession } from './browser-sessions.js';
import { consentPage, CSS, deviceConfirmPage, devicePage, loginPage, messagePage, PAGE_CSP } from './pages.js';
import { verifySecret, lookupHash } from './secret-hash.js';
import { SecretVerificationCache } from './secret-cache.js';
import { decideScope, resolveAudience } from './policy.js';
import { scopeFromRequest, scopeToStored } from './scope-forms.js';
import { isValidChallenge } from './pkce.js';
import { normalizeUserCode } from './user-code.js';
import { provisionDevice, registerAudience, registerClient, registerUser, RegistryError } from './registry.js';
import type { AuthzStore } from './store.js';

/** RFC 6749 §4.1.2: codes live minutes at most; one is plenty for a redirect. */
export const AUTH_CODE_LIFETIME = 60;
/** RFC 8628 §5.1: a handful of wrong user codes per address per window, then 429. */
export const USER_CODE_ATTEMPTS = 5;
export const USER_CODE_WINDOW = 300;
/**
 * RFC 6749 §10.10 (credentials guessing): password guessing at /login is limited per user name and per
 * address: this many failures in a window, then 429 (a right password included) until it passes.
 */
export const LOGIN_ATTEMPTS = 5;
export const LOGIN_WINDOW = 300;
/** Admin JSON bodies are small too. */
const MAX_ADMIN_BODY = 16 * 1024;

export interface AuthzServerOptions {
  store: AuthzStore;
  dataDir: string;
  /** Seconds since the epoch. */
  clock?: () => number;
  /** Defaults to the URL the server listens on. */
  issuer?: string;
  /** Bearer credential for /admin; the admin API is off without one. */
  adminToken?: string;
  signingAlgorithm?: SigningAlgorithm;
  provider?: CryptoProvider;
  /**
   * Remember successful client-secret verifications briefly (secret-cache.ts) instead of running
   * scrypt on every request. Default true; false runs scrypt every time.
   */
  cacheClientSecrets?: boolean;
  /** Called with the new signed list whenever a token for `audience` is revoked (the broker relays it). */
  onRevocationList?: (audience: string, signedList: Uint8Array) => void;
  /** Tokens per client id per window at /token (issuance-budget.ts); default DEFAULT_ISSUANCE_LIMIT. */
  issuanceLimit?: IssuanceLimit;
}

export interface AuthzServer {
  readonly context: TokenContext;
  readonly keys: SigningKeys;
  readonly http: Server;
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
  /** The signed revocation list for an audience (COSE_Sign1 over application/ace-trl+cbor). */
  revocationList(audience: string): Promise<Uint8Array>;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function send(res: ServerResponse, status: number, contentType: string, body: Uint8Array | string, headers: Record<string, string> = {}): void {
  // RFC 6749 §5.1: token responses are never cached.
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', pragma: 'no-cache', ...headers });
  res.end(body);
}

function sendError(res: ServerResponse, err: AuthzError, encoding: Encoding): void {
  const headers: Record<string, string> = {};
  if (err.status === 401) headers['www-authenticate'] = 'Basic realm="keybound"';
  const { body, contentType } = encodeResponse({ error: err.oauthError, error_description: err.message }, encoding);
  send(res, err.status, contentType, body, headers);
}

function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  send(res, status, 'text/html; charset=utf-8', html, { 'content-security-policy': PAGE_CSP, 'x-frame-options': 'DENY', ...headers });
}

/** Browsers apply form-action to the redirect after a POST, so the consent form must allow the client's redirect origin. */
function consentCsp(redirectUri: string): Record<string, string> {
  return { 'content-security-policy': PAGE_CSP.replace("form-action 'self'", `form-action 'self' ${new URL(redirectUri).origin}`) };
}

function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', ...headers });
  res.end();
}

export async function createAuthzServer(opts: AuthzServerOptions): Promise<AuthzServer> {
  const provider = opts.provider ?? nativeProvider;
  const clock = opts.clock ?? (() => Date.now() / 1000);
  const keys = new SigningKeys(opts.store, opts.dataDir, provider);
  await keys.load(opts.signingAlgorithm ?? 'EdDSA', Math.floor(clock()));
  // The secret cache's key is random per process and lives only in memory (secret-cache.ts).
  const context: TokenContext = { issuer: opts.issuer ?? 'keybound', store: opts.store, keys, provider, clock };
  // Publish the new signed list of each audience whose list changed, and only those.
  context.onRevoked = async (audiences) => {
    if (!opts.onRevocationList) return;
    for (const aud of audiences) opts.onRevocationList(aud, await revocationList(aud));
  };
  if (opts.issuanceLimit) context.issuanceLimit = checkIssuanceLimit(opts.issuanceLimit);
  if (opts.cacheClientSecrets !== false) context.secretCache = new SecretVerificationCache(provider.randomBytes(32), clock);
  const sessions = new BrowserSessions((n) => provider.randomBytes(n), clock);
  let baseUrl = opts.issuer ?? '';
  const adminHash = opts.adminToken ? createHash('sha256').update(opts.adminToken).digest() : undefined;

  async function revocationList(audience: string): Promise<Uint8Array> {
    const { sequence, entries, exiFloor } = await opts.store.revocationList(audience, Math.floor(clock()));
    const list = { audience, sequence, fullSet: entries.map((e) => fromHex(e.tokenHash)), ...(exiFloor !== undefined ? { exiFloor } : {}) };
    return createRevocationList(list, keys.current().key, { provider });
  }

  async function oauthEndpoint(
    req: IncomingMessage,
    res: ServerResponse,
    handler: (p: Params, auth: string | undefined) => Promise<Record<string, ResponseValue | undefined> | null>,
    table?: Record<string, number>,
  ): Promise<void> {
    const encoding = encodingOf(req.headers['content-type']);
    const replyEncoding = encoding ?? 'json';
    if (req.method !== 'POST') return sendError(res, new AuthzError('invalid_request', 'use POST', { status: 405 }), replyEncoding);
    if (!encoding) return sendError(res, new AuthzError('invalid_request', 'unsupported content type', { status: 415 }), 'json');
    let body: Uint8Array;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        res.setHeader('connection', 'close');
        return sendError(res, new AuthzError('invalid_request', 'request body too large', { status: 413 }), replyEncoding);
      }
      throw e;
    }
    try {
      const params = decodeParams(body, encoding);
      const out = await handler(params, req.headers.authorization);
      if (out === null) return send(res, 200, 'text/plain', '');
      const { body: out2, contentType } = encodeResponse(out, encoding === 'form' ? 'json' : encoding, table);
      return send(res, 200, contentType, out2);
    } catch (e) {
      if (e instanceof AuthzError) return sendError(res, e, encoding === 'form' ? 'json' : encoding);
      throw e;
    }
  }

  async function adminEndpoint(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const ok = adminHash && presented && timingSafeEqual(createHash('sha256').update(presented).digest(), adminHash);
    if (!ok) return send(res, 401, 'application/json', JSON.stringify({ error: 'invalid_token' }), { 'www-authenticate': 'Bearer' });
    try {
      if (req.method === 'GET' && path.startsWith('/admin/provision/')) {
        const deviceId = decodeURIComponent(path.slice('/admin/provision/'.length));
        const bundle = await provisionDevice(opts.store, keys, { deviceId, issuer: context.issuer, now: Math.floor(clock()), asUrl: baseUrl });
        const json = new URL(req.url ?? '/', 'http://x').searchParams.get('format') === 'json';
        return json ? send(res, 200, 'application/json', bundleToJson(bundle)) : send(res, 200, 'application/cbor', encodeProvisioningBundle(bundle));
      }
      if (req.method !== 'POST') return send(res, 405, 'application/json', '{"error":"invalid_request"}');
      let input: Record<string, unknown>;
      try {
        const parsed = JSON.parse(Buffer.from(await readBody(req, MAX_ADMIN_BODY)).toString('utf8'));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error();
        input = parsed;
      } catch {
        return send(res, 400, 'application/json', JSON.stringify({ error: 'invalid_request', error_description: 'body must be a JSON object' }));
      }
      const key = (v: unknown) => (typeof v === 'string' ? decodeCoseKey(fromBase64Url(v)) : undefined);
      if (path === '/admin/audiences') {
        const a = await registerAudience(opts.store, provider, { ...(input as object), id: String(input.id), ...(input.rsKey ? { rsKey: key(input.rsKey)! } : {}) } as never);
        return send(res, 201, 'application/json', JSON.stringify({ id: a.id, protection: a.protection, clockless: a.clockless }));
      }
      if (path === '/admin/clients') {
        const c = await registerClient(opts.store, { ...(input as object), id: String(input.id), ...(input.publicKey ? { publicKey: key(input.publicKey)! } : {}) } as never);
        return send(res, 201, 'application/json', JSON.stringify({ id: c.id, audiences: c.audiences, grantTypes: c.grantTypes }));
      }
      if (path === '/admin/users') {
        await registerUser(opts.store, String(input.username), String(input.password));
        return send(res, 201, 'application/json', '{}');
      }
      if (path === '/admin/rotate-key') {
        const k = await keys.rotate(input.alg === 'ES256' ? 'ES256' : 'EdDSA', Math.floor(clock()), Number(input.keepSeconds ?? 86400));
        return send(res, 201, 'application/json', JSON.stringify({ kid: k.kid }));
      }
      return send(res, 404, 'application/json', '{"error":"not_found"}');
    } catch (e) {
      if (e instanceof RegistryError || (e as { code?: string }).code?.startsWith('ERR_')) {
        return send(res, 400, 'application/json', JSON.stringify({ error: 'invalid_request', error_description: (e as Error).message }));
      }
      throw e;
    }
  }

  async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
    return new URLSearchParams(Buffer.from(await readBody(req, MAX_BODY_BYTES)).toString('utf8'));
  }

  function sessionFor(req: IncomingMessage): { session: BrowserSession; cookie?: string } {
    const existing = sessions.get(req.headers.cookie);
    if (existing) return { session: existing };
    const session = sessions.create();
    return { session, cookie: BrowserSessions.cookie(session) };
  }

  /** RFC 6749 §4.1.1 with RFC 7636: validate, remember the request in the session, then sign in and consent. */
  async function authorize(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const q = url.searchParams;
    const client = await opts.store.getClient(q.get('client_id') ?? '');
    const redirectUri = q.get('redirect_uri') ?? '';
    // RFC 6749 §4.1.2.1: with a bad client or redirect URI, tell the user, never redirect.
    if (!client || !client.redirectUris.includes(redirectUri)) return sendHtml(res, 400, messagePage('Cannot continue', 'Unknown client or redirect URI.'));
    const state = q.get('state') ?? undefined;
    const back = (error: string) => {
      const to = new URL(redirectUri);
      to.searchParams.set('error', error);
      if (state) to.searchParams.set('state', state);
      redirect(res, to.toString());
    };
    if (q.get('response_type') !== 'code') return back('unsupported_response_type');
    if (!client.grantTypes.includes('authorization_code')) return back('unauthorized_client');
    const challenge = q.get('code_challenge') ?? '';
    if (q.get('code_challenge_method') !== 'S256' || !isValidChallenge(challenge)) return back('invalid_request');
    let audience, scope, reqCnf;
    try {
      audience = await resolveAudience(opts.store, client, q.get('audience') ?? undefined);
      const asked = q.get('scope');
      // A query string is text only: an AIF scope comes as the JSON text of its array (scope-forms.ts).
      scope = scopeToStored(decideScope(asked === null ? undefined : scopeFromRequest(asked, { textMayBeJson: true }), client, audience));
      const p: Params = new Map();
      const rc = q.get('req_cnf');
      if (rc) p.set('req_cnf', rc);
      reqCnf = storedReqCnf(p);
    } catch (e) {
      if (e instanceof AuthzError) return back(e.oauthError);
      throw e;
    }
    const { session, cookie } = sessionFor(req);
    session.pending = { clientId: client.id, redirectUri, audience: audience.id, scope, codeChallenge: challenge, ...(state ? { state } : {}), ...(reqCnf ? { reqCnf } : {}) };
    const headers: Record<string, string> = cookie ? { 'set-cookie': cookie } : {};
    if (!session.user) return sendHtml(res, 200, loginPage(session.csrf, '/consent'), headers);
    return sendHtml(res, 200, consentPage(session.csrf, client.name, audience.id, scope, session.user), { ...headers, ...consentCsp(redirectUri) });
  }

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = sessions.get(req.headers.cookie);
    const form = await formBody(req);
    if (!session || !BrowserSessions.checkCsrf(session, form.get('csrf'))) return sendHtml(res, 403, messagePage('Forbidden', 'The form expired. Start again.'));
    const next = form.get('next') === '/device' ? '/device' : '/consent';
    const username = form.get('username') ?? '';
    const now = Math.floor(clock());
    // Hashed, so a long or odd user name makes a fixed-size key. Every attempt is counted before
    // the (slow, off-thread) password check, so parallel guesses cannot all pass a count of zero;
    // a right password gives its attempt back, so only failures remain.
    // The address first: a blocked address adds nothing more (not even a row per user name it tries).
    const limits = [`login:ip:${req.socket.remoteAddress ?? ''}`, `login:user:${lookupHash(username)}`];
    for (const k of limits) {
      if ((await opts.store.hitRateLimit(k, now, LOGIN_WINDOW)) > LOGIN_ATTEMPTS) {
        return sendHtml(res, 429, loginPage(session.csrf, next, 'Too many attempts. Wait a few minutes.'), { 'retry-after': String(LOGIN_WINDOW) });
      }
    }
    const user = await opts.store.getUser(username);
    const ok = await verifySecret(form.get('password') ?? '', user?.passwordHash);
    if (!user || !ok) return sendHtml(res, 401, loginPage(session.csrf, next, 'Wrong user name or password.'));
    for (const k of limits) await opts.store.releaseRateLimit(k, now, LOGIN_WINDOW);
    const renewed = sessions.renew({ ...session, user: user.username });
    if (next === '/device') return redirect(res, '/device', { 'set-cookie': BrowserSessions.cookie(renewed) });
    const client = renewed.pending ? await opts.store.getClient(renewed.pending.clientId) : undefined;
    if (!renewed.pending || !client) return sendHtml(res, 400, messagePage('Cannot continue', 'No authorization request is pending.'));
    return sendHtml(res, 200, consentPage(renewed.csrf, client.name, renewed.pending.audience, renewed.pending.scope, user.username), {
      'set-cookie': BrowserSessions.cookie(renewed),
      ...consentCsp(renewed.pending.redirectUri),
    });
  }

  async function consent(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = sessions.get(req.headers.cookie);
    const form = await formBody(req);
    if (!session?.user || !session.pending || !BrowserSessions.checkCsrf(session, form.get('csrf'))) {
      return sendHtml(res, 403, messagePage('Forbidden', 'The form expired. Start again.'));
    }
    const p = session.pending;
    delete session.pending;
    const to = new URL(p.redirectUri);
    if (p.state) to.searchParams.set('state', p.state);
    if (form.get('decision') !== 'approve') {
      to.searchParams.set('error', 'access_denied');
      return redirect(res, to.toString());
    }
    const code = Buffer.from(provider.randomBytes(32)).toString('base64url');
    await opts.store.putAuthCode({
      codeHash: lookupHash(code),
      clientId: p.clientId,
      username: session.user,
      redirectUri: p.redirectUri,
      audience: p.audience,
      scope: p.scope,
      codeChallenge: p.codeChallenge,
      ...(p.reqCnf ? { reqCnf: p.reqCnf } : {}),
      expiresAt: Math.floor(clock()) + AUTH_CODE_LIFETIME,
    });
    to.searchParams.set('code', code);
    // RFC 9207: say who issued the code, against mix-up attacks.
    to.searchParams.set('iss', context.issuer);
    return redirect(res, to.toString());
  }

  async function device(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { session, cookie } = sessionFor(req);
    const headers: Record<string, string> = cookie ? { 'set-cookie': cookie } : {};
    if (req.method === 'GET') {
      const fromUri = normalizeUserCode(url.searchParams.get('user_code') ?? '');
      if (!session.user) {
        // Signing in first must not lose the code verification_uri_complete carried (RFC 8628 §3.3.1).
        if (fromUri) session.deviceUserCode = fromUri;
        return sendHtml(res, 200, loginPage(session.csrf, '/device'), headers);
      }
      const prefill = fromUri ?? session.deviceUserCode ?? '';
      delete session.deviceUserCode;
      return sendHtml(res, 200, devicePage(session.csrf, prefill), headers);
    }
    const form = await formBody(req);
    if (!session.user || !BrowserSessions.checkCsrf(session, form.get('csrf'))) return sendHtml(res, 403, messagePage('Forbidden', 'The form expired. Start again.'));
    const now = Math.floor(clock());
    // RFC 8628 §5.1: user codes are short, so wrong codes are limited per address and per account.
    // Counted before the lookup (parallel guesses cannot all see zero); a valid code gives its
    // attempt back, since the confirm step and the decision post the same code again.
    const limits = [`usercode:ip:${req.socket.remoteAddress ?? ''}`, `usercode:user:${session.user}`];
    for (const k of limits) {
      if ((await opts.store.hitRateLimit(k, now, USER_CODE_WINDOW)) > USER_CODE_ATTEMPTS) {
        return sendHtml(res, 429, devicePage(session.csrf, '', undefined, 'Too many attempts. Wait a few minutes.'), { 'retry-after': String(USER_CODE_WINDOW) });
      }
    }
    const userCode = normalizeUserCode(form.get('user_code') ?? '');
    const record = userCode ? await opts.store.getDeviceCodeByUserCode(userCode) : undefined;
    if (!userCode || !record || record.status !== 'pending' || record.expiresAt <= now) {
      return sendHtml(res, 400, devicePage(session.csrf, '', undefined, 'That code is not valid.'));
    }
    for (const k of limits) await opts.store.releaseRateLimit(k, now, USER_CODE_WINDOW);
    const asked = form.get('decision');
    if (asked !== 'approve' && asked !== 'deny') {
      // RFC 8628 §5.4: name the client, audience and scope before the user decides.
      const client = await opts.store.getClient(record.clientId);
      return sendHtml(res, 200, deviceConfirmPage(session.csrf, userCode, client?.name ?? record.clientId, record.audience, record.scope, session.user));
    }
    const decision = asked === 'approve' ? 'approved' : 'denied';
    await opts.store.decideDeviceCode(userCode, decision, session.user);
    return sendHtml(res, 200, messagePage('Done', decision === 'approved' ? 'The device is connected. You can close this page.' : 'Access was denied.'));
  }

  function metadata(): Record<string, unknown> {
    // RFC 8414 §2.
    return {
      issuer: context.issuer,
      token_endpoint: `${baseUrl}/token`,
      authorization_endpoint: `${baseUrl}/authorize`,
      device_authorization_endpoint: `${baseUrl}/device_authorization`,
      introspection_endpoint: `${baseUrl}/introspect`,
      revocation_endpoint: `${baseUrl}/revoke`,
      jwks_uri: `${baseUrl}/jwks.json`,
      cose_keys_uri: `${baseUrl}/keys`,
      trl_endpoint: `${baseUrl}/trl`,
      grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'cwt_assertion', 'none'],
      // No ace_profiles_supported: keybound's PoP over MQTT/COSE without TLS is none of the
      // registered ACE profiles (coap_dtls, coap_oscore, mqtt_tls), and claiming one would mislead.
      token_endpoint_content_types: [CONTENT_TYPE.cbor, CONTENT_TYPE.json, CONTENT_TYPE.form],
    };
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    switch (path) {
      case '/token':
        return oauthEndpoint(req, res, (p, a) => handleTokenRequest(context, p, a));
      case '/device_authorization':
        return oauthEndpoint(req, res, (p, a) => handleDeviceAuthorization(context, p, a, baseUrl));
      case '/introspect':
        return oauthEndpoint(req, res, (p, a) => handleIntrospection(context, p, a), INTROSPECTION_PARAM);
      case '/revoke':
        return oauthEndpoint(req, res, async (p, a) => {
          const audiences = await handleRevocation(context, p, a);
          if (audiences.length) await context.onRevoked?.(audiences);
          return null;
        });
      case '/.well-known/oauth-authorization-server':
        return send(res, 200, 'application/json', JSON.stringify(metadata()), { 'cache-control': 'max-age=300' });
      case '/keys':
        // RFC 9052 §7: a COSE_KeySet is an array of COSE_Keys.
        return send(res, 200, 'application/cose-key-set', encodeCbor(keys.publicKeys(Math.floor(clock())).map(coseKeyToMap)), { 'cache-control': 'max-age=300' });
      case '/jwks.json':
        return send(res, 200, 'application/jwk-set+json', JSON.stringify(coseKeysToJwks(keys.publicKeys(Math.floor(clock())))), { 'cache-control': 'max-age=300' });
      case '/authorize':
        return authorize(req, res, url);
      case '/login':
        return req.method === 'POST' ? login(req, res) : sendHtml(res, 405, messagePage('Not allowed', 'Use the form.'));
      case '/consent':
        return req.method === 'POST' ? consent(req, res) : sendHtml(res, 405, messagePage('Not allowed', 'Use the form.'));
      case '/device':
        return device(req, res, url);
      case '/static/authz.css':
        return send(res, 200, 'text/css', CSS, { 'cache-control': 'max-age=3600' });
    }
    if (path.startsWith('/trl/') && req.method === 'GET') {
      const audience = decodeURIComponent(path.slice(5));
      if (!(await opts.store.getAudience(audience))) return send(res, 404, 'application/json', '{"error":"invalid_target"}');
      // draft-ietf-ace-revoked-token-notification: the list, signed so it can cross the broker.
      return send(res, 200, 'application/cose; cose-type="cose-sign1"', await revocationList(audience));
    }
    if (path.startsWith('/admin/')) return adminEndpoint(req, res, path);
    return send(res, 404, 'application/json', '{"error":"not_found"}');
  }

  const http = createServer((req, res) => {
    route(req, res).catch((e) => {
      if (e instanceof BodyTooLarge) {
        if (!res.headersSent) send(res, 413, 'application/json', JSON.stringify({ error: 'invalid_request', error_description: 'request body too large' }), { connection: 'close' });
        return;
      }
      // Never echo internals: the log gets the code, the client a generic server_error.
      console.error('authz: internal error', (e as { code?: string }).code ?? (e as Error).name);
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'server_error' }));
      else res.destroy();
    });
  });
  http.headersTimeout = 10_000;
  http.requestTimeout = 30_000;

  return {
    context,
    keys,
    http,
    revocationList,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          const a = http.address() as AddressInfo;
          const url = `http://${host}:${a.port}`;
          if (!opts.issuer) {
            baseUrl = url;
            context.issuer = url;
          } else if (!baseUrl.startsWith('http')) baseUrl = url;
          resolve({ port: a.port, url });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    },
  };
}

