/**
 * UTF-8 in plain ECMAScript, so that the portable core needs no host TextEncoder/TextDecoder
 * (QuickJS, Moddable XS and other embedded engines have none). Encoding follows the WHATWG
 * Encoding Standard exactly as TextEncoder does (a lone surrogate becomes U+FFFD), so the bytes
 * we emit are the ones a Node or browser peer emits; decoding is strict (RFC 3629 §3/§4).
 */
import { CborError, ERR } from './errors.js';

/** Encodes text as UTF-8, byte for byte as WHATWG TextEncoder does. */
export function utf8(text: string): Uint8Array {
  // At most 3 bytes per UTF-16 unit (a surrogate pair is 2 units for 4 bytes).
  const out = new Uint8Array(text.length * 3);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 63);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[o++] = 0xf0 | (cp >> 18);
        out[o++] = 0x80 | ((cp >> 12) & 63);
        out[o++] = 0x80 | ((cp >> 6) & 63);
        out[o++] = 0x80 | (cp & 63);
        continue;
      }
      c = 0xfffd; // WHATWG: an unpaired surrogate is encoded as the replacement character
    }
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 63);
    out[o++] = 0x80 | (c & 63);
  }
  return out.slice(0, o);
}

/**
 * RFC 3629 §4 well-formedness, checked in place: no overlong forms, no surrogates, nothing past
 * U+10FFFF. Checking without decoding keeps strings we only validate from being allocated.
 */
export function isWellFormedUtf8(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let max = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = c === 0xe0 ? 0xa0 : 0x80; // E0 A0..BF: no overlong 3-byte forms
      if (c === 0xed) max = 0x9f; // ED 80..9F: no UTF-16 surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = c === 0xf0 ? 0x90 : 0x80; // F0 90..BF: no overlong 4-byte forms
      if (c === 0xf4) max = 0x8f; // F4 80..8F: nothing past U+10FFFF
    } else {
      return false;
    }
    if (i + need >= end) return false;
    const second = b[i + 1]!;
    if (second < min || second > max) return false;
    for (let k = 2; k <= need; k++) {
      const cont = b[i + k]!;
      if (cont < 0x80 || cont > 0xbf) return false;
    }
    i += need + 1;
  }
  return true;
}

/** Decodes UTF-8, refusing invalid sequences (RFC 8949 §3.1: text strings are valid UTF-8). */
export function fromUtf8(bytes: Uint8Array): string {
  if (!isWellFormedUtf8(bytes, 0, bytes.length)) throw new CborError(ERR.CBOR_BAD_UTF8, 'UTF-8: invalid byte sequence');
  let s = '';
  let units: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const c = bytes[i]!;
    let cp: number;
    // Well-formedness was checked above, so lead and continuation bytes are where they must be.
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if (c < 0xe0) {
      cp = ((c & 31) << 6) | (bytes[i + 1]! & 63);
      i += 2;
    } else if (c < 0xf0) {
      cp = ((c & 15) << 12) | ((bytes[i + 1]! & 63) << 6) | (bytes[i + 2]! & 63);
      i += 3;
    } else {
      cp = ((c & 7) << 18) | ((bytes[i + 1]! & 63) << 12) | ((bytes[i + 2]! & 63) << 6) | (bytes[i + 3]! & 63);
      i += 4;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    // Flush in chunks: fromCharCode over a huge argument list would overflow the stack.
    if (units.length >= 4096) {
      s += String.fromCharCode(...units);
      units = [];
    }
  }
  return s + String.fromCharCode(...units);
}
