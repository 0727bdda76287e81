/**
 * The CoAP message (RFC 7252 §3) as bytes and back, strict and bounded: what OSCORE protects
 * (RFC 8613 §4–§5) and what the broker relay carries. Options are kept as numbers and raw values;
 * their order on the wire is by number (RFC 7252 §3.1), the order of equal numbers is kept.
 */
import { CoseError, ERR } from './errors.js';

export interface CoapOption {
  number: number;
  value: Uint8Array;
}

export interface CoapMessage {
  /** RFC 7252 §3: 0 CON, 1 NON, 2 ACK, 3 RST. Encoded as NON when absent. */
  type?: 0 | 1 | 2 | 3;
  /** class << 5 | detail: GET = 1, POST = 2, 2.05 = 69, 4.01 = 129. */
  code: number;
  messageId?: number;
  token?: Uint8Array;
  options: CoapOption[];
  payload: Uint8Array;
}

/** A device's messages are small; more is hostile (a token and a block fit easily). */
export const MAX_COAP_MESSAGE_BYTES = 8192;
/** Options per message; CoAP requests carry a handful. */
export const MAX_COAP_OPTIONS = 64;
/** RFC 7252 §3: option values are at most 65804 bytes; ours far less. */
const MAX_OPTION_VALUE = 1034;

function malformed(reason: string): CoseError {
  return new CoseError(ERR.COAP_MALFORMED, `CoAP message: ${reason}`);
}

function nibble(n: number): { head: number; ext: number[] } {
  if (n < 13) return { head: n, ext: [] };
  if (n < 269) return { head: 13, ext: [n - 13] };
  if (n < 65805) return { head: 14, ext: [(n - 269) >> 8, (n - 269) & 0xff] };
  throw malformed('option delta or length over 65804');
}

/** RFC 7252 §3.1: the options alone (also OSCORE's plaintext, RFC 8613 §5.3). */
export function encodeCoapOptions(options: readonly CoapOption[]): number[] {
  const sorted = options.map((o, i) => ({ o, i })).sort((a, b) => a.o.number - b.o.number || a.i - b.i);
  const out: number[] = [];
  let last = 0;
  for (const { o } of sorted) {
    if (!Number.isSafeInteger(o.number) || o.number < 0 || o.number > 65535) throw malformed('option number out of range');
    const d = nibble(o.number - last);
    const l = nibble(o.value.length);
    out.push((d.head << 4) | l.head, ...d.ext, ...l.ext, ...o.value);
    last = o.number;
  }
  return out;
}

/** RFC 7252 §3.1: options from `offset` to the payload marker or the end. */
export function decodeCoapOptions(bytes: Uint8Array, offset: number): { options: CoapOption[]; payload: Uint8Array } {
  const options: CoapOption[] = [];
  let i = offset;
  let number = 0;
  const ext = (v: number): number => {
    if (v === 13) {
      if (i >= bytes.length) throw malformed('truncated option');
      return bytes[i++]! + 13;
    }
    if (v === 14) {
      if (i + 1 >= bytes.length) throw malformed('truncated option');
      const n = ((bytes[i]! << 8) | bytes[i + 1]!) + 269;
      i += 2;
      return n;
    }
    if (v === 15) throw malformed('reserved option nibble 15');
    return v;
  };
  while (i < bytes.length) {
    const b = bytes[i++]!;
    if (b === 0xff) {
      // RFC 7252 §3: a marker followed by nothing is a format error.
      if (i === bytes.length) throw malformed('payload marker with no payload');
      return { options, payload: bytes.slice(i) };
    }
    number += ext(b >> 4);
    const len = ext(b & 0x0f);
    if (len > MAX_OPTION_VALUE) throw malformed(`option value over ${MAX_OPTION_VALUE} bytes`);
    if (i + len > bytes.length) throw malformed('truncated option value');
    if (options.length >= MAX_COAP_OPTIONS) throw malformed(`more than ${MAX_COAP_OPTIONS} options`);
    options.push({ number, value: bytes.slice(i, i + len) });
    i += len;
  }
  return { options, payload: new Uint8Array(0) };
}

export function encodeCoapMessage(m: CoapMessage): Uint8Array {
  const token = m.token ?? new Uint8Array(0);
  if (token.length > 8) throw malformed('token over 8 bytes');
  if (!Number.isInteger(m.code) || m.code < 0 || m.code > 255) throw malformed('code is not a byte');
  const id = m.messageId ?? 0;
  const out = [(1 << 6) | ((m.type ?? 1) << 4) | token.length, m.code, (id >> 8) & 0xff, id & 0xff, ...token, ...encodeCoapOptions(m.options)];
  if (m.payload.length > 0) out.push(0xff, ...m.payload);
  if (out.length > MAX_COAP_MESSAGE_BYTES) throw malformed(`over ${MAX_COAP_MESSAGE_BYTES} bytes`);
  return Uint8Array.from(out);
}

export function decodeCoapMessage(bytes: Uint8Array): CoapMessage {
  if (!(bytes instanceof Uint8Array) || bytes.length < 4) throw malformed('shorter than its 4-byte header');
  if (bytes.length > MAX_COAP_MESSAGE_BYTES) throw malformed(`over ${MAX_COAP_MESSAGE_BYTES} bytes`);
  const b0 = bytes[0]!;
  if (b0 >> 6 !== 1) throw malformed('version is not 1');
  const tkl = b0 & 0x0f;
  // RFC 7252 §3: token lengths 9 to 15 are reserved, a message format error.
  if (tkl > 8) throw malformed('token length over 8');
  if (bytes.length < 4 + tkl) throw malformed('truncated token');
  const { options, payload } = decodeCoapOptions(bytes, 4 + tkl);
  return {
    type: ((b0 >> 4) & 3) as 0 | 1 | 2 | 3,
    code: bytes[1]!,
    messageId: (bytes[2]! << 8) | bytes[3]!,
    token: bytes.slice(4, 4 + tkl),
    options,
    payload,
  };
}
