/**
 * The device's CoAP endpoint under OSCORE (RFC 8613 §8.2/§8.3, RFC 9203 §4.4), transport-
 * neutral: a CoAP message in (from UDP, or the payload of `ace/<device>/req` on the broker relay),
 * a CoAP message out. One protection serves both transports.
 *
 *   POST /authz-info, unprotected   → the RFC 9203 exchange (device/authz-info.ts)
 *   OSCORE option present           → the context by kid (device/oscore-contexts.ts); none: 4.01
 *                                     "Security context not found" (RFC 8613 §8.2 step 2); its
 *                                     token dead: unprotected 4.01 with AS hints (RFC 9203 §4.3)
 *                                   → unprotect (replay: 4.01 "Replay detected", tampered: 4.00
 *                                     "Decryption failed", RFC 8613 §7.4/§8.2), unprotected answers
 *                                   → the inner request authorized against the token's scope
 *                                     (RFC 9203 §4.4), served, the answer protected
 *   anything else                   → 4.01 with AS Request Creation Hints (RFC 9200 §5.2)
 * Nothing a client sends can throw past `serveCoap`.
 */
import {
  CoseError,
  OscoreError,
  decodeCoapMessage,
  encodeCbor,
  encodeCoapMessage,
  protectResponse,
  readOscoreOption,
  unprotectRequest,
  utf8,
  fromUtf8,
  type CoapMessage,
  type CoapOption,
  type CryptoProvider,
  type OscoreContext,
  type OscoreState,
} from '../cose/index.js';

/** A context of the device: cose/'s derived keys, its sequence/replay state, and the provider that runs its AEAD. */
export interface DeviceOscoreContext {
  readonly ctx: OscoreContext;
  readonly state: OscoreState;
  readonly provider: CryptoProvider;
}
import { DeviceError, DEVICE_ERR } from './errors.js';
import { hintsToMap, type RequestHints } from './request-hints.js';
import { CONTENT_FORMAT_ACE_CBOR, type AuthzInfoAnswer } from './authz-info.js';
import type { OscoreContextEntry, OscoreContextTable } from './oscore-contexts.js';
import type { DeviceResponseBody } from './device-messages.js';

/** RFC 7252 §12.2 / RFC 8613 §2. */
export const COAP_OPTION_NUMBER = Object.freeze({ OSCORE: 9, URI_PATH: 11, CONTENT_FORMAT: 12 } as const);
/** RFC 7252 §12.1.1 method codes. */
const METHOD_NAMES: Readonly<Record<number, string>> = { 1: 'GET', 2: 'POST', 3: 'PUT', 4: 'DELETE', 5: 'FETCH', 6: 'PATCH', 7: 'iPATCH' };
/** Uri-Path segments a device's resources have at most; more is a hostile request. */
const MAX_PATH_SEGMENTS = 8;

/** class.detail as the registry writes it (205) to the RFC 7252 §3 code byte (0x45). */
export const coapCodeByte = (code: number): number => (Math.floor(code / 100) << 5) | code % 100;

export interface OscoreEndpoint {
  readonly contexts: OscoreContextTable<DeviceOscoreContext>;
  /** POST /authz-info (device/authz-info.ts). */
  authzInfo(payload: Uint8Array, contentFormat: number | undefined): AuthzInfoAnswer;
  /** POST /authz-info under a context: RFC 9203 §4.4's update of access rights; the code to answer (201, 401). */
  updateAccessRights(entry: OscoreContextEntry<DeviceOscoreContext>, payload: Uint8Array): number;
  /** The scope check of the context's token (throws DeviceError insufficient_scope). */
  authorize(tokenHash: Uint8Array, method: string, resource: string): void;
  serve(method: string, resource: string, payload: Uint8Array, subject: string | undefined): DeviceResponseBody;
  hints(): RequestHints;
}

function reply(request: CoapMessage | undefined, code: number, payload: Uint8Array = new Uint8Array(0), options: CoapOption[] = []): CoapMessage {
  return {
    // RFC 7252 §5.2.1: a piggybacked answer to a CON is an ACK; to a NON, a NON.
    ...(request?.type === 0 ? { type: 2 as const } : request?.type === 1 ? { type: 1 as const } : {}),
    code: coapCodeByte(code),
    ...(request?.messageId !== undefined ? { messageId: request.messageId } : {}),
    ...(request?.token ? { token: request.token } : {}),
    options,
    payload,
  };
}

/** An unprotected refusal (RFC 8613 §8.2: the error is sent without OSCORE), with a diagnostic payload. */
function unprotected(request: CoapMessage, code: number, diagnostic: string): CoapMessage {
  return reply(request, code, utf8(diagnostic));
}

/** RFC 8613 §8.2: the answer cose/ names for a refusal (its CoAP code byte and diagnostic), unprotected. */
function oscoreRefused(request: CoapMessage, e: OscoreError): CoapMessage {
  const code = e.coap ?? coapCodeByte(400);
  return { ...reply(request, 0), code, payload: e.diagnostic ? utf8(e.diagnostic) : new Uint8Array(0) };
}

function hinted(request: CoapMessage, code: number, hints: RequestHints): CoapMessage {
  return reply(request, code, encodeCbor(hintsToMap(hints)), [{ number: COAP_OPTION_NUMBER.CONTENT_FORMAT, value: new Uint8Array([CONTENT_FORMAT_ACE_CBOR]) }]);
}

