/**
 * The CoAP message model and its RFC 7252 §3 binary codec, for OSCORE (RFC 8613 protects a CoAP
 * message, so the portable core must read and write one) and for any transport that carries CoAP:
 * UDP, or the broker relay. Strict and bounded: every datagram is hostile, so a length that runs
 * past the end, a reserved nibble, a token over 8 bytes, an option number over 65535, a payload
 * marker with no payload or more options than the bound is a typed error, never a guess.
 */
import { CoseError } from './errors.js';

export interface CoapOption {
  number: number;
  value: Uint8Array;
}

export interface CoapMessage {
  /** RFC 7252 §3: 0 CON, 1 NON, 2 ACK, 3 RST. Absent where there is no header (OSCORE's inner message). */
  type?: 0 | 1 | 2 | 3;
  /** class << 5 | detail: GET = 1, POST = 2, FETCH = 5, 2.04 = 68, 2.05 = 69, 4.01 = 129. */
  code: number;
  messageId?: number;
  token?: Uint8Array;
  /** In any order; the encoder sorts them stably (repeated options keep their relative order). */
  options: CoapOption[];
  payload: Uint8Array;
}

export const COAP_CODE = {
  EMPTY: 0,
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  FETCH: 5,
  CREATED: 65,
  DELETED: 66,
  VALID: 67,
  CHANGED: 68,
  CONTENT: 69,
  BAD_REQUEST: 128,
  UNAUTHORIZED: 129,
  BAD_OPTION: 130,
  FORBIDDEN: 131,
  NOT_FOUND: 132,
  METHOD_NOT_ALLOWED: 133,
  REQUEST_ENTITY_TOO_LARGE: 141,
  INTERNAL_SERVER_ERROR: 160,
  SERVICE_UNAVAILABLE: 163,
} as const;

/** RFC 7252 §12.2, RFC 7641, RFC 7959, RFC 8613 §2, RFC 8768, RFC 9175 §2.2: the numbers we name in code. */
export const COAP_OPTION = {
  IF_MATCH: 1,
  URI_HOST: 3,
  ETAG: 4,
  IF_NONE_MATCH: 5,
  OBSERVE: 6,
  URI_PORT: 7,
  LOCATION_PATH: 8,
  OSCORE: 9,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  MAX_AGE: 14,
  URI_QUERY: 15,
  HOP_LIMIT: 16,
  ACCEPT: 17,
  LOCATION_QUERY: 20,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  PROXY_URI: 35,
  PROXY_SCHEME: 39,
  SIZE1: 60,
  ECHO: 252,
  NO_RESPONSE: 258,
  REQUEST_TAG: 292,
} as const;

export const COAP_ERR = {
  TRUNCATED: 'ERR_COAP_TRUNCATED',
  TOO_LARGE: 'ERR_COAP_TOO_LARGE',
  BAD_VERSION: 'ERR_COAP_BAD_VERSION',
  BAD_TOKEN: 'ERR_COAP_BAD_TOKEN',
  BAD_OPTION: 'ERR_COAP_BAD_OPTION',
  TOO_MANY_OPTIONS: 'ERR_COAP_TOO_MANY_OPTIONS',
  EMPTY_PAYLOAD_MARKER: 'ERR_COAP_EMPTY_PAYLOAD_MARKER',
  BAD_EMPTY_MESSAGE: 'ERR_COAP_BAD_EMPTY_MESSAGE',
  BAD_FIELD: 'ERR_COAP_BAD_FIELD',
} as const;

export type CoapErrorCode = (typeof COAP_ERR)[keyof typeof COAP_ERR];

/** A CoAP message that is not well formed (RFC 7252 §3 "message format error"), or one we refuse to write. */
export class CoapFormatError extends CoseError {
  static override readonly errorName: string = 'CoapFormatError';
  declare readonly code: CoapErrorCode;
  constructor(code: CoapErrorCode, message: string) {
    super(code, `CoAP: ${message}`);
  }
}

export interface CoapLimits {
  /** Whole message; 65507 is the largest UDP/IPv4 payload (RFC 7252 §4.6 asks for far less in practice). */
  maxBytes: number;
  /** Options per message: no real request carries more than a few dozen (path segments, queries). */
  maxOptions: number;
}

