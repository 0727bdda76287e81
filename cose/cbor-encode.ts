/**
 * Deterministic CBOR encoding (RFC 8949 §4.2.1) of everything keybound emits: shortest heads,
 * definite lengths, map keys sorted by the bytes of their encodings, no floats. The writer is
 * ours (a few dozen lines: the values we emit are integers, strings, byte strings, arrays, maps,
 * tags and simple values), not cbor-x's Encoder: that one is ~15 KB of a device bundle and ~50 KB
 * of QuickJS heap for features we refuse anyway. test/cbor.test.ts holds it to cbor-x byte for byte.
 */
import { Tag } from './cbor-value.js';
import { CborError, ERR } from './errors.js';
import { utf8 } from './utf8.js';
import type { CborValue } from './cbor-value.js';

const TWO_32 = 2 ** 32;
const TWO_32N = 1n << 32n;
const TWO_64 = 1n << 64n;

/**
 * The bytes written so far, in a buffer that doubles when full. A token is a few hundred bytes:
 * one or two buffers, where an array of numbers took eight bytes of heap per byte written and
 * Uint8Array.from copied it once more (issue 13: the service allocated ~106 KB per token).
 */
interface Out {
  buf: Uint8Array;
  len: number;
}

function room(out: Out, n: number): void {
  if (out.len + n <= out.buf.length) return;
  let size = Math.max(out.buf.length * 2, 64);
  while (size < out.len + n) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(out.buf.subarray(0, out.len));
  out.buf.fill(0, 0, out.len); // what it held may be secret (release below)
  out.buf = grown;
}

/** Appends a head (RFC 8949 §3.1) in its shortest form; `n` is a bigint only from 2^32 up. */
function writeHead(out: Out, major: number, n: number | bigint): void {
  const m = major << 5;
  if (typeof n === 'number' && n > 0xffffffff) n = BigInt(n); // only a tag number can get here
  room(out, 9);
  const b = out.buf;
  if (typeof n === 'bigint') {
    b[out.len++] = m | 27;
    for (let shift = 56n; shift >= 0n; shift -= 8n) b[out.len++] = Number((n >> shift) & 0xffn);
    return;
  }
  // Argument bytes 0, 1, 2 or 4 (additional information n itself, 24, 25, 26).
  const size = n < 24 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : 4;
  b[out.len++] = m | (size === 0 ? n : size === 4 ? 26 : 23 + size);
  for (let i = size - 1; i >= 0; i--) b[out.len++] = (n >>> (8 * i)) & 0xff;
}

function writeByte(out: Out, byte: number): void {
  room(out, 1);
  out.buf[out.len++] = byte;
}

function writeBytes(out: Out, bytes: Uint8Array): void {
  room(out, bytes.length);
  out.buf.set(bytes, out.len);
  out.len += bytes.length;
}

/** Text: ASCII (every claim and parameter name, most values) goes straight in; the rest through utf8(). */
function writeText(out: Out, text: string): void {
  const n = text.length;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (!ascii) {
    const bytes = utf8(text);
    writeHead(out, 3, bytes.length);
    writeBytes(out, bytes);
    return;
  }
  writeHead(out, 3, n);
  room(out, n);
  const b = out.buf;
  for (let i = 0; i < n; i++) b[out.len++] = text.charCodeAt(i);
}

/**
 * A map normalise() has put in order (RFC 8949 §4.2.1: by the bytes of the encoded keys). Its keys
 * stay encoded, side by side in one buffer, so that the writer copies them rather than encoding
 * them a second time, and a map costs one buffer rather than one per key.
 */
class SortedMap {
  constructor(
    readonly keys: Out,
    readonly entries: ReadonlyArray<KeyedEntry>,
  ) {}
}

interface KeyedEntry {
  /** The key's encoding: keys.buf[start, end). */
  start: number;
  end: number;
  value: unknown;
}

function compareKeys(buf: Uint8Array, a: KeyedEntry, b: KeyedEntry): number {
  const la = a.end - a.start;
  const lb = b.end - b.start;
  const n = Math.min(la, lb);
  for (let i = 0; i < n; i++) {
    const d = buf[a.start + i]! - buf[b.start + i]!;
    if (d !== 0) return d;
  }
  return la - lb;
}

/** In place; insertion sort for the small maps we emit (no scratch allocation), the engine's sort past that. */
function sortEntries(buf: Uint8Array, entries: KeyedEntry[]): void {
  if (entries.length > 16) {
    entries.sort((a, b) => compareKeys(buf, a, b));
    return;
  }
  for (let i = 1; i < entries.length; i++) {
    const e = entries[i]!;
    let j = i - 1;
    while (j >= 0 && compareKeys(buf, entries[j]!, e) > 0) {
      entries[j + 1] = entries[j]!;
      j--;
    }
    entries[j + 1] = e;
  }
}

