/**
 * The gateway: an HTTP(S) reverse proxy (http-proxy-3, never hand-written proxying) in front of an
 * HTTP API that lets a request through only with a DPoP-bound access token and a fresh proof of
 * its key (RFC 9449 §7): token by value (access-token.ts), proof htm/htu/ath/iat/jti (§4.3), the
 * proof's key equal to the token's cnf.jkt (§7.1), (jkt, jti) replay shared through Redis, scope
 * per route. The upstream never sees the token or the proof: Authorization and DPoP are removed,
 * and it receives the checked identity in X-Keybound-* headers (any such header from the client is
 * removed first, so they cannot be forged).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import type { JWTVerifyGetKey } from 'jose';
import { certificateDerFromPem, checkCertificateBinding, CertificateBindingError, MAX_CERTIFICATE_PEM_CHARS, DEFAULT_DPOP_ALGS, DEFAULT_IAT_WINDOW_SECONDS, DpopError, MemoryDpopReplay, checkDpopNonce, dpopReplayExpiry, invalidDpopProof, dpopWwwAuthenticate, issueDpopNonce, verifyDpopProof, type DpopNonceSecrets, type DpopReplayRecord } from '../sender-constraint/index.js';
import { verifyAccessToken } from './access-token.js';
import { GatewayError } from './errors.js';
import { checkRouteScope } from './route-scope.js';
import { VerifiedTokenCache } from './verified-token-cache.js';
import type { PhantomTokens } from './phantom-token.js';
import { looksLikeCwt, verifyCwtAccessToken } from './cwt-access-token.js';
import type { CoseKey } from '../cose/index.js';
import { joinSplitToken, looksLikeSplitToken, type SplitTokenHalves } from './split-token-join.js';

/** Node's default header budget (16 KiB) halved: tokens and proofs are a few KiB at most. */
export const DEFAULT_MAX_HEADER_BYTES = 8192;
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;
/** Where the gateway publishes the key of its phantom JWTs (only with phantom tokens configured). */
export const GATEWAY_JWKS_PATH = '/.well-known/jwks.json';
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const IDENTITY_HEADER_PREFIX = 'x-keybound-';

export interface GatewayLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface GatewayOptions {
  upstream: string;
  audience: string;
  /** The service's signing keys (jose createRemoteJWKSet of its /jwks.json, or createLocalJWKSet of a saved copy). */
  keys: JWTVerifyGetKey;
  issuer?: string;
  /** The origin clients address (htu is checked against it); default http(s)://127.0.0.1:PORT. */
  publicUrl?: string;
  /** Shared replay record (RedisDpopReplay); default an in-memory one for this process only. */
  replay?: DpopReplayRecord;
  requiredScope?: readonly string[];
  /** RFC 9449 §9: when given, proofs must carry a nonce of this gateway's (stateless, dpop-nonce.ts). */
  nonceSecrets?: () => DpopNonceSecrets;
  iatWindow?: number;
  algs?: readonly string[];
  /** The service's keys as COSE keys, for DPoP-bound CWT access tokens by value (service-keys.ts). */
  cwtKeys?: () => Promise<readonly CoseKey[]>;
  /**
   * Split tokens: a header.payload token is joined with its signature half from this Redis
   * (split-token-join.ts) and verified as the whole JWT; without it a two-part token is refused.
   */
  splitTokens?: SplitTokenHalves;
  /** Opaque (reference) tokens: introspected once, the upstream gets the gateway's signed JWT (phantom-token.ts). */
  phantom?: PhantomTokens;
  /**
   * HTTPS. `requestClientCert`: ask every client for a certificate (trusting no chain: RFC 8705
   * §3 binds the token to the certificate itself, self-signed or not) for certificate-bound tokens.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; requestClientCert?: boolean };
  /**
   * Behind a TLS terminator: take the client certificate from this request header (URL-encoded
   * PEM, as nginx's $ssl_client_escaped_cert), only on connections from these addresses. From any
   * other address the header is ignored (and never forwarded).
   */
  certificateHeader?: { name: string; trustedProxies: readonly string[] };
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  upstreamTimeoutMs?: number;
  /** Seconds since the epoch. */
  clock?: () => number;
  logger?: GatewayLogger;
}

export interface Gateway {
  listen(port: number, host?: string): Promise<{ url: string; port: number }>;
  close(): Promise<void>;
}

function single(value: string | string[] | undefined): string | undefined | null {
  if (Array.isArray(value)) return null;
  return value;
}

