/**
 * Strict CBOR decoding (RFC 8949) of everything keybound receives. A checking pass walks the
 * bytes first and refuses, each with a typed error: inputs over the size limit, nesting over the
 * depth limit, declared lengths beyond the input (before anything is allocated), indefinite
 * lengths, non-minimal heads (RFC 8949 §4.2.1), invalid UTF-8, duplicate or floating-point map keys, reserved
 * additional-information values, tags outside the allow-list, and trailing bytes. Only then are
 * the values built (readItem), byte strings as copies of their own: our own reader, not cbor-x's
 * Decoder, which is ~16 KB of a device bundle and probes host globals at import.
 */
import { Tag } from './cbor-value.js';
import { CborError, ERR } from './errors.js';
import { ALLOWED_TAGS, DEFAULT_CBOR_LIMITS, type CborLimits } from './cbor-limits.js';
import type { CborValue } from './cbor-value.js';
import { fromUtf8, isWellFormedUtf8 } from './utf8.js';

interface Walk {
  bytes: Uint8Array;
  maxDepth: number;
}

/** Reads an item's head; returns [major, argument, offset after the head, indefinite]. */
function readHead(w: Walk, offset: number): [number, number, number] {
  const { bytes } = w;
  if (offset >= bytes.length) throw new CborError(ERR.CBOR_TRUNCATED, 'CBOR: input ends inside an item');
  const initial = bytes[offset]!;
  const major = initial >> 5;
  const info = initial & 0x1f;
  offset += 1;
  if (info < 24) return [major, info, offset];
  if (info === 31) {
    // RFC 9052 §9: COSE structures use definite lengths; we accept none anywhere.
    throw new CborError(ERR.CBOR_INDEFINITE_LENGTH, `CBOR: indefinite length at byte ${offset - 1}`);
  }
  if (info > 27) throw new CborError(ERR.CBOR_MALFORMED, `CBOR: reserved additional information ${info}`);
  const size = 1 << (info - 24);
  if (offset + size > bytes.length) throw new CborError(ERR.CBOR_TRUNCATED, 'CBOR: input ends inside a head');
  let value = 0;
  for (let i = 0; i < size; i++) value = value * 256 + bytes[offset + i]!;
  // Major type 7 with 2/4/8-byte arguments are floats, which have their own preferred forms.
  if (major !== 7) {
    const minimum = info === 24 ? 24 : info === 25 ? 0x100 : info === 26 ? 0x10000 : 0x100000000;
    if (value < minimum) {
      throw new CborError(ERR.CBOR_NON_MINIMAL, `CBOR: non-minimal head at byte ${offset - 1}`);
    }
  } else if (info === 24 && value < 32) {
    // RFC 8949 §3.3: simple values 0..31 in two bytes are not well-formed.
    throw new CborError(ERR.CBOR_MALFORMED, 'CBOR: two-byte simple value below 32');
  }
  return [major, value, offset + size];
}

/** A string with one char per byte, usable as a Set key. Chunked: spreading 64 KiB would overflow the stack. */
function bytesAsKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

const SMALL_MAP = 16;

function sameBytes(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let i = 0; i < e1 - s1; i++) if (b[s1 + i] !== b[s2 + i]) return false;
  return true;
}

function duplicateKey(offset: number): CborError {
  return new CborError(ERR.CBOR_DUPLICATE_KEY, `CBOR: duplicate map key at byte ${offset}`);
}

function need(w: Walk, offset: number, length: number): void {
  // Compare against what is left before allocating anything: a length bomb fails here.
  if (length > w.bytes.length - offset) {
    throw new CborError(ERR.CBOR_TRUNCATED, `CBOR: declared length ${length} exceeds the input`);
  }
}