/** Writes a value normalise() produced: integers below 2^32 as numbers, wider ones as bigints. */
function writeItem(out: Out, value: unknown): void {
  switch (typeof value) {
    case 'number':
      if (value >= 0) writeHead(out, 0, value);
      else writeHead(out, 1, -1 - value);
      return;
    case 'bigint':
      if (value >= 0n) writeHead(out, 0, value);
      else writeHead(out, 1, -1n - value);
      return;
    case 'string':
      writeText(out, value);
      return;
    case 'boolean':
      writeByte(out, value ? 0xf5 : 0xf4);
      return;
    case 'undefined':
      writeByte(out, 0xf7);
      return;
    default:
      break;
  }
  if (value === null) writeByte(out, 0xf6);
  else if (value instanceof Uint8Array) {
    writeHead(out, 2, value.length);
    writeBytes(out, value);
  } else if (Array.isArray(value)) {
    writeHead(out, 4, value.length);
    for (const v of value) writeItem(out, v);
  } else if (value instanceof SortedMap) {
    writeHead(out, 5, value.entries.length);
    for (const e of value.entries) {
      room(out, e.end - e.start);
      // Read after room(): a map used as a map key is written into the keys buffer itself, which may have moved.
      const keys = value.keys.buf;
      for (let i = e.start; i < e.end; i++) out.buf[out.len++] = keys[i]!;
      writeItem(out, e.value);
    }
  } else if (value instanceof Tag) {
    if (!Number.isSafeInteger(value.tag) || value.tag < 0) throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, 'CBOR: a tag number is a non-negative integer');
    writeHead(out, 6, value.tag);
    writeItem(out, value.value);
  } else throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, 'CBOR: cannot encode this value');
}

/**
 * Work buffers kept from one call to the next: one for the encoded keys of every map in the value,
 * one for the value's bytes, of which the caller gets a copy of exactly its length. A typed array
 * is dear to make (in V8, past 64 bytes it lives outside the heap) and cheap to fill, and a device
 * had rather keep two small buffers than make garbage on every call. Not kept when a call needed
 * more than KEEP_BYTES, and wiped after each use: the bytes may be a private key or a Master Secret.
 */
const KEEP_BYTES = 1024;
let keptKeys: Uint8Array | undefined;
let keptOut: Uint8Array | undefined;
/** Set during a call: a Map whose forEach calls encodeCbor again gets buffers of its own. */
let inUse = false;

function release(out: Out): Uint8Array | undefined {
  out.buf.fill(0, 0, out.len);
  return out.buf.length <= KEEP_BYTES ? out.buf : undefined;
}

/** Rewrites a value into the form the writer encodes deterministically. */
function normalise(value: CborValue, depth: number, keys: Out): unknown {
  if (depth > 64) throw new CborError(ERR.CBOR_TOO_DEEP, 'CBOR: refusing to encode a structure nested deeper than 64');
  switch (typeof value) {
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, 'CBOR: floats are not emitted; use an integer');
      }
      // Integers from 2^32 up go to the writer as bigints: they take the 8-byte head.
      return value >= TWO_32 || value < -TWO_32 ? BigInt(value) : value;
    case 'bigint':
      if (value >= TWO_64 || value < -TWO_64) {
        throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, 'CBOR: integer beyond 64 bits');
      }
      return value >= -TWO_32N && value < TWO_32N ? Number(value) : value;
    case 'string':
    case 'boolean':
    case 'undefined':
      return value;
    case 'object':
      if (value === null) return null;
      if (value instanceof Uint8Array) return value;
      if (Array.isArray(value)) return value.map((v) => normalise(v, depth + 1, keys));
      if (value instanceof Map) {
        const entries: KeyedEntry[] = [];
        value.forEach((v, k) => {
          const key = normalise(k, depth + 1, keys);
          const start = keys.len;
          writeItem(keys, key);
          entries.push({ start, end: keys.len, value: normalise(v, depth + 1, keys) });
        });
        sortEntries(keys.buf, entries);
        for (let i = 1; i < entries.length; i++) {
          if (compareKeys(keys.buf, entries[i - 1]!, entries[i]!) === 0) {
            throw new CborError(ERR.CBOR_DUPLICATE_KEY, 'CBOR: two map keys encode the same');
          }
        }
        return new SortedMap(keys, entries);
      }
      if (value instanceof Tag) return new Tag(normalise(value.value as CborValue, depth + 1, keys), value.tag);
      break;
    default:
      break;
  }
  throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, `CBOR: cannot encode a ${typeof value}; use Map for maps`);
}

/**
 * A definite-length CBOR array (RFC 8949 §3.1, major type 4) of items already encoded by
 * encodeCbor, without decoding them again: the device's token store keeps each entry encoded.
 */
export function encodeCborArrayOf(items: readonly Uint8Array[]): Uint8Array {
  let total = 9;
  for (const item of items) total += item.length;
  const out: Out = { buf: new Uint8Array(total), len: 0 };
  writeHead(out, 4, items.length);
  for (const item of items) writeBytes(out, item);
  return out.buf.slice(0, out.len);
}

/** Encodes `value` deterministically (RFC 8949 §4.2.1). Returns a fresh Uint8Array. */
export function encodeCbor(value: CborValue): Uint8Array {
  const reentered = inUse;
  const keys: Out = { buf: (!reentered && keptKeys) || new Uint8Array(64), len: 0 };
  const out: Out = { buf: (!reentered && keptOut) || new Uint8Array(256), len: 0 };
  inUse = true;
  try {
    writeItem(out, normalise(value, 0, keys));
    return out.buf.slice(0, out.len);
  } finally {
    if (!reentered) {
      keptKeys = release(keys);
      keptOut = release(out);
      inUse = false;
    }
  }
}
