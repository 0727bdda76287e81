/**
 * The OSCORE option value (RFC 8613 §6.1): a flag byte (n: Partial IV length, k: kid present,
 * h: kid context present), the Partial IV, `s` ‖ kid context, then the kid to the end. Read
 * strictly: reserved lengths and bits, a kid context that runs past the end, bytes after the
 * Partial IV without the k flag, a non-minimal Partial IV or a lone 0x00 are all 4.02 Bad Option.
 */
import { OscoreError, OSCORE_ERR } from './oscore-errors.js';

export interface OscoreOptionValue {
  /** RFC 8613 §6.1: 0 to 5 bytes; absent in a response that reuses the request's nonce. */
  partialIv?: Uint8Array;
  kid?: Uint8Array;
  kidContext?: Uint8Array;
}

/** 1 flag byte + 5 PIV + 1 + 255 kid context + a kid no longer than a nonce allows (RFC 8613 §3.3). */
export const MAX_OSCORE_OPTION_BYTES = 1 + 5 + 1 + 255 + 7;

const FLAG_K = 0x08;
const FLAG_H = 0x10;

function badOption(message: string): never {
  throw new OscoreError(OSCORE_ERR.BAD_OPTION, `OSCORE option: ${message}`);
}

export function encodeOscoreOption(v: OscoreOptionValue): Uint8Array {
  const piv = v.partialIv ?? new Uint8Array(0);
  if (piv.length > 5) badOption('Partial IV longer than 5 bytes');
  if (v.kidContext && v.kidContext.length > 255) badOption('kid context longer than 255 bytes');
  const flags = piv.length | (v.kid ? FLAG_K : 0) | (v.kidContext ? FLAG_H : 0);
  // RFC 8613 §6.1: when every flag is zero the option value is empty.
  if (flags === 0) return new Uint8Array(0);
  const parts = [flags, ...piv];
  if (v.kidContext) parts.push(v.kidContext.length, ...v.kidContext);
  if (v.kid) parts.push(...v.kid);
  return Uint8Array.from(parts);
}

export function decodeOscoreOption(b: Uint8Array): OscoreOptionValue {
  if (b.length === 0) return {};
  if (b.length > MAX_OSCORE_OPTION_BYTES) badOption(`${b.length} bytes, at most ${MAX_OSCORE_OPTION_BYTES}`);
  const flags = b[0]!;
  if (flags === 0) badOption('flag byte 0x00 must be sent as an empty option');
  // Bits 5-7 are reserved (bit 7 would signal an extension byte we do not speak).
  if (flags & 0xe0) badOption('reserved flag bits set');
  const n = flags & 0x07;
  if (n > 5) badOption(`Partial IV length ${n} is reserved`);
  let at = 1;
  const out: OscoreOptionValue = {};
  if (n > 0) {
    if (at + n > b.length) badOption('Partial IV runs past the end');
    // RFC 8613 §6.1 / RFC 9052 §3.1: the Partial IV is the sequence number in the fewest bytes.
    if (n > 1 && b[at] === 0) badOption('Partial IV has a leading zero byte');
    out.partialIv = b.slice(at, at + n);
    at += n;
  }
  if (flags & FLAG_H) {
    if (at >= b.length) badOption('kid context length missing');
    const s = b[at++]!;
    if (at + s > b.length) badOption('kid context runs past the end');
    out.kidContext = b.slice(at, at + s);
    at += s;
  }
  if (flags & FLAG_K) out.kid = b.slice(at);
  else if (at !== b.length) badOption('bytes after the Partial IV without the k flag');
  return out;
}

/** The Partial IV as a sequence number (at most 5 bytes, so below 2^40). */
export function partialIvToNumber(piv: Uint8Array): number {
  let n = 0;
  for (const b of piv) n = n * 256 + b;
  return n;
}

/** RFC 8613 §6.1: the sequence number in network byte order, fewest bytes, 0 as 0x00. */
export function numberToPartialIv(seq: number): Uint8Array {
  const out: number[] = [];
  let n = seq;
  do {
    out.unshift(n % 256);
    n = Math.floor(n / 256);
  } while (n > 0);
  return Uint8Array.from(out);
}
