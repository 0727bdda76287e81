/**
 * The bodies a device exchanges with a client, whatever carries them:
 * - authz-info (RFC 9200 §5.10.1): an application/ace+cbor map { access_token 1 } or the bare
 *   token; the answer an empty map. (The ACE-OSCORE exchange, RFC 9203 §4.1, is a CoAP POST
 *   /authz-info message: device/authz-info.ts.)
 * - responses { 1 code, 2 payload, 3 error, 4 hints }.
 * - PoP requests (asymmetric or symmetric cnf, no OSCORE): { 1 method, 2 resource, 3 payload,
 *   4 proof, 5 token hash | 6 token }.
 * - transport envelopes (MQTT has no reply-to in 3.1.1): [client id, body].
 */
import { CoseError, Tag, decodeCbor, encodeCbor, isMap, type CborMap, type CborValue } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import { hintsFromMap, hintsToMap, type RequestHints } from './request-hints.js';

/** RFC 9200 §5.10.1 (access_token 1); RFC 9203 §9.3's nonce1 40 only to refuse it here. */
export const AUTHZ_INFO_LABEL = { accessToken: 1, nonce1: 40 } as const;
/** An authz-info body is a token (≤ 4 KB) plus a nonce. */
export const MAX_BODY_BYTES = 8192;
/** REST methods and paths are short; a payload bigger than this does not belong on a device. */
export const MAX_PAYLOAD_BYTES = 4096;
const MAX_TEXT = 255;
const MAX_CLIENT_ID = 64;

function badRequest(message: string, cause?: unknown): DeviceError {
  return new DeviceError(DEVICE_ERR.BAD_REQUEST, message, cause === undefined ? undefined : { cause });
}

function decode(bytes: Uint8Array, what: string, maxDepth = 4): CborValue {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_BODY_BYTES) throw badRequest(`${what}: at most ${MAX_BODY_BYTES} bytes`);
  try {
    return decodeCbor(bytes, { maxBytes: MAX_BODY_BYTES, maxDepth });
  } catch (cause) {
    throw badRequest(`${what}: not valid CBOR (${(cause as CoseError).code})`, cause);
  }
}

function text(m: CborMap, label: number, what: string): string {
  const v = m.get(label);
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT) throw badRequest(`${what}(${label}) must be short text`);
  return v;
}

function payload(m: CborMap, label: number): Uint8Array {
  const v = m.get(label) ?? new Uint8Array(0);
  if (!(v instanceof Uint8Array) || v.length > MAX_PAYLOAD_BYTES) throw badRequest(`payload(${label}) must be at most ${MAX_PAYLOAD_BYTES} bytes`);
  return v;
}

/* ------------------------------------------------------------ authz-info */

export interface AuthzInfoRequest {
  token: Uint8Array;
}

export function encodeAuthzInfoRequest(req: AuthzInfoRequest): Uint8Array {
  return encodeCbor(new Map<CborValue, CborValue>([[AUTHZ_INFO_LABEL.accessToken, req.token]]));
}

/** Accepts the ace+cbor map or a bare CWT (tagged 61 or a COSE array), as RFC 9200 §5.10.1 allows. */
export function decodeAuthzInfoRequest(body: Uint8Array): AuthzInfoRequest {
  const v = decode(body, 'authz-info', 8);
  if (v instanceof Tag || Array.isArray(v)) return { token: body };
  if (!isMap(v)) throw badRequest('authz-info: expected a token or an ace+cbor map');
  const token = v.get(AUTHZ_INFO_LABEL.accessToken);
  if (!(token instanceof Uint8Array)) throw badRequest('authz-info: access_token(1) must be a byte string');
  // RFC 9203 §4.1: a security context is asked for with a CoAP POST /authz-info (device/authz-info.ts),
  // not here; a nonce1 in this map would be a client of the removed home-made session.
  if (v.has(AUTHZ_INFO_LABEL.nonce1)) throw badRequest('authz-info: nonce1(40) belongs in a CoAP POST /authz-info (RFC 9203 §4.1)');
  return { token };
}

/** RFC 9200 §5.10.1: the token was stored; nothing else is said. */
export type AuthzInfoResponse = Record<string, never>;

export function encodeAuthzInfoResponse(): Uint8Array {
  return encodeCbor(new Map());
}