function uriPath(m: CoapMessage): string {
  const segments = m.options.filter((o) => o.number === COAP_OPTION_NUMBER.URI_PATH);
  if (segments.length > MAX_PATH_SEGMENTS) throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'too many Uri-Path segments');
  try {
    return '/' + segments.map((o) => fromUtf8(o.value)).join('/');
  } catch {
    // RFC 7252 §5.10.1: Uri-Path is a UTF-8 string; anything else is a bad request, not a crash.
    throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'Uri-Path is not UTF-8');
  }
}

function contentFormat(m: CoapMessage): number | undefined {
  const o = m.options.find((x) => x.number === COAP_OPTION_NUMBER.CONTENT_FORMAT);
  if (!o) return undefined;
  let n = 0;
  for (const b of o.value) n = n * 256 + b;
  return n;
}

function serveProtected(ep: OscoreEndpoint, request: CoapMessage): CoapMessage {
  let kid: Uint8Array | undefined;
  try {
    kid = readOscoreOption(request)?.kid;
  } catch (error) {
    if (error instanceof OscoreError) return oscoreRefused(request, error);
    throw error;
  }
  let entry: OscoreContextEntry<DeviceOscoreContext> | undefined;
  try {
    entry = kid ? ep.contexts.lookup(kid) : undefined;
  } catch (error) {
    // RFC 9203 §4.3: an unprotected 4.01 for a context whose token has expired (or was revoked).
    if (error instanceof DeviceError) return hinted(request, 401, ep.hints());
    throw error;
  }
  if (!entry) return unprotected(request, 401, 'Security context not found');
  let opened;
  const { ctx, state, provider } = entry.context;
  try {
    opened = unprotectRequest(ctx, state, request, provider);
  } catch (error) {
    if (error instanceof OscoreError) return oscoreRefused(request, error);
    // The plaintext is not a CoAP message after an authentic decryption: the client's bug, 4.00.
    if (error instanceof CoseError) return unprotected(request, 400, 'Decryption failed');
    throw error;
  }
  // A request verified under this context: its client holds the Master Secret.
  ep.contexts.verified(entry);
  const inner = opened.message;
  const method = METHOD_NAMES[inner.code] ?? 'UNKNOWN';
  let body: DeviceResponseBody;
  try {
    const resource = uriPath(inner);
    if (method === 'UNKNOWN') throw new DeviceError(DEVICE_ERR.BAD_REQUEST, 'not a request method');
    if (resource === '/authz-info' && method === 'POST') {
      // RFC 9203 §4.4: a new token for this context (update of access rights): 2.01 with no
      // payload, or 4.01; a Content-Format other than application/ace+cbor is 4.15.
      const format = contentFormat(inner);
      const code = format !== undefined && format !== CONTENT_FORMAT_ACE_CBOR ? 415 : ep.updateAccessRights(entry, inner.payload);
      body = code === 201 ? { code } : { code, payload: encodeCbor(hintsToMap(ep.hints())) };
    } else {
      ep.authorize(entry.tokenHash, method, resource);
      body = ep.serve(method, resource, inner.payload, entry.subject);
    }
  } catch (error) {
    if (!(error instanceof DeviceError)) throw error;
    // Authenticated from here on: the refusal travels protected, so the client can trust it.
    body = { code: error.code === DEVICE_ERR.INSUFFICIENT_SCOPE ? 403 : 400, payload: encodeCbor(hintsToMap(ep.hints())) };
  }
  const innerResponse: CoapMessage = { code: coapCodeByte(body.code), options: [], payload: body.payload ?? new Uint8Array(0) };
  const outer = protectResponse(ctx, state, innerResponse, opened.binding, provider);
  return { ...reply(request, 0), code: outer.code, options: outer.options, payload: outer.payload };
}

/** One CoAP message in, one out. */
export function serveCoapMessage(ep: OscoreEndpoint, request: CoapMessage): CoapMessage {
  try {
    if (request.options.some((o) => o.number === COAP_OPTION_NUMBER.OSCORE)) return serveProtected(ep, request);
    const path = uriPath(request);
    if (path === '/authz-info') {
      if (request.code !== 2) return reply(request, 405);
      const a = ep.authzInfo(request.payload, contentFormat(request));
      const options = a.contentFormat === undefined ? [] : [{ number: COAP_OPTION_NUMBER.CONTENT_FORMAT, value: new Uint8Array([a.contentFormat]) }];
      return reply(request, a.code, a.payload, options);
    }
    // RFC 9200 §5.2: an unprotected request for a protected resource gets 4.01 and the AS hints.
    return hinted(request, 401, ep.hints());
  } catch (error) {
    // A malformed part of an authentic-looking message (cose/ typed errors) is the client's: 4.00.
    return error instanceof DeviceError || error instanceof CoseError ? unprotected(request, 400, error instanceof DeviceError ? error.code : 'bad_request') : reply(request, 500);
  }
}

/** The relay's form: message bytes in, message bytes out. */
export function serveCoap(ep: OscoreEndpoint, bytes: Uint8Array): Uint8Array {
  let request: CoapMessage;
  try {
    request = decodeCoapMessage(bytes); // bounded: MAX_COAP_MESSAGE_BYTES
  } catch {
    return encodeCoapMessage({ code: coapCodeByte(400), options: [], payload: utf8('not a CoAP message') });
  }
  return encodeCoapMessage(serveCoapMessage(ep, request));
}
