/**
 * One HTTP exchange as plain data: what a handler of the pages and the admin API reads (method,
 * URL, the two headers it may need, the peer address, the already bounded body) and what it
 * returns (status, headers, body). server.ts turns a socket's request into a WebRequest and a
 * WebResponse back into bytes; tests call the handlers with objects, no socket needed.
 */
import type { BrowserSessions } from './browser-sessions.js';
import { PAGE_CSP } from './pages.js';
import type { TokenContext } from './token-endpoint.js';

export interface WebRequest {
  method: string;
  url: URL;
  /** The Cookie and Authorization headers, as received. */
  cookie?: string;
  authorization?: string;
  /** The peer's address: the key of per-address attempt limits. */
  remoteAddress: string;
  /** The request body, already read with the route's size bound (empty for GET). */
  body: Uint8Array;
}

export interface WebResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/** RFC 6749 §5.1: answers carrying codes, tokens or sessions are never cached. */
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

export function respond(status: number, contentType: string, body: Uint8Array | string, headers: Record<string, string> = {}): WebResponse {
  return { status, headers: { 'content-type': contentType, ...NO_STORE, ...headers }, body };
}

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): WebResponse {
  return respond(status, 'application/json', JSON.stringify(value), headers);
}

/** A page: strict CSP, never framed (clickjacking on Allow buttons). */
export function htmlResponse(status: number, html: string, headers: Record<string, string> = {}): WebResponse {
  return respond(status, 'text/html; charset=utf-8', html, { 'content-security-policy': PAGE_CSP, 'x-frame-options': 'DENY', ...headers });
}

/** 303: after a POST the browser follows with a GET (RFC 9110 §15.4.4). */
export function redirectResponse(location: string, headers: Record<string, string> = {}): WebResponse {
  return { status: 303, headers: { location, 'cache-control': 'no-store', ...headers }, body: '' };
}

/** A form body (application/x-www-form-urlencoded) as parameters. */
export function formOf(req: WebRequest): URLSearchParams {
  return new URLSearchParams(Buffer.from(req.body).toString('utf8'));
}

/** What the page and admin handlers work with. */
export interface WebContext {
  /** The token endpoint's context: store, signing keys, provider, clock, issuer (set at listen). */
  token: TokenContext;
  sessions: BrowserSessions;
  /** The service's own URL (the metadata and provisioning bundles name it). */
  baseUrl(): string;
  /** SHA-256 of the admin bearer token; the admin API is off without one. */
  adminTokenHash?: Uint8Array;
  /** Every client's authorization requests must be pushed first (RFC 9126 §5; the FAPI 2.0 profile). */
  requirePar?: boolean;
}

/** A percent-encoded path segment, or undefined when it is not valid UTF-8 percent-encoding (decodeURIComponent throws URIError). */
export function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
