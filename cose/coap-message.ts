/**
 * CoAP messages (RFC 7252 §3) as bytes, portable: what OSCORE protects (RFC 8613 §4-5) and what
 * the broker relay carries. Decoding is strict (RFC 7252 §3.1: option delta 15 and length 15 are
 * reserved, a payload marker must be followed by a payload) and bounded by the input's size.
 */
import { CoseError } from './errors.js';

export interface CoapOption {
  number: number;
  value: Uint8Array;
}

export interface CoapMessage {
  /** 0 CON, 1 NON, 2 ACK, 3 RST (RFC 7252 §3). */
  type?: number;
  /** The code byte, class << 5 | detail (0x01 GET, 0x02 POST, 0x44 2.04, 0x45 2.05, 0x81 4.01). */
  code: number;
  messageId?: number;
  token?: Uint8Array;
  /** In any order; encoding sorts them by number (RFC 7252 §3.1), keeping repeated ones in order. */
  options: CoapOption[];
  payload: Uint8Array;
}

/** "c.dd" for a code byte. */
export function coapCodeText(code: number): string {
  return `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;
}

/** The code byte for "c.dd". */
export function coapCodeByte(text: string): number {
  const m = /^([0-7])\.(\d\d)$/.exec(text);
  if (!m || Number(m[2]) > 31) throw new CoseError('ERR_COSE_MALFORMED', `not a CoAP code: ${text.slice(0, 8)}`);
  return (Number(m[1]) << 5) | Number(m[2]);
}

function extended(n: number): { nibble: number; bytes: number[] } {
  if (n < 13) return { nibble: n, bytes: [] };
  if (n < 269) return { nibble: 13, bytes: [n - 13] };
  return { nibble: 14, bytes: [((n - 269) >> 8) & 0xff, (n - 269) & 0xff] };
}

/** The options alone, as they follow the token (used for OSCORE's plaintext, RFC 8613 §5.3). */
export function encodeCoapOptions(options: readonly CoapOption[]): Uint8Array {
  const sorted = options.map((o, i) => ({ o, i })).sort((a, b) => a.o.number - b.o.number || a.i - b.i);
  const out: number[] = [];
  let last = 0;
  for (const { o } of sorted) {
    if (o.value.length > 65535 + 269) throw new CoseError('ERR_COSE_MALFORMED', 'option value too long');
    const d = extended(o.number - last);
    const l = extended(o.value.length);
    out.push((d.nibble << 4) | l.nibble, ...d.bytes, ...l.bytes, ...o.value);
    last = o.number;
  }
  return Uint8Array.from(out);
}

/** Options up to the payload marker (or the end); returns the options and where the payload starts. */
export function decodeCoapOptions(bytes: Uint8Array, start = 0): { options: CoapOption[]; payloadStart: number } {
  const options: CoapOption[] = [];
  let at = start;
  let number = 0;
  const read = (nibble: number): number => {
    if (nibble < 13) return nibble;
    if (nibble === 13) {
      if (at + 1 > bytes.length) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP option truncated');
      return bytes[at++]! + 13;
    }
    if (nibble === 14) {
      if (at + 2 > bytes.length) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP option truncated');
      const v = (bytes[at]! << 8) | bytes[at + 1]!;
      at += 2;
      return v + 269;
    }
    throw new CoseError('ERR_COSE_MALFORMED', 'CoAP option nibble 15 is reserved'); // RFC 7252 §3.1
  };
  while (at < bytes.length) {
    const head = bytes[at]!;
    if (head === 0xff) {
      // RFC 7252 §3: a marker followed by a zero-length payload is a format error.
      if (at + 1 >= bytes.length) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP payload marker without payload');
      return { options, payloadStart: at + 1 };
    }
    at++;
    number += read(head >> 4);
    const length = read(head & 0x0f);
    if (at + length > bytes.length) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP option value truncated');
    options.push({ number, value: bytes.slice(at, at + length) });
    at += length;
  }
  return { options, payloadStart: bytes.length };
}

export function encodeCoapMessage(m: CoapMessage): Uint8Array {
  const token = m.token ?? new Uint8Array(0);
  if (token.length > 8) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP token longer than 8 bytes');
  const head = [0x40 | ((m.type ?? 0) << 4) | token.length, m.code & 0xff, ((m.messageId ?? 0) >> 8) & 0xff, (m.messageId ?? 0) & 0xff];
  const options = encodeCoapOptions(m.options);
  const out = new Uint8Array(4 + token.length + options.length + (m.payload.length ? 1 + m.payload.length : 0));
  out.set(head, 0);
  out.set(token, 4);
  out.set(options, 4 + token.length);
  if (m.payload.length) {
    out[4 + token.length + options.length] = 0xff;
    out.set(m.payload, 5 + token.length + options.length);
  }
  return out;
}

export function decodeCoapMessage(bytes: Uint8Array): CoapMessage {
  if (bytes.length < 4) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP message shorter than its header');
  const b0 = bytes[0]!;
  if (b0 >> 6 !== 1) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP version is not 1');
  const tkl = b0 & 0x0f;
  if (tkl > 8) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP token length 9-15 is reserved');
  if (4 + tkl > bytes.length) throw new CoseError('ERR_COSE_MALFORMED', 'CoAP token truncated');
  const { options, payloadStart } = decodeCoapOptions(bytes, 4 + tkl);
  return {
    type: (b0 >> 4) & 3,
    code: bytes[1]!,
    messageId: (bytes[2]! << 8) | bytes[3]!,
    token: bytes.slice(4, 4 + tkl),
    options,
    payload: bytes.slice(payloadStart),
  };
}
