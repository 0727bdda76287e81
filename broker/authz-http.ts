/**
 * How the broker reaches the authorization service: only over HTTPS, except on the loopback
 * interface (the service on the same host). The broker sends its introspection secret there and
 * believes the (unsigned) introspection answer, so a network path in clear would give both away;
 * a non-loopback `http:` URL is refused at start. A private CA for the service's certificate is
 * passed as `ca` (PEM): then it is the only CA trusted for the service. Redirects are not followed
 * (a redirect could carry the Basic credentials somewhere else).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { BrokerError, BROKER_ERR } from './errors.js';

export interface AuthzConnection {
  /** The service's base URL: https, or http on the loopback interface only. */
  authzUrl: string;
  /** PEM CA certificate(s) to trust for the service instead of the system's roots. */
  ca?: string | Uint8Array;
}

function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1';
  return false;
}

/** The URL, checked: https anywhere, http only to loopback; anything else is BrokerError insecure_authz_url. */
export function checkAuthzUrl(authzUrl: string): URL {
  let url: URL;
  try {
    url = new URL(authzUrl);
  } catch {
    throw new BrokerError(BROKER_ERR.INSECURE_AUTHZ_URL, 'the authorization service URL is not a URL');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return url;
  throw new BrokerError(
    BROKER_ERR.INSECURE_AUTHZ_URL,
    `the authorization service at ${url.protocol}//${url.host} must be reached over https (http only on loopback): the broker sends its client secret there and trusts the answers`,
  );
}

/** One request to the service; resolves with a fetch-style Response whose body is a stream to read with a bound. */
export function authzRequest(
  conn: AuthzConnection,
  path: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: Uint8Array; timeoutMs: number },
): Promise<Response> {
  const base = checkAuthzUrl(conn.authzUrl);
  const url = new URL(path, base.href.endsWith('/') ? base.href : `${base.href}/`);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: init.method,
        headers: { ...init.headers, ...(init.body ? { 'content-length': String(init.body.length) } : {}) },
        signal: AbortSignal.timeout(init.timeoutMs),
        ...(url.protocol === 'https:' && conn.ca ? { ca: typeof conn.ca === 'string' ? conn.ca : Buffer.from(conn.ca) } : {}),
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        // A Response holds statuses 200-599 only; a body is not allowed with 204/304.
        if (status < 200 || status > 599 || status === 204 || status === 304) {
          res.resume();
          resolve(new Response(null, { status: status >= 200 && status <= 599 ? status : 502, headers }));
          return;
        }
        resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, headers }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