function walk(w: Walk, offset: number, depth: number): number {
  if (depth > w.maxDepth) throw new CborError(ERR.CBOR_TOO_DEEP, `CBOR: nested deeper than ${w.maxDepth}`);
  const [major, arg, next] = readHead(w, offset);
  switch (major) {
    case 0:
    case 1:
      return next;
    case 2:
      need(w, next, arg);
      return next + arg;
    case 3:
      need(w, next, arg);
      if (!isWellFormedUtf8(w.bytes, next, next + arg)) {
        throw new CborError(ERR.CBOR_BAD_UTF8, `CBOR: invalid UTF-8 in text at byte ${offset}`);
      }
      return next + arg;
    case 4: {
      need(w, next, arg); // every element takes at least one byte
      let at = next;
      for (let i = 0; i < arg; i++) at = walk(w, at, depth + 1);
      return at;
    }
    case 5: {
      need(w, next, arg * 2);
      let at = next;
      // Minimal heads are enforced, so equal keys have equal bytes (RFC 8949 §5.6). Small maps
      // (every COSE header and claims set) compare byte ranges; large ones use a Set.
      const starts: number[] = [];
      const ends: number[] = [];
      const seen = arg > SMALL_MAP ? new Set<string>() : undefined;
      for (let i = 0; i < arg; i++) {
        const keyStart = at;
        // A float key decodes to the same JS number as an integer key (1.0 and 1 would merge, the
        // last one winning, with different bytes): COSE labels are ints or text (RFC 9052 §1.5).
        const keyHead = w.bytes[keyStart];
        if (keyHead !== undefined && keyHead >> 5 === 7 && (keyHead & 0x1f) >= 25 && (keyHead & 0x1f) <= 27) {
          throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, `CBOR: floating-point map key at byte ${keyStart}`);
        }
        at = walk(w, at, depth + 1);
        if (seen) {
          const key = bytesAsKey(w.bytes.subarray(keyStart, at));
          if (seen.has(key)) throw duplicateKey(keyStart);
          seen.add(key);
        } else {
          for (let j = 0; j < starts.length; j++) {
            if (sameBytes(w.bytes, starts[j]!, ends[j]!, keyStart, at)) throw duplicateKey(keyStart);
          }
          starts.push(keyStart);
          ends.push(at);
        }
        at = walk(w, at, depth + 1);
      }
      return at;
    }
    case 6:
      if (!ALLOWED_TAGS.has(arg)) throw new CborError(ERR.CBOR_TAG_NOT_ALLOWED, `CBOR: tag ${arg} is not allowed`);
      return walk(w, next, depth + 1);
    default: {
      const info = w.bytes[offset]! & 0x1f;
      if (info < 20) throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, `CBOR: unassigned simple value ${info}`);
      if (info === 24) throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, `CBOR: unassigned simple value ${arg}`);
      return next;
    }
  }
}

