/**
 * The HTTP wiring of the authorization service (node:http, or node:https with a certificate).
 * Routing only: each route bounds and reads the body, calls a handler that is a plain function
 * (token-endpoint.ts, device-authorization.ts, introspection.ts for the OAuth endpoints;
 * authorization-flow.ts, device-verification.ts, admin-api.ts for the pages and the admin API),
 * and writes what it returns. OAuth errors leave as RFC 6749 §5.2 objects in the request's own
 * encoding.
 *
 * Why not fastify: its routing, body limits and hooks would replace about sixty lines here, while
 * the parts that carry the security (ACE's three encodings, strict JSON without repeated names,
 * CSRF-bound forms, constant-time admin check) stay ours either way; every dependency is attack
 * surface in a security product, and the handlers are already testable without a socket.
 */
import type { SplitTokenStore } from './split-token-store.js';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createRevocationList, fitRevocations, encodeCbor, coseKeyToMap, fromHex, GRANT_DEVICE_CODE, GRANT_TOKEN_EXCHANGE, type CryptoProvider } from '../cose/index.js';
import { nativeProvider, verifyInThreadPool } from '../cose/adapters/index.js';
import { CONTENT_TYPE, INTROSPECTION_PARAM, decodeParams, encodeResponse, encodingOf, MAX_BODY_BYTES, type Encoding, type Endpoint, type Params, type ResponseValue } from './ace-params.js';
import { AuthzError } from './errors.js';
import { handleTokenRequest, type TokenContext } from './token-endpoint.js';
import { handleDeviceAuthorization } from './device-authorization.js';
import { handleIntrospection, handleRevocation } from './introspection.js';
import { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
import { checkIssuanceLimit, type IssuanceLimit } from './issuance-budget.js';
import { addressKey } from './client-address.js';
import { ClientAuthLimiter, CLIENT_AUTH_FAILURES, CLIENT_AUTH_WINDOW_S } from './client-auth-limiter.js';
import { coseKeysToJwks } from './jwks.js';
import { signedTrustUpdate } from './trust-update-issuer.js';
import { BrowserSessions, type SessionStore } from './browser-sessions.js';
import { FileKeyVault, type KeyVault } from './key-vault.js';
import { CSS, loginStartPage, messagePage } from './pages.js';
import { NOOP_LOGGER, hashPrefix, logText, type Logger } from '../device/index.js';
import { DEFAULT_RETENTION_DAYS, startRecordRetention } from './record-retention.js';
import { parseBasic } from './client-auth.js';
import { createServiceMetrics, grantLabel, type ServiceMetrics } from './service-metrics.js';
import { SecretVerificationCache } from './secret-cache.js';
import { checkAuthorizationRequest, handleAuthorize, handleConsent, handleLogin } from './authorization-flow.js';
import { handlePushedAuthorization } from './pushed-authorization.js';
import { RESPONSE_MODES } from './authorization-response.js';
import { jwsAlgorithm } from './jws-signer.js';
import { FAPI2_CLIENT_AUTH_METHODS, type ServiceProfile } from './fapi2-profile.js';
import { handleDeviceVerification } from './device-verification.js';
import { handleAdmin, MAX_ADMIN_BODY } from './admin-api.js';
import { decodePathSegment, htmlResponse, jsonResponse, respond, type WebContext, type WebRequest, type WebResponse, redirectResponse } from './web-exchange.js';
import type { AuthzStore } from './store.js';
import type { TlsPeer } from './certificate-client-auth.js';
import { checkDpopAtEndpoint, dpopAlgs, dpopNonceHeader, type DpopSettings } from './dpop-binding.js';

export { AUTH_CODE_LIFETIME, LOGIN_ATTEMPTS, LOGIN_WINDOW } from './authorization-flow.js';
export { USER_CODE_ATTEMPTS, USER_CODE_WINDOW } from './device-verification.js';

/**
 * A client has this long to send its request headers, and this long for the whole request; a
 * connection that trickles bytes is closed (408) once past them (slowloris).
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/**
 * How often node checks those two timeouts. Its default (30 s) let a slow-header connection live
 * up to 40 s, four times the documented 10; checked twice a second it is closed within half a
 * second of its deadline.
 */
const TIMEOUT_CHECK_MS = 500;
/** How stale this instance's copy of the signing keys may be (another instance may rotate them). */
const KEY_REFRESH_MS = 1_000;

function missingKeyVault(): never {
  throw new RangeError('createAuthzServer needs dataDir or keyVault: somewhere for the private signing keys');
}

export interface AuthzServerOptions {
  store: AuthzStore;
  /** The SQLite service's state directory: its private signing keys (unless keyVault is given). */
  dataDir?: string;
  /** Where the private signing keys live; default: files under dataDir (key-vault.ts). */
  keyVault?: KeyVault;
  /** Where browser sessions live; default: this process's memory. PgStore shares them between instances. */
  sessionStore?: SessionStore;
  /**
   * Several instances on one store: failed client authentications per address are counted in the
   * store too (as well as in this process), so N instances do not allow N times the guesses.
   */
  sharedClientAuthLimit?: boolean;
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
  /** Split tokens (audiences registered splitToken): where signature halves go, the gateways' Redis. */
  splitTokens?: SplitTokenStore;
  /** Called with the new signed list whenever a token for `audience` is revoked (the broker relays it). */
  onRevocationList?: (audience: string, signedList: Uint8Array) => void;
  /**
   * Serve HTTPS (PEM certificate chain and private key): client secrets, passwords, codes and
   * tokens then never cross the network in clear, and the metadata's URLs say https.
   */
  tls?: {
    cert: string | Uint8Array;
    key: string | Uint8Array;
    /**
     * RFC 8705 §2.1 (tls_client_auth): the CA (PEM) whose client certificates this service
     * trusts. Given, the listener asks every peer for a certificate (never refusing the handshake
     * without one: each client's registration decides) and a chain is trusted only to this CA.
     */
    clientCa?: string | Uint8Array;
    /** RFC 8705 §2.2 (self_signed_tls_client_auth) only: ask for client certificates, trust no chain. */
    requestClientCert?: boolean;
  };
  /** Tokens per client id per window at /token (issuance-budget.ts); default DEFAULT_ISSUANCE_LIMIT. */
  issuanceLimit?: IssuanceLimit;
  /**
   * Every issuance, refusal (with its registry code), revocation: pino-shaped (device/logger.ts;
   * default: none). Never given a token, a proof, a secret, a password or a key.
   */
  logger?: Logger;
  /**
   * `fapi2`: the FAPI 2.0 Security Profile (fapi2-profile.ts): PAR for every client, mTLS or
   * assertion client authentication, certificate-bound tokens only. Needs `tls` with client
   * certificates (clientCa or requestClientCert).
   */
  profile?: ServiceProfile;
  /**
   * Bearer credential for /metrics. Without one, /metrics answers loopback peers only (a
   * Prometheus on the same host); behind a reverse proxy on the same host, set one.
   */
  metricsToken?: string;
  /** DPoP (RFC 9449) at /token: shared rotating nonce secrets, iat window, proof algorithms. */
  dpop?: DpopSettings;
  /**
   * Days an expired token, revocation, refresh-token family or code is kept before it is deleted
   * (record-retention.ts; default DEFAULT_RETENTION_DAYS). Infinity keeps every record.
   */
  retentionDays?: number;
}

export interface AuthzServer {
  readonly context: TokenContext;
  readonly keys: SigningKeys;
  /** What the page and admin handlers are called with (tests call them without a socket). */
  readonly web: WebContext;
  readonly http: HttpServer | HttpsServer;
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
  /** The signed revocation list for an audience (COSE_Sign1 over application/ace-trl+cbor). */
  revocationList(audience: string): Promise<Uint8Array>;
  /** The Prometheus counters and histograms served at /metrics (service-metrics.ts). */
  readonly metrics: ServiceMetrics;
  /** What /readyz reports: each check and whether all pass. */
  readiness(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  /** Deletes the records past retention now (the service also does so hourly); resolves with how many went. */
  purgeExpiredRecords(): Promise<number>;
}

/** Loopback peers (IPv4, IPv6, IPv4-mapped): who may scrape /metrics when no token is set. */
function isLoopbackPeer(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * The path a request is routed by, parsed as the router parses it: a request-target in absolute
 * form (`http://any.host/admin/users`, RFC 9112 §3.2.2) is the same path as its origin form, so
 * the audit and the logs see the path that was answered. Undefined if it does not parse.
 */
function targetPath(req: IncomingMessage): string | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

function audienceOf(params: Params | undefined): string | undefined {
  const a = params?.get('audience');
  return typeof a === 'string' ? logText(a) : undefined;
}

/** The client id a request names (client_id, or the Basic user), for the log only; never the secret. */
function namedClient(params: Params | undefined, authorization: string | undefined): string | undefined {
  const posted = params?.get('client_id');
  if (typeof posted === 'string') return logText(posted);
  try {
    return logText(parseBasic(authorization)?.id);
  } catch {
    return undefined;
  }
}

/**
 * The client certificate of a TLS connection, if the peer sent one (RFC 8705 §2). Its chain counts
 * as trusted only when a client CA was configured: without one, node would check it against the
 * public roots, and any web PKI certificate with the right name would authenticate a client.
 */
function tlsPeerOf(req: IncomingMessage, clientCaConfigured: boolean): TlsPeer | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate(false);
  if (!cert || !cert.raw || cert.raw.length === 0) return undefined;
  return { der: new Uint8Array(cert.raw), chainTrusted: clientCaConfigured && socket.authorized === true };
}

class BodyTooLarge extends Error {}

/** What a refused OAuth request tells the log: the registry code raised and the parameters decoded. */
interface Refusal {
  code?: string;
  params?: Params;
}

/** What stream.finished reports for a stream closed before its end. */
const prematureClose = (): Error => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/**
 * The whole body, at most `limit` bytes: past it reading stops and BodyTooLarge is thrown (the
 * caller answers 413 with connection: close). Listeners, not `for await`: the stream's async iterator cost ~6 KB of
 * garbage per request (issue 13's heap profile of the token endpoint), a tenth of a token's.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new BodyTooLarge());
  // Closed before we got here (a FIN or a reset while the route awaited a store round trip): its
  // events have fired already, and listeners added now would wait for ever.
  if (req.destroyed) return Promise.reject(prematureClose());
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (error: unknown, body?: Uint8Array): void => {
      req.off('data', onData).off('end', onEnd).off('error', done).off('close', onClose);
      if (error === undefined) resolve(body!);
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total <= limit) {
        chunks.push(chunk);
        return;
      }
      done(new BodyTooLarge());
      // Not read further, and not destroyed: the 413 (with connection: close) still reaches the
      // client, then the server closes the socket with what is left of the body unread.
      req.pause();
    };
    const onEnd = (): void => done(undefined, new Uint8Array(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    // Closed before its end (the client went away): what stream.finished reports then.
    const onClose = (): void => done(prematureClose());
    req.on('data', onData).on('end', onEnd).on('error', done).on('close', onClose);
  });
}

function write(res: ServerResponse, out: WebResponse): void {
  res.writeHead(out.status, out.headers);
  res.end(out.body);
}

function errorResponse(err: AuthzError, encoding: Encoding): WebResponse {
  const headers: Record<string, string> = {};
  if (err.status === 401) headers['www-authenticate'] = 'Basic realm="keybound"';
  const { body, contentType } = encodeResponse({ error: err.oauthError, error_description: err.message }, encoding);
  return respond(err.status, contentType, body, headers);
}

const invalidRequest = (description: string, status = 400): WebResponse => jsonResponse(status, { error: 'invalid_request', error_description: description });

export async function createAuthzServer(opts: AuthzServerOptions): Promise<AuthzServer> {
  // The metadata's endpoints are the issuer's URL: with a certificate, an http:// issuer would
  // send every client's secrets to plain HTTP, the TLS listener notwithstanding.
  if (opts.tls && opts.issuer && /^http:/i.test(opts.issuer)) throw new RangeError('with --tls-cert the issuer must be an https:// URL (its metadata sends clients there)');
  if (opts.profile !== undefined && opts.profile !== 'fapi2') throw new RangeError('the only profile is fapi2');
  if (opts.profile === 'fapi2' && (!opts.tls || (opts.tls.clientCa === undefined && opts.tls.requestClientCert !== true))) {
    // FAPI 2.0 §5.3.2.1: sender-constrained tokens; this mode binds them to TLS client certificates.
    throw new RangeError('--profile fapi2 needs HTTPS with client certificates (--tls-cert, --tls-key and --tls-client-ca or --tls-request-client-cert)');
  }
  const provider = opts.provider ?? nativeProvider;
  const clock = opts.clock ?? (() => Date.now() / 1000);
  const log = opts.logger ?? NOOP_LOGGER;
  const metrics = createServiceMetrics();
  const metricsTokenHash = opts.metricsToken ? createHash('sha256').update(opts.metricsToken).digest() : undefined;
  const keys = new SigningKeys(opts.store, opts.keyVault ?? new FileKeyVault(opts.dataDir ?? missingKeyVault()), provider);
  await keys.load(opts.signingAlgorithm ?? 'EdDSA', Math.floor(clock()));
  // The secret cache's key is random per process and lives only in memory (secret-cache.ts).
  const context: TokenContext = { issuer: opts.issuer ?? 'keybound', store: opts.store, keys, provider, clock, ...(opts.splitTokens ? { splitTokens: opts.splitTokens } : {}) };
  // Publish the new signed list of each audience whose list changed, and only those.
  context.onIssued = (e) => {
    metrics.issued(e.grant ?? 'unknown', e.audience);
    log.info(
      { event: 'token_issued', grant: e.grant === undefined ? undefined : grantLabel(e.grant), clientId: logText(e.clientId), audience: e.audience, subject: logText(e.subject), kid: e.kid, tokenHash: hashPrefix(e.tokenHash), cti: hashPrefix(e.cti), reference: e.reference },
      'authz: token issued',
    );
  };
  context.onRevoked = async (audiences) => {
    for (const aud of audiences) {
      metrics.revoked(aud);
      log.info({ event: 'revocation_list_changed', audience: aud }, 'authz: revocation list changed');
    }
    if (!opts.onRevocationList) return;
    for (const aud of audiences) opts.onRevocationList(aud, await revocationList(aud));
  };
  if (opts.profile) context.profile = opts.profile;
  if (opts.issuanceLimit) context.issuanceLimit = checkIssuanceLimit(opts.issuanceLimit);
  if (opts.dpop) context.dpop = opts.dpop;
  // Client assertions' signatures on libuv's thread pool (client-auth.ts); another provider verifies in line.
  if (provider === nativeProvider) context.verifyOffLoop = verifyInThreadPool;
  if (opts.cacheClientSecrets !== false) context.secretCache = new SecretVerificationCache(provider.randomBytes(32), clock);
  let baseUrl = opts.issuer ?? '';
  const clientAuthLimiter = new ClientAuthLimiter();
  // The admin token's own guess limit: 401s at /admin/ per address, as failed client
  // authentications (the token's strength is the first guard; this one stops a flood of guesses
  // and the log lines it writes). A separate count: a guessing client never locks out the admin API.
  const adminAuthLimiter = new ClientAuthLimiter();
  const web: WebContext = {
    token: context,
    sessions: new BrowserSessions((n) => provider.randomBytes(n), clock, opts.tls !== undefined, ...(opts.sessionStore ? [opts.sessionStore] : [])),
    baseUrl: () => baseUrl,
    ...(opts.adminToken ? { adminTokenHash: createHash('sha256').update(opts.adminToken).digest() } : {}),
    // FAPI 2.0 §5.3.2.2: every authorization request is pushed first.
    ...(opts.profile === 'fapi2' ? { requirePar: true } : {}),
  };

  async function revocationList(audience: string): Promise<Uint8Array> {
    const { sequence, entries, exiFloor } = await opts.store.revocationList(audience, Math.floor(clock()));
    // A list that would not fit a device gives up its oldest revocations whole (issuedBefore).
    const { kept, issuedBefore } = fitRevocations(entries);
    const list = {
      audience,
      sequence,
      fullSet: kept.map((e) => fromHex(e.tokenHash)),
      ...(exiFloor !== undefined ? { exiFloor } : {}),
      ...(issuedBefore !== undefined ? { issuedBefore } : {}),
    };
    return createRevocationList(list, keys.current().key, { provider });
  }

  /** An OAuth/ACE endpoint, its refusals logged and counted once, with the code raised (or the transport's). */
  async function oauthEndpoint(
    req: IncomingMessage,
    handler: (p: Params, auth: string | undefined, remoteAddress: string) => Promise<Record<string, ResponseValue | undefined> | null>,
    table?: Record<string, number>,
    endpoint: Endpoint = 'token',
    okStatus = 200,
  ): Promise<WebResponse> {
    const path = (targetPath(req) ?? '/').slice(1);
    const refusal: Refusal = {};
    const out = await oauthRequest(req, handler, table, endpoint, refusal, okStatus);
    if (out.status >= 400) {
      const code = refusal.code ?? (out.status === 429 ? 'temporarily_unavailable' : 'invalid_request');
      metrics.refused(path, code);
      log.warn(
        { event: 'request_refused', endpoint: path, code, status: out.status, clientId: namedClient(refusal.params, req.headers.authorization), audience: audienceOf(refusal.params), remoteAddress: req.socket.remoteAddress },
        `authz: /${path} refused: ${code}`,
      );
    }
    return out;
  }

  /** POST in one of the three encodings, answered in the request's own. */
  async function oauthRequest(
    req: IncomingMessage,
    handler: (p: Params, auth: string | undefined, remoteAddress: string) => Promise<Record<string, ResponseValue | undefined> | null>,
    table: Record<string, number> | undefined,
    endpoint: Endpoint,
    refusal: Refusal,
    okStatus: number,
  ): Promise<WebResponse> {
    const encoding = encodingOf(req.headers['content-type']);
    if (req.method !== 'POST') return errorResponse(new AuthzError('invalid_request', 'use POST', { status: 405 }), encoding ?? 'json');
    if (!encoding) return errorResponse(new AuthzError('invalid_request', 'unsupported content type', { status: 415 }), 'json');
    const replyEncoding = encoding === 'form' ? 'json' : encoding;
    const remote = req.socket.remoteAddress ?? '';
    // The body first: a count is taken only for a request that has arrived whole, so requests
    // that stall their bodies (until the request timeout) hold none of the address's counts.
    let body: Uint8Array;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (e) {
      if (!(e instanceof BodyTooLarge)) throw e;
      const out = errorResponse(new AuthzError('invalid_request', 'request body too large', { status: 413 }), replyEncoding);
      return { ...out, headers: { ...out.headers, connection: 'close' } };
    }
    // Before any scrypt runs (client-auth-limiter.ts), synchronously: requests in flight at once are counted.
    const tooMany = () => {
      const out = errorResponse(new AuthzError('temporarily_unavailable', 'too many failed client authentications from this address', { status: 429 }), replyEncoding);
      return { ...out, headers: { ...out.headers, 'retry-after': String(CLIENT_AUTH_WINDOW_S) } };
    };
    if (!clientAuthLimiter.take(remote)) return tooMany();
    // The same count across instances, in the store (one upsert), taken and given back alike.
    const sharedKey = opts.sharedClientAuthLimit ? `client-auth:${addressKey(remote)}` : undefined;
    const at = Math.floor(clock());
    if (sharedKey && (await opts.store.hitRateLimit(sharedKey, at, CLIENT_AUTH_WINDOW_S)) > CLIENT_AUTH_FAILURES) {
      clientAuthLimiter.giveBack(remote);
      return tooMany();
    }
    let failedAuth = false;
    try {
      return await oauthExchange(req, body, handler, table, endpoint, encoding, replyEncoding, remote, () => (failedAuth = true), refusal, okStatus);
    } finally {
      if (!failedAuth) {
        clientAuthLimiter.giveBack(remote);
        if (sharedKey) await opts.store.releaseRateLimit(sharedKey, at, CLIENT_AUTH_WINDOW_S);
      }
    }
  }

  async function oauthExchange(
    req: IncomingMessage,
    body: Uint8Array,
    handler: (p: Params, auth: string | undefined, remoteAddress: string) => Promise<Record<string, ResponseValue | undefined> | null>,
    table: Record<string, number> | undefined,
    endpoint: Endpoint,
    encoding: Encoding,
    replyEncoding: Encoding,
    remote: string,
    onFailedAuth: () => void,
    refusal: Refusal,
    okStatus: number,
  ): Promise<WebResponse> {
    try {
      refusal.params = decodeParams(body, encoding, endpoint);
      const out = await handler(refusal.params, req.headers.authorization, remote);
      if (out === null) return respond(200, 'text/plain', '');
      const { body: encoded, contentType } = encodeResponse(out, replyEncoding, table);
      return respond(okStatus, contentType, encoded);
    } catch (e) {
      if (e instanceof AuthzError) {
        refusal.code = e.code;
        if (e.oauthError === 'invalid_client') onFailedAuth();
        return errorResponse(e, replyEncoding);
      }
      throw e;
    }
  }

  /** A page or admin route: the body read under `limit`, then a handler of plain data. */
  async function webEndpoint(req: IncomingMessage, url: URL, handler: (ctx: WebContext, r: WebRequest) => Promise<WebResponse>, limit = MAX_BODY_BYTES): Promise<WebResponse> {
    const body = req.method === 'POST' ? await readBody(req, limit) : new Uint8Array(0);
    return handler(web, {
      method: req.method ?? 'GET',
      url,
      ...(req.headers.cookie !== undefined ? { cookie: req.headers.cookie } : {}),
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
      remoteAddress: req.socket.remoteAddress ?? '',
      body,
    });
  }

  const clientCerts = opts.tls !== undefined && (opts.tls.clientCa !== undefined || opts.tls.requestClientCert === true);
  /** The service's context for one request, with the TLS client certificate it came with (RFC 8705 §2). */
  function withPeer(req: IncomingMessage): TokenContext {
    const peer = clientCerts ? tlsPeerOf(req, opts.tls?.clientCa !== undefined) : undefined;
    return peer ? { ...context, peer } : context;
  }

  /**
   * RFC 8705 §5: certificate authentication is served on the one HTTPS listener (it asks for a
   * certificate, never requires one), so the mTLS aliases are the endpoints themselves.
   */
  function mtlsMetadata(): Record<string, unknown> {
    if (!clientCerts) return {};
    return {
      tls_client_certificate_bound_access_tokens: true,
      mtls_endpoint_aliases: {
        token_endpoint: `${baseUrl}/token`,
        pushed_authorization_request_endpoint: `${baseUrl}/par`,
        introspection_endpoint: `${baseUrl}/introspect`,
        revocation_endpoint: `${baseUrl}/revoke`,
      },
    };
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
      trust_update_endpoint: `${baseUrl}/trust`,
      grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token', GRANT_TOKEN_EXCHANGE, GRANT_DEVICE_CODE],
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      // RFC 9200 §8.18 (OAuth Authorization Server Metadata): the ACE profiles this service issues
      // tokens for. coap_oscore (RFC 9203) for audiences registered with it; keybound's own PoP
      // over MQTT/COSE without TLS is none of the registered profiles, so it is not listed.
      ace_profiles_supported: ['coap_oscore'],
      // RFC 9126 §5.
      pushed_authorization_request_endpoint: `${baseUrl}/par`,
      require_pushed_authorization_requests: web.requirePar === true,
      // RFC 9207 §3: every authorization response (codes and errors) carries iss.
      authorization_response_iss_parameter_supported: true,
      // JARM §5: signed authorization responses, by the key /jwks.json publishes.
      response_modes_supported: [...RESPONSE_MODES],
      authorization_signing_alg_values_supported: [jwsAlgorithm(keys.current().key.alg)],
      token_endpoint_auth_methods_supported:
        opts.profile === 'fapi2'
          ? [...FAPI2_CLIENT_AUTH_METHODS]
          : ['client_secret_basic', 'client_secret_post', 'cwt_assertion', 'none', ...(clientCerts ? ['tls_client_auth', 'self_signed_tls_client_auth'] : [])],
      ...mtlsMetadata(),
      token_endpoint_content_types: [CONTENT_TYPE.cbor, CONTENT_TYPE.json, CONTENT_TYPE.form],
      // RFC 9449 §5.1: the algorithms accepted in DPoP proofs.
      dpop_signing_alg_values_supported: [...dpopAlgs(opts.dpop)],
    };
  }

  /**
   * Other instances of the service may rotate the signing key in the shared store: re-read it at
   * most once a second (monotonic time), so a retired key stops signing and being published here too.
   */
  let keysReadAt = performance.now();
  async function refreshKeys(): Promise<void> {
    if (performance.now() - keysReadAt < KEY_REFRESH_MS) return;
    keysReadAt = performance.now();
    await keys.refresh(clock());
  }

  async function route(req: IncomingMessage): Promise<WebResponse> {
    await refreshKeys();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return invalidRequest('malformed request target');
    }
    const path = url.pathname;
    const formOnly = () => htmlResponse(405, messagePage('Not allowed', 'Use the form.'));
    switch (path) {
      case '/token': {
        const started = performance.now();
        try {
          // RFC 9449 §4.3: the proof is for this method at the token endpoint's URI as published.
          // Recorded by the grant once the client is known (token-endpoint.ts recordProof).
          const proofOf = () => checkDpopAtEndpoint(context, { method: req.method ?? '', url: `${baseUrl}/token`, dpop: req.headers.dpop }, { record: false });
          const out = await oauthEndpoint(req, async (p, a) => handleTokenRequest(withPeer(req), p, a, await proofOf()));
          // RFC 9449 §8.2: every answer carries a fresh nonce (a use_dpop_nonce refusal included).
          return { ...out, headers: { ...out.headers, ...dpopNonceHeader(context) } };
        } finally {
          metrics.tokenSeconds((performance.now() - started) / 1000);
        }
      }
      case '/par': {
        // RFC 9126 §2.2: 201 Created with the request_uri. RFC 9449 §10.1: a DPoP proof here binds
        // the code to its key, checked as at /token (method and URI, iat, nonce) and recorded
        // against replay once the client is authenticated (pushed-authorization.ts).
        const proofOf = () => checkDpopAtEndpoint(context, { method: req.method ?? '', url: `${baseUrl}/par`, dpop: req.headers.dpop }, { record: false });
        const out = await oauthEndpoint(req, async (p, a) => ({ ...(await handlePushedAuthorization(withPeer(req), p, a, (q) => checkAuthorizationRequest(web, q), await proofOf())) }), undefined, 'token', 201);
        return { ...out, headers: { ...out.headers, ...dpopNonceHeader(context) } };
      }
      case '/device_authorization':
        return oauthEndpoint(req, (p, a, remote) => handleDeviceAuthorization(context, p, a, baseUrl, remote));
      case '/introspect':
        return oauthEndpoint(req, (p, a) => handleIntrospection(withPeer(req), p, a), INTROSPECTION_PARAM, 'introspect');
      case '/revoke':
        return oauthEndpoint(req, async (p, a, remote) => {
          const audiences = await handleRevocation(withPeer(req), p, a);
          // RFC 7009 §2.2: the answer is 200 whether or not anything was revoked; the log says which.
          log.info({ event: 'revocation_request', clientId: namedClient(p, a), revoked: audiences.length > 0, audiences: audiences.map((x) => logText(x)).join(' ') || undefined, remoteAddress: remote }, 'authz: revocation request');
          if (audiences.length) await context.onRevoked?.(audiences);
          return null;
        }, undefined, 'introspect');
      case '/.well-known/oauth-authorization-server':
        return respond(200, 'application/json', JSON.stringify(metadata()), { 'cache-control': 'max-age=300' });
      case '/keys':
        // RFC 9052 §7: a COSE_KeySet is an array of COSE_Keys.
        return respond(200, 'application/cose-key-set', encodeCbor(keys.publicKeys(Math.floor(clock())).map(coseKeyToMap)), { 'cache-control': 'max-age=300' });
      case '/jwks.json':
        return respond(200, 'application/jwk-set+json', JSON.stringify(coseKeysToJwks(keys.publicKeys(Math.floor(clock())))), { 'cache-control': 'max-age=300' });
      case '/authorize':
        return webEndpoint(req, url, handleAuthorize);
      case '/login':
        // A bare GET says where signing in starts (an application's /authorize, or /device).
        if (req.method === 'GET' || req.method === 'HEAD') return htmlResponse(200, loginStartPage());
        return req.method === 'POST' ? webEndpoint(req, url, handleLogin) : formOnly();
      case '/healthz':
        return respond(200, 'application/json', '{"status":"ok"}', { 'cache-control': 'no-store' });
      case '/readyz': {
        const r = await readiness();
        return respond(r.ready ? 200 : 503, 'application/json', JSON.stringify({ status: r.ready ? 'ready' : 'not ready', checks: r.checks }), { 'cache-control': 'no-store' });
      }
      case '/metrics':
        return metricsEndpoint(req);
      case '/consent':
        return req.method === 'POST' ? webEndpoint(req, url, handleConsent) : formOnly();
      case '/device':
        return webEndpoint(req, url, handleDeviceVerification);
      case '/static/authz.css':
        return respond(200, 'text/css', CSS, { 'cache-control': 'max-age=3600' });
    }
    if (path.startsWith('/trl/') && req.method === 'GET') {
      const audience = decodePathSegment(path.slice('/trl/'.length));
      if (audience === undefined) return invalidRequest('the audience is not valid percent-encoded UTF-8');
      if (!(await opts.store.getAudience(audience))) return jsonResponse(404, { error: 'invalid_target' });
      // draft-ietf-ace-revoked-token-notification: the list, signed so it can cross the broker.
      return respond(200, 'application/cose; cose-type="cose-sign1"', await revocationList(audience));
    }
    if (path.startsWith('/trust/') && req.method === 'GET') {
      const audience = decodePathSegment(path.slice('/trust/'.length));
      if (audience === undefined) return invalidRequest('the audience is not valid percent-encoded UTF-8');
      if (!(await opts.store.getAudience(audience))) return jsonResponse(404, { error: 'invalid_target' });
      // notes/trust-update.md: the device's new anchor set, signed by a key it already trusts.
      const update = signedTrustUpdate(keys, audience, Math.floor(clock()), provider);
      if (!update) return jsonResponse(503, { error: 'temporarily_unavailable' });
      return respond(200, 'application/cose; cose-type="cose-sign1"', update);
    }
    if (path.startsWith('/admin/')) {
      const remote = req.socket.remoteAddress ?? '';
      if (!adminAuthLimiter.take(remote)) {
        const out = jsonResponse(429, { error: 'temporarily_unavailable', error_description: 'too many failed admin authentications from this address' });
        return { ...out, headers: { ...out.headers, 'retry-after': String(CLIENT_AUTH_WINDOW_S) } };
      }
      const out = await webEndpoint(req, url, handleAdmin, MAX_ADMIN_BODY).catch((e: unknown) => {
        adminAuthLimiter.giveBack(remote);
        throw e;
      });
      if (out.status !== 401) adminAuthLimiter.giveBack(remote);
      return out;
    }
    return jsonResponse(404, { error: 'not_found' });
  }

  /** The store answers a query, and a signing key is loaded. */
  async function readiness(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const checks = { store: false, keys: false };
    try {
      await opts.store.getAudience('');
      checks.store = true;
    } catch {
      // not ready: the check says which part
    }
    try {
      checks.keys = keys.current().key !== undefined;
    } catch {
      // no signing key loaded
    }
    return { ready: checks.store && checks.keys, checks };
  }

  /**
   * Prometheus text format. With metricsToken: Bearer required from everyone, compared in
   * constant time over its hash; without: loopback peers only (SECURITY.md, /metrics).
   */
  async function metricsEndpoint(req: IncomingMessage): Promise<WebResponse> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return invalidRequest('use GET', 405);
    if (metricsTokenHash) {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      const given = createHash('sha256').update(m?.[1] ?? '').digest();
      if (!m || !timingSafeEqual(given, metricsTokenHash)) {
        const out = jsonResponse(401, { error: 'invalid_token' });
        return { ...out, headers: { ...out.headers, 'www-authenticate': 'Bearer realm="metrics"' } };
      }
    } else if (!isLoopbackPeer(req.socket.remoteAddress ?? '')) {
      return jsonResponse(403, { error: 'forbidden', error_description: 'metrics are served to loopback peers only, or with the metrics token' });
    }
    return respond(200, metrics.registry.contentType, await metrics.registry.metrics(), { 'cache-control': 'no-store' });
  }

  /**
   * The admin API and the pages' forms (sign-in, consent, device approval) leave one line each:
   * path, status and peer (a run of 401s at /login is someone guessing). Never the form's fields.
   */
  function auditForm(req: IncomingMessage, status: number): void {
    // As routed (targetPath): `POST http://other.host/login` is a /login guess too.
    const path = targetPath(req) ?? '/';
    const admin = path.startsWith('/admin/');
    if (!admin && !(req.method === 'POST' && (path === '/login' || path === '/consent' || path === '/device'))) return;
    const fields = { event: admin ? 'admin_request' : 'form_post', path: logText(path), method: logText(req.method), status, remoteAddress: req.socket.remoteAddress };
    if (status >= 400) log.warn(fields, `authz: ${fields.path} answered ${status}`);
    else log.info(fields, `authz: ${fields.path} answered ${status}`);
  }

  const serverOptions: ServerOptions = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_MS };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    route(req)
      .then((out) => {
        auditForm(req, out.status);
        write(res, out);
      })
      .catch((e) => {
        if (e instanceof BodyTooLarge) {
          // Close: the rest of an oversized body is not worth reading.
          const out = invalidRequest('request body too large', 413);
          if (!res.headersSent) write(res, { ...out, headers: { ...out.headers, connection: 'close' } });
          return;
        }
        // Never echo internals: the log gets the code, the client a generic server_error.
        log.error({ event: 'internal_error', code: (e as { code?: string }).code ?? (e as Error).name, path: logText(targetPath(req)) }, 'authz: internal error');
        if (!res.headersSent) write(res, jsonResponse(500, { error: 'server_error' }));
        else res.destroy();
      });
  };
  const scheme = opts.tls ? 'https' : 'http';
  // RFC 8705 §2: ask for a client certificate, never refuse the handshake over it (a browser or a
  // secret-authenticated client has none); which certificate authenticates whom is decided per client.
  const mtls = clientCerts ? { requestCert: true, rejectUnauthorized: false, ...(opts.tls?.clientCa !== undefined ? { ca: Buffer.from(opts.tls.clientCa) } : {}) } : {};
  const http = opts.tls ? createHttpsServer({ ...serverOptions, cert: Buffer.from(opts.tls.cert), key: Buffer.from(opts.tls.key), ...mtls }, onRequest) : createHttpServer(serverOptions, onRequest);

  // Last, once nothing above can throw: its timers are stopped by close().
  const retention = startRecordRetention({ store: opts.store, clock, retentionDays: opts.retentionDays ?? DEFAULT_RETENTION_DAYS, log });
  return {
    context,
    keys,
    web,
    http,
    revocationList,
    metrics,
    readiness,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          const a = http.address() as AddressInfo;
          const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${a.port}`;
          if (!opts.issuer) {
            baseUrl = url;
            context.issuer = url;
          } else if (!baseUrl.startsWith('http')) baseUrl = url;
          log.info({ event: 'listening', url, issuer: context.issuer, tls: opts.tls !== undefined, admin: opts.adminToken !== undefined, metricsToken: opts.metricsToken !== undefined }, 'authz: started');
          resolve({ port: a.port, url });
        });
      });
    },
    purgeExpiredRecords: () => retention.run(),
    close() {
      retention.stop();
      return new Promise((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    },
  };
}