export const DEFAULT_COAP_LIMITS: CoapLimits = { maxBytes: 65507, maxOptions: 64 };

const PAYLOAD_MARKER = 0xff;
const MAX_OPTION_NUMBER = 0xffff;
/** RFC 7252 §3.1: a length nibble of 14 adds 269 to a 16-bit extension. */
const MAX_OPTION_LENGTH = 0xffff + 269;

function fail(code: CoapErrorCode, message: string): never {
  throw new CoapFormatError(code, message);
}

function checkUint(value: unknown, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    fail(COAP_ERR.BAD_FIELD, `${what} must be an integer 0..${max}`);
  }
  return value;
}

/** RFC 7252 §3.1: the nibble for a delta or length, and how many extension bytes follow it. */
function nibble(n: number): [nibble: number, extension: number] {
  if (n < 13) return [n, 0];
  if (n < 269) return [13, 1];
  return [14, 2];
}

/** Writes the extension bytes of `n` (RFC 7252 §3.1: n - 13 in one byte, or n - 269 in two). */
function writeExtension(out: Uint8Array, at: number, n: number, size: number): number {
  if (size === 1) out[at++] = n - 13;
  else if (size === 2) {
    out[at++] = (n - 269) >> 8;
    out[at++] = (n - 269) & 0xff;
  }
  return at;
}

/** Options sorted by number, stably: RFC 7252 §5.4.5 keeps the order of repeated options. */
function sortedOptions(options: readonly CoapOption[]): CoapOption[] {
  return options.map((o, i) => [o, i] as const).sort((a, b) => a[0].number - b[0].number || a[1] - b[1]).map(([o]) => o);
}

/**
 * Options ‖ (0xFF ‖ payload when there is one): the part of a message after the token, which is
 * also OSCORE's plaintext after its code byte (RFC 8613 §5.3). Sized first, then written once.
 */
export function encodeCoapOptionsAndPayload(options: readonly CoapOption[], payload: Uint8Array): Uint8Array {
  const sorted = sortedOptions(options);
  if (!(payload instanceof Uint8Array)) fail(COAP_ERR.BAD_FIELD, 'payload must be bytes');
  let size = payload.length > 0 ? 1 + payload.length : 0;
  let previous = 0;
  for (const o of sorted) {
    checkUint(o.number, MAX_OPTION_NUMBER, 'option number');
    if (!(o.value instanceof Uint8Array) || o.value.length > MAX_OPTION_LENGTH) fail(COAP_ERR.BAD_OPTION, `option ${o.number} value too long or not bytes`);
    size += 1 + nibble(o.number - previous)[1] + nibble(o.value.length)[1] + o.value.length;
    previous = o.number;
  }
  const out = new Uint8Array(size);
  let at = 0;
  previous = 0;
  for (const o of sorted) {
    const delta = o.number - previous;
    const [d, dExt] = nibble(delta);
    const [l, lExt] = nibble(o.value.length);
    out[at++] = (d << 4) | l;
    at = writeExtension(out, at, delta, dExt);
    at = writeExtension(out, at, o.value.length, lExt);
    out.set(o.value, at);
    at += o.value.length;
    previous = o.number;
  }
  if (payload.length > 0) {
    out[at++] = PAYLOAD_MARKER;
    out.set(payload, at);
  }
  return out;
}

/** Reads an extended delta or length (RFC 7252 §3.1); 15 is reserved except as the payload marker. */
function readExtended(b: Uint8Array, at: number, n: number, what: string): [number, number] {
  if (n < 13) return [n, at];
  if (n === 13) {
    if (at + 1 > b.length) fail(COAP_ERR.TRUNCATED, `option ${what} extension runs past the end`);
    return [b[at]! + 13, at + 1];
  }
  if (n === 14) {
    if (at + 2 > b.length) fail(COAP_ERR.TRUNCATED, `option ${what} extension runs past the end`);
    return [((b[at]! << 8) | b[at + 1]!) + 269, at + 2];
  }
  return fail(COAP_ERR.BAD_OPTION, `option ${what} nibble 15 is reserved`);
}