/** Checks that `bytes` holds exactly one well-formed, strictly encoded CBOR item. */
export function checkCbor(bytes: Uint8Array, limits: Partial<CborLimits> = {}): void {
  const maxBytes = limits.maxBytes ?? DEFAULT_CBOR_LIMITS.maxBytes;
  const maxDepth = limits.maxDepth ?? DEFAULT_CBOR_LIMITS.maxDepth;
  if (!(bytes instanceof Uint8Array)) throw new CborError(ERR.CBOR_MALFORMED, 'CBOR: expected a byte string');
  if (bytes.length > maxBytes) {
    throw new CborError(ERR.CBOR_TOO_LARGE, `CBOR: ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  }
  if (bytes.length === 0) throw new CborError(ERR.CBOR_TRUNCATED, 'CBOR: empty input');
  const end = walk({ bytes, maxDepth }, 0, 0);
  if (end !== bytes.length) {
    throw new CborError(ERR.CBOR_TRAILING_BYTES, `CBOR: ${bytes.length - end} trailing bytes after the item`);
  }
}

/**
 * Builds the value of an item the walk above has already checked (so heads are minimal, lengths
 * fit, text is UTF-8 and depth is bounded): integers as numbers, 8-byte ones as bigints; byte
 * strings as copies of their own (`copy`) or as views of `bytes`; maps as Map; tags 2 and 3 as bigints (RFC 8949 §3.4.3), other
 * allowed tags as Tag; floats as numbers. Returns the value and the offset after it.
 */
function readItem(bytes: Uint8Array, offset: number, copy: boolean): [CborValue, number] {
  const initial = bytes[offset]!;
  const major = initial >> 5;
  const info = initial & 0x1f;
  let at = offset + 1;
  let n = info;
  let wide: bigint | undefined;
  if (info === 24) n = bytes[at++]!;
  else if (info === 25) {
    n = (bytes[at]! << 8) | bytes[at + 1]!;
    at += 2;
  } else if (info === 26) {
    n = ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;
    at += 4;
  } else if (info === 27) {
    wide = 0n;
    for (let i = 0; i < 8; i++) wide = (wide << 8n) | BigInt(bytes[at + i]!);
    at += 8;
  }
  switch (major) {
    case 0:
      return [wide ?? n, at];
    case 1:
      return [wide !== undefined ? -1n - wide : -1 - n, at];
    case 2:
      // A copy of its own (decodeCbor), or a plain Uint8Array view even when `bytes` is a Node
      // Buffer (decodeOwnedCbor; our core never hands out Buffers).
      return [copy ? bytes.slice(at, at + n) : new Uint8Array(bytes.buffer, bytes.byteOffset + at, n), at + n];
    case 3:
      return [fromUtf8(bytes.subarray(at, at + n)), at + n];
    case 4: {
      const out: CborValue[] = [];
      for (let i = 0; i < n; i++) {
        const [v, next] = readItem(bytes, at, copy);
        out.push(v);
        at = next;
      }
      return [out, at];
    }
    case 5: {
      const out = new Map<CborValue, CborValue>();
      for (let i = 0; i < n; i++) {
        const [k, afterKey] = readItem(bytes, at, copy);
        const [v, next] = readItem(bytes, afterKey, copy);
        out.set(k, v);
        at = next;
      }
      return [out, at];
    }
    case 6: {
      const [content, next] = readItem(bytes, at, copy);
      if (n === 2 || n === 3) {
        if (!(content instanceof Uint8Array)) throw new CborError(ERR.CBOR_MALFORMED, `CBOR: bignum tag ${n} needs a byte string`);
        let big = 0n;
        for (const byte of content) big = (big << 8n) | BigInt(byte);
        return [n === 2 ? big : -1n - big, next];
      }
      return [new Tag(content, n), next];
    }
    default:
      return [simpleOrFloat(bytes, offset, info), at];
  }
}

/** Major type 7 after the walk: false, true, null, undefined, or a half, single or double float. */
function simpleOrFloat(bytes: Uint8Array, offset: number, info: number): CborValue {
  if (info === 20) return false;
  if (info === 21) return true;
  if (info === 22) return null;
  if (info === 23) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset + 1);
  if (info === 26) return view.getFloat32(0);
  if (info === 27) return view.getFloat64(0);
  // RFC 8949 Appendix D: half precision.
  const half = view.getUint16(0);
  const exp = (half >> 10) & 0x1f;
  const mant = half & 0x3ff;
  const value = exp === 0 ? mant * 2 ** -24 : exp !== 31 ? (mant + 1024) * 2 ** (exp - 25) : mant === 0 ? Infinity : NaN;
  return half & 0x8000 ? -value : value;
}

/** Decodes one strictly encoded CBOR item. The result shares nothing with `bytes`. */
export function decodeCbor(bytes: Uint8Array, limits: Partial<CborLimits> = {}): CborValue {
  checkCbor(bytes, limits);
  // Each byte string in the result is a copy of its own: nothing in it aliases `bytes`, which the
  // caller may change or reuse. Cut from a plain view, so that a Buffer's bytes still come out as
  // plain Uint8Arrays (a Buffer's slice is a Buffer). Copying each byte string, not the whole
  // input first, halved a token's decode: a small copy stays on V8's heap, and a view of one
  // forced its bytes out of it.
  const plain = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return readItem(plain, 0, true)[0];
}

/**
 * For bytes the core already holds privately (a protected header or payload cut from a message
 * it decoded, a plaintext it decrypted): the same checks, without a second copy on the verify
 * path. Byte strings in the result alias `bytes`. Not part of the public surface.
 */
export function decodeOwnedCbor(bytes: Uint8Array, limits: Partial<CborLimits> = {}): CborValue {
  checkCbor(bytes, limits);
  return readItem(bytes, 0, false)[0];
}