export function decodeAuthzInfoResponse(body: Uint8Array): AuthzInfoResponse {
  const v = decode(body, 'authz-info response');
  if (!isMap(v)) throw badRequest('authz-info response: expected a map');
  // A refusal body ({1 code, 3 error}) instead of the parameters: surface the device's code.
  const refused = v.get(3);
  if (typeof refused === 'string') {
    const known = Object.values(DEVICE_ERR) as string[];
    throw new DeviceError(known.includes(refused) ? (refused as DeviceError['code']) : DEVICE_ERR.BAD_REQUEST, `device refused the token: ${refused.slice(0, 32)}`);
  }
  return {};
}

/* ------------------------------------------------------------ requests and responses */

export interface DeviceRequestBody {
  method: string;
  resource: string;
  payload: Uint8Array;
}

export interface DeviceResponseBody {
  /** CoAP-style response code as an HTTP-like number (205 content, 403 forbidden...). */
  code: number;
  payload?: Uint8Array;
  /** A DeviceError code for refusals. */
  error?: string;
  /** RFC 9200 §5.3 hints for refusals. */
  hints?: RequestHints;
}

export function encodeResponseBody(res: DeviceResponseBody): Uint8Array {
  const m: CborMap = new Map<CborValue, CborValue>([[1, res.code]]);
  if (res.payload) m.set(2, res.payload);
  if (res.error) m.set(3, res.error);
  if (res.hints) m.set(4, hintsToMap(res.hints));
  return encodeCbor(m);
}

export function decodeResponseBody(bytes: Uint8Array): DeviceResponseBody {
  const v = decode(bytes, 'response', 4);
  if (!isMap(v) || typeof v.get(1) !== 'number') throw badRequest('response: expected a map with code(1)');
  const out: DeviceResponseBody = { code: v.get(1) as number };
  const p = v.get(2);
  if (p instanceof Uint8Array) out.payload = p;
  const e = v.get(3);
  if (typeof e === 'string') out.error = e;
  // RFC 9200 §5.3: a refusal tells the client where and how to get the right token (and, for a
  // device that wants one, the cnonce to put in it or use as a proof nonce).
  const h = v.get(4);
  if (isMap(h)) out.hints = hintsFromMap(h);
  return out;
}

/* ------------------------------------------------------------ PoP requests */

export interface PopRequest extends DeviceRequestBody {
  proof: Uint8Array;
  /** The token itself (DPoP style), or the hash of one posted to authz-info before. */
  token?: Uint8Array;
  tokenHash?: Uint8Array;
}

export function encodePopRequest(req: PopRequest): Uint8Array {
  const m: CborMap = new Map<CborValue, CborValue>([[1, req.method], [2, req.resource], [3, req.payload], [4, req.proof]]);
  if (req.tokenHash) m.set(5, req.tokenHash);
  if (req.token) m.set(6, req.token);
  return encodeCbor(m);
}

export function decodePopRequest(bytes: Uint8Array): PopRequest {
  const v = decode(bytes, 'PoP request', 2);
  if (!isMap(v)) throw badRequest('PoP request: expected a map');
  const proof = v.get(4);
  if (!(proof instanceof Uint8Array)) throw badRequest('PoP request: proof(4) must be a byte string');
  const req: PopRequest = { method: text(v, 1, 'method'), resource: text(v, 2, 'resource'), payload: payload(v, 3), proof };
  const hash = v.get(5);
  const token = v.get(6);
  if (hash instanceof Uint8Array && hash.length === 32) req.tokenHash = hash;
  if (token instanceof Uint8Array) req.token = token;
  if (!req.token && !req.tokenHash) throw badRequest('PoP request: token hash(5) or token(6) required');
  return req;
}

/* ------------------------------------------------------------ envelopes */

export function encodeEnvelope(clientId: string, body: Uint8Array): Uint8Array {
  return encodeCbor([clientId, body]);
}

export function decodeEnvelope(bytes: Uint8Array): { clientId: string; body: Uint8Array } {
  const v = decode(bytes, 'envelope', 2);
  // The client id names an MQTT topic level: no wildcards, no separators.
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !(v[1] instanceof Uint8Array)) {
    throw badRequest('envelope: expected [client id, body]');
  }
  if (v[0].length === 0 || v[0].length > MAX_CLIENT_ID || /[/#+\u0000]/.test(v[0])) throw badRequest('envelope: bad client id');
  return { clientId: v[0], body: v[1] };
}