/** Decodes options and payload from `b[at..]` (the inverse of encodeCoapOptionsAndPayload). */
export function decodeCoapOptionsAndPayload(
  b: Uint8Array,
  at = 0,
  limits: CoapLimits = DEFAULT_COAP_LIMITS,
): { options: CoapOption[]; payload: Uint8Array } {
  const options: CoapOption[] = [];
  let number = 0;
  while (at < b.length) {
    const first = b[at++]!;
    if (first === PAYLOAD_MARKER) {
      // RFC 7252 §3: a marker followed by a zero-length payload is a message format error.
      if (at === b.length) fail(COAP_ERR.EMPTY_PAYLOAD_MARKER, 'payload marker with no payload');
      return { options, payload: b.slice(at) };
    }
    if (options.length >= limits.maxOptions) fail(COAP_ERR.TOO_MANY_OPTIONS, `more than ${limits.maxOptions} options`);
    let delta: number;
    let length: number;
    [delta, at] = readExtended(b, at, first >> 4, 'delta');
    [length, at] = readExtended(b, at, first & 0x0f, 'length');
    number += delta;
    if (number > MAX_OPTION_NUMBER) fail(COAP_ERR.BAD_OPTION, `option number ${number} is over 65535`);
    if (at + length > b.length) fail(COAP_ERR.TRUNCATED, `option ${number} value runs past the end`);
    options.push({ number, value: b.slice(at, at + length) });
    at += length;
  }
  return { options, payload: new Uint8Array(0) };
}

/** RFC 7252 §3: Ver = 1 | T | TKL, Code, Message ID, Token, Options, 0xFF, Payload. */
export function encodeCoapMessage(m: CoapMessage): Uint8Array {
  const type = checkUint(m.type ?? 0, 3, 'type');
  const code = checkUint(m.code, 255, 'code');
  const messageId = checkUint(m.messageId ?? 0, 0xffff, 'message ID');
  const token = m.token ?? new Uint8Array(0);
  if (!(token instanceof Uint8Array) || token.length > 8) fail(COAP_ERR.BAD_TOKEN, 'token must be 0 to 8 bytes');
  if (code === COAP_CODE.EMPTY && (token.length > 0 || m.options.length > 0 || m.payload.length > 0)) {
    fail(COAP_ERR.BAD_EMPTY_MESSAGE, 'an Empty message (0.00) carries nothing after the message ID');
  }
  const rest = encodeCoapOptionsAndPayload(m.options, m.payload);
  const out = new Uint8Array(4 + token.length + rest.length);
  out[0] = 0x40 | (type << 4) | token.length;
  out[1] = code;
  out[2] = messageId >> 8;
  out[3] = messageId & 0xff;
  out.set(token, 4);
  out.set(rest, 4 + token.length);
  return out;
}

export function decodeCoapMessage(b: Uint8Array, limits: CoapLimits = DEFAULT_COAP_LIMITS): CoapMessage {
  if (!(b instanceof Uint8Array)) fail(COAP_ERR.BAD_FIELD, 'message must be bytes');
  if (b.length > limits.maxBytes) fail(COAP_ERR.TOO_LARGE, `message over ${limits.maxBytes} bytes`);
  if (b.length < 4) fail(COAP_ERR.TRUNCATED, 'shorter than the 4-byte header');
  if (b[0]! >> 6 !== 1) fail(COAP_ERR.BAD_VERSION, `version ${b[0]! >> 6} is not 1`);
  const type = ((b[0]! >> 4) & 3) as 0 | 1 | 2 | 3;
  const tkl = b[0]! & 0x0f;
  // RFC 7252 §3: token lengths 9-15 are reserved and a message format error.
  if (tkl > 8) fail(COAP_ERR.BAD_TOKEN, `token length ${tkl} is reserved`);
  if (4 + tkl > b.length) fail(COAP_ERR.TRUNCATED, 'token runs past the end');
  const code = b[1]!;
  if (code === COAP_CODE.EMPTY && b.length !== 4) fail(COAP_ERR.BAD_EMPTY_MESSAGE, 'an Empty message (0.00) carries nothing after the message ID');
  const { options, payload } = decodeCoapOptionsAndPayload(b, 4 + tkl, limits);
  return { type, code, messageId: (b[2]! << 8) | b[3]!, token: b.slice(4, 4 + tkl), options, payload };
}

/** "2.05" for 69: how RFC 7252 §5.9 writes a code. */
export function coapCodeText(code: number): string {
  return `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;
}
