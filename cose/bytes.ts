/**
 * Byte-string plumbing for the portable core: Uint8Array only (never Buffer), checked at
 * the door as noble does, in plain ECMAScript (no host globals: the core runs on QuickJS).
 */
import { CoseError, ERR } from './errors.js';

// ECMAScript-only UTF-8 (utf8.ts): no host TextEncoder/TextDecoder in the portable core.
export { utf8, fromUtf8 } from './utf8.js';

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Compares in time that depends only on the lengths, for MACs, tags and secrets. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const HEX_CODES = Array.from({ length: 16 }, (_, i) => '0123456789abcdef'.charCodeAt(i));

// Token hashes, jtis and key ids become map keys on every request (broker admission, device
// replay guard): character codes, then one string, cost ~0.4x appending two-digit pieces (which
// a Map key must then flatten), with no table on the heap beyond sixteen codes.
export function toHex(bytes: Uint8Array): string {
  const codes = new Array<number>(bytes.length * 2);
  for (let i = 0, o = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    codes[o++] = HEX_CODES[b >> 4]!;
    codes[o++] = HEX_CODES[b & 15]!;
  }
  return charCodesToString(codes);
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.trim();
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new CoseError(ERR.COSE_MALFORMED, 'hex: expected an even number of hex digits');
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
// Built in pure expressions, not a loop at module level: a bundle without base64url (the
// verify-only device) then drops the tables instead of running the loop for nothing.
const B64URL_CODES: number[] = /* @__PURE__ */ Array.from(B64URL, (c) => c.charCodeAt(0));
const B64URL_INDEX = /* @__PURE__ */ (() => {
  const index = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64URL.length; i++) index[B64URL.charCodeAt(i)] = i;
  return index;
})();

/** One string from character codes; in slices, since an engine's argument count is bounded. */
function charCodesToString(codes: number[]): string {
  if (codes.length <= 8192) return String.fromCharCode.apply(null, codes);
  let s = '';
  for (let i = 0; i < codes.length; i += 8192) s += String.fromCharCode.apply(null, codes.slice(i, i + 8192));
  return s;
}

/** RFC 4648 §5 base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  // Character codes first, then one string: appending four one-character strings per three bytes
  // made ~8 KB of short-lived string pieces for a 190-byte token (the service's largest allocation
  // per token) and took 1.6x as long.
  const n = bytes.length;
  const codes = new Array<number>(Math.ceil((n * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    codes[o++] = B64URL_CODES[v >> 18]!;
    codes[o++] = B64URL_CODES[(v >> 12) & 63]!;
    codes[o++] = B64URL_CODES[(v >> 6) & 63]!;
    codes[o++] = B64URL_CODES[v & 63]!;
  }
  const rest = n - i;
  if (rest > 0) {
    const v = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    codes[o++] = B64URL_CODES[v >> 18]!;
    codes[o++] = B64URL_CODES[(v >> 12) & 63]!;
    if (rest === 2) codes[o++] = B64URL_CODES[(v >> 6) & 63]!;
  }
  return charCodesToString(codes);
}

/** Strict RFC 4648 §5 base64url: no padding, no whitespace, canonical trailing bits. */
export function fromBase64Url(text: string): Uint8Array {
  if (text.length % 4 === 1) throw new CoseError(ERR.COSE_MALFORMED, 'base64url: bad length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64URL_INDEX[c]! : -1;
    if (v < 0) throw new CoseError(ERR.COSE_MALFORMED, `base64url: bad character at ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new CoseError(ERR.COSE_MALFORMED, 'base64url: non-canonical trailing bits');
  }
  return out.subarray(0, o);
}

/** Checks that `value` is a Uint8Array of one of the given lengths; says what was expected. */
export function checkBytes(value: unknown, what: string, ...lengths: number[]): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CoseError(ERR.COSE_BAD_LENGTH, `${what}: expected a byte string`);
  }
  if (lengths.length > 0 && !lengths.includes(value.length)) {
    throw new CoseError(
      ERR.COSE_BAD_LENGTH,
      `${what}: expected ${lengths.join(' or ')} bytes, got ${value.length}`,
    );
  }
  return value;
}
