/**
 * Strict CBOR decoding (RFC 8949) of everything keybound receives. A checking pass walks the
 * bytes first and refuses, each with a typed error: inputs over the size limit, nesting over the
 * depth limit, declared lengths beyond the input (before anything is allocated), indefinite
 * lengths, non-minimal heads (RFC 8949 §4.2.1), invalid UTF-8, duplicate or floating-point map keys, reserved
 * additional-information values, tags outside the allow-list, and trailing bytes. Only then
 * does cbor-x build the values, from a private copy of the input.
 */
import { Decoder, Tag } from 'cbor-x';
import { CborError, ERR } from './errors.js';
import { ALLOWED_TAGS, DEFAULT_CBOR_LIMITS, type CborLimits } from './cbor-limits.js';
import type { CborValue } from './cbor-value.js';
import { isWellFormedUtf8 } from './utf8.js';

const decoder = new Decoder({ useRecords: false, mapsAsObjects: false, useTag259ForMaps: false } as never);

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

/** Turns cbor-x's Node Buffers into plain Uint8Array views (our core never hands out Buffers). */
function plain(value: unknown): CborValue {
  if (value instanceof Uint8Array) {
    return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.length);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = plain(value[i]);
    return value as CborValue[];
  }
  if (value instanceof Map) {
    let keysPlain = true;
    for (const [k, v] of value) {
      if (k instanceof Uint8Array && k.constructor !== Uint8Array) keysPlain = false;
      value.set(k, plain(v)); // replacing the value of an existing key is safe while iterating
    }
    if (keysPlain) return value as CborValue;
    return new Map([...value].map(([k, v]) => [plain(k), v])) as CborValue;
  }
  if (value instanceof Tag) {
    value.value = plain(value.value);
    return value as CborValue;
  }
  return value as CborValue;
}

/** Decodes one strictly encoded CBOR item. The result shares nothing with `bytes`. */
export function decodeCbor(bytes: Uint8Array, limits: Partial<CborLimits> = {}): CborValue {
  checkCbor(bytes, limits);
  // cbor-x aliases its input; alias a copy nobody else holds.
  // Uint8Array.prototype.slice copies even for a Buffer, whose own slice() would alias.
  return decodeChecked(Uint8Array.prototype.slice.call(bytes));
}

/**
 * For bytes the core already holds privately (a protected header or payload cut from a message
 * it decoded, a plaintext it decrypted): the same checks, without a second copy on the verify
 * path. Byte strings in the result alias `bytes`. Not part of the public surface.
 */
export function decodeOwnedCbor(bytes: Uint8Array, limits: Partial<CborLimits> = {}): CborValue {
  checkCbor(bytes, limits);
  return decodeChecked(bytes);
}

function decodeChecked(bytes: Uint8Array): CborValue {
  try {
    return plain(decoder.decode(bytes));
  } catch (cause) {
    throw new CborError(ERR.CBOR_MALFORMED, 'CBOR: could not be decoded', { cause });
  }
}