export function createGateway(options: GatewayOptions): Gateway {
  const clock = options.clock ?? (() => Date.now() / 1000);
  const algs = options.algs ?? DEFAULT_DPOP_ALGS;
  const iatWindow = options.iatWindow ?? DEFAULT_IAT_WINDOW_SECONDS;
  const replay = options.replay ?? new MemoryDpopReplay({ clock });
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeout = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  let publicUrl = options.publicUrl;
  const verified = new VerifiedTokenCache();
  // Upstream connections are kept open and reused: a TCP (and TLS) handshake per request would cost more than the checks.
  const agent = options.upstream.startsWith('https:') ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const proxy = createProxyServer({ target: options.upstream, proxyTimeout: timeout, timeout, xfwd: false, agent });
  proxy.on('error', (err, _req, res) => {
    options.logger?.warn({ event: 'upstream_error', error: (err as Error).message }, 'gateway: upstream failed');
    if (res instanceof http.ServerResponse && !res.headersSent) {
      res.writeHead(502, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"error":"bad_gateway"}');
    } else res.destroy();
  });

  function refuse(res: http.ServerResponse, e: unknown): void {
    const known = e instanceof GatewayError || e instanceof DpopError ? e : new GatewayError('invalid_request', 'request refused');
    // A resource server answers 401 to a bad proof (RFC 9449 §7.1), not the service's 400.
    const status = known instanceof DpopError ? (known.code === 'busy' ? 503 : 401) : known.code === 'too_large' ? 413 : known.status;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
    if (status === 401 || status === 403) headers['www-authenticate'] = dpopWwwAuthenticate({ algs, error: known.oauthError, description: known.message });
    // RFC 9449 §9: the refusal carries the nonce to retry with (and so does every other answer).
    if (options.nonceSecrets) headers['dpop-nonce'] = issueDpopNonce(options.nonceSecrets(), clock());
    options.logger?.info({ event: 'refused', code: known.code, status }, 'gateway: request refused');
    res.writeHead(status, headers).end(JSON.stringify({ error: known.oauthError, error_description: known.message }));
  }

  async function admit(req: http.IncomingMessage): Promise<{ jkt: string; x5t?: string; clientId?: string; sub?: string; phantomJwt?: string }> {
    const authorization = single(req.headers.authorization);
    const proof = single(req.headers.dpop);
    if (authorization === null || proof === null) throw new GatewayError('invalid_request', 'one Authorization and one DPoP header only');
    const scheme = /^(DPoP|Bearer) ([\x21-\x7e]+)$/.exec(authorization ?? '');
    if (!scheme) throw new GatewayError('invalid_token', authorization === undefined ? 'no access token' : 'DPoP authorization scheme required');
    const token = scheme[2]!;
    const now = clock();
    // RFC 8705 §3: a certificate-bound token travels as Bearer over the TLS connection with that
    // certificate. Any other Bearer token is refused (RFC 9449 §7.2: a DPoP token is not a bearer token).
    if (scheme[1] === 'Bearer') return certificateBound(req, token, now);
    if (proof === undefined) throw new DpopError('invalid_dpop_proof', 'DPoP proof missing');
    // A split token is looked up on every request (never cached by its half): deleting the
    // signature at the service revokes it at once.
    const split = options.splitTokens !== undefined && looksLikeSplitToken(token);
    const whole = split ? await joinSplitToken(options.splitTokens!, token) : token;
    const jws = JWS_COMPACT.test(whole);
    const cwt = !jws && options.cwtKeys !== undefined && looksLikeCwt(token);
    const opaque = !jws && !cwt && options.phantom !== undefined;
    let claims = opaque ? await options.phantom!.introspect(token, now) : verified.get(whole, now);
    if (claims === undefined) {
      const issuer = options.issuer ? { issuer: options.issuer } : {};
      claims = cwt
        ? verifyCwtAccessToken(token, { keys: await options.cwtKeys!(), audience: options.audience, ...issuer, now })
        : await verifyAccessToken(whole, { keys: options.keys, audience: options.audience, ...issuer, now });
      verified.set(whole, claims, claims.exp);
    }
    const secrets = options.nonceSecrets;
    const nonce = secrets ? { nonce: (n: string) => checkDpopNonce(n, secrets(), now) } : {};
    const checked = await verifyDpopProof(proof, { method: req.method ?? '', url: `${publicUrl}${req.url}`, accessToken: token, now, iatWindow, algs, ...nonce });
    // RFC 9449 §7.1: the proof's key is the key the token is bound to.
    if (checked.jkt !== claims.jkt) throw new GatewayError('invalid_token', 'token is bound to another key than the proof');
    if (claims.x5t !== undefined) throw new GatewayError('invalid_token', 'a certificate-bound token goes with the Bearer scheme');
    checkRouteScope(claims.scope, { method: req.method ?? '', path: new URL(req.url ?? '/', 'http://x').pathname }, options.requiredScope ?? []);
    // §11.1, recorded last: a token travels with every request, so whoever saw one could make
    // proofs with keys of their own, each recorded before the key check refused it, and fill the
    // record for every client (review, stop 35). Only a request about to go upstream records.
    // The share of a bounded record is the token's grant holder's, its client and the user it acts
    // for (else its key): a client makes as many DPoP keys, and tokens bound to them, as it likes
    // (review 36), and a public app is one client_id for all its users, so by client alone one
    // user's proofs spent every other user's share of the app (review 36b). Both are signed.
    const holder = claims.clientId !== undefined || claims.sub !== undefined ? JSON.stringify([claims.clientId ?? null, claims.sub ?? null]) : `k:${checked.jkt}`;
    if (await replay.seen(checked.jkt, checked.jti, dpopReplayExpiry(checked.iat, iatWindow), holder)) throw invalidDpopProof('DPoP proof replayed');
    return { jkt: claims.jkt, ...(opaque ? { phantomJwt: await options.phantom!.upstreamJwt(token, now) } : {}), ...(claims.clientId ? { clientId: claims.clientId } : {}), ...(claims.sub ? { sub: claims.sub } : {}) };
  }

  /** The connection's client certificate, or the trusted terminator's header (never both sources mixed). */
  function clientCertificate(req: http.IncomingMessage): Uint8Array | undefined {
    const socket = req.socket as import('node:tls').TLSSocket;
    const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    if (peer?.raw) return new Uint8Array(peer.raw);
    const from = options.certificateHeader;
    const address = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!from || !from.trustedProxies.includes(address)) return undefined;
    const value = single(req.headers[from.name]);
    if (typeof value !== 'string' || value.length > 3 * MAX_CERTIFICATE_PEM_CHARS) return undefined;
    try {
      return certificateDerFromPem(decodeURIComponent(value));
    } catch {
      throw new GatewayError('invalid_request', 'client certificate header malformed');
    }
  }

  async function certificateBound(req: http.IncomingMessage, token: string, now: number): Promise<{ jkt: string; x5t: string; clientId?: string; sub?: string }> {
    if (!JWS_COMPACT.test(token)) throw new GatewayError('invalid_token', 'DPoP authorization scheme required');
    let claims = verified.get(token, now);
    if (claims === undefined) {
      claims = await verifyAccessToken(token, { keys: options.keys, audience: options.audience, ...(options.issuer ? { issuer: options.issuer } : {}), now });
      verified.set(token, claims, claims.exp);
    }
    if (claims.x5t === undefined) throw new GatewayError('invalid_token', 'DPoP authorization scheme required');
    const der = clientCertificate(req);
    if (!der) throw new GatewayError('invalid_token', 'certificate-bound token without a client certificate');
    try {
      checkCertificateBinding(der, claims.x5t);
    } catch (e) {
      if (e instanceof CertificateBindingError) throw new GatewayError('invalid_token', 'token is bound to another certificate');
      throw e;
    }
    checkRouteScope(claims.scope, { method: req.method ?? '', path: new URL(req.url ?? '/', 'http://x').pathname }, options.requiredScope ?? []);
    return { jkt: '', x5t: claims.x5t, ...(claims.clientId ? { clientId: claims.clientId } : {}), ...(claims.sub ? { sub: claims.sub } : {}) };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!req.url?.startsWith('/') || req.url.startsWith('//')) throw new GatewayError('invalid_request', 'origin-form request target required');
    const length = req.headers['content-length'];
    if (length !== undefined && !(/^\d{1,12}$/.test(length) && Number(length) <= maxBody)) throw new GatewayError('too_large', 'request body too large');
    if (length === undefined && req.headers['transfer-encoding'] !== undefined) throw new GatewayError('invalid_request', 'Content-Length required');
    if (options.phantom && req.method === 'GET' && req.url === GATEWAY_JWKS_PATH) {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=300' }).end(JSON.stringify(await options.phantom.jwks()));
      return;
    }
    const who = await admit(req);
    for (const name of Object.keys(req.headers)) {
      if (name === 'authorization' || name === 'dpop' || name === options.certificateHeader?.name || name.startsWith(IDENTITY_HEADER_PREFIX)) delete req.headers[name];
    }
    if (who.jkt) req.headers['x-keybound-jkt'] = who.jkt;
    if (who.x5t) req.headers['x-keybound-x5t-s256'] = who.x5t;
    if (who.clientId) req.headers['x-keybound-client-id'] = who.clientId;
    if (who.sub) req.headers['x-keybound-sub'] = who.sub;
    // Phantom token: the upstream gets the gateway's JWT of the introspected claims, never the opaque token.
    if (who.phantomJwt) req.headers.authorization = `Bearer ${who.phantomJwt}`;
    if (options.nonceSecrets) res.setHeader('dpop-nonce', issueDpopNonce(options.nonceSecrets(), clock()));
    proxy.web(req, res);
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((e: unknown) => {
      if (!(e instanceof GatewayError) && !(e instanceof DpopError)) options.logger?.warn({ event: 'gateway_error', error: e instanceof Error ? e.name : 'unknown' }, 'gateway: unexpected error');
      if (!res.headersSent) refuse(res, e);
      else res.destroy();
    });
  };
  const maxHeaderSize = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const serverOptions = { maxHeaderSize, requestTimeout: timeout, headersTimeout: Math.min(timeout, 10_000) };
  const server = options.tls ? https.createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key, ...(options.tls.requestClientCert ? { requestCert: true, rejectUnauthorized: false } : {}) }, onRequest) : http.createServer(serverOptions, onRequest);

  return {
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const bound = (server.address() as AddressInfo).port;
          publicUrl ??= `${options.tls ? 'https' : 'http'}://127.0.0.1:${bound}`;
          resolve({ url: publicUrl, port: bound });
        });
      });
    },
    async close() {
      proxy.close();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
