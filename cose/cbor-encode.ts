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

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Appends a head (RFC 8949 §3.1) in its shortest form; `n` is a bigint only from 2^32 up. */
function writeHead(out: number[], major: number, n: number | bigint): void {
  const m = major << 5;
  if (typeof n === 'number' && n > 0xffffffff) n = BigInt(n); // only a tag number can get here
  if (typeof n === 'bigint') {
    out.push(m | 27);
    for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((n >> shift) & 0xffn));
  } else if (n < 24) out.push(m | n);
  else if (n < 0x100) out.push(m | 24, n);
  else if (n < 0x10000) out.push(m | 25, n >> 8, n & 0xff);
  else out.push(m | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function writeBytes(out: number[], bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]!);
}

/** Writes a value normalise() produced: integers below 2^32 as numbers, wider ones as bigints. */
function writeItem(out: number[], value: unknown): void {
  switch (typeof value) {
    case 'number':
      if (value >= 0) writeHead(out, 0, value);
      else writeHead(out, 1, -1 - value);
      return;
    case 'bigint':
      if (value >= 0n) writeHead(out, 0, value);
      else writeHead(out, 1, -1n - value);
      return;
    case 'string': {
      const bytes = utf8(value);
      writeHead(out, 3, bytes.length);
      writeBytes(out, bytes);
      return;
    }
    case 'boolean':
      out.push(value ? 0xf5 : 0xf4);
      return;
    case 'undefined':
      out.push(0xf7);
      return;
    default:
      break;
  }
  if (value === null) out.push(0xf6);
  else if (value instanceof Uint8Array) {
    writeHead(out, 2, value.length);
    writeBytes(out, value);
  } else if (Array.isArray(value)) {
    writeHead(out, 4, value.length);
    for (const v of value) writeItem(out, v);
  } else if (value instanceof Map) {
    writeHead(out, 5, value.size);
    for (const [k, v] of value) {
      writeItem(out, k);
      writeItem(out, v);
    }
  } else if (value instanceof Tag) {
    if (!Number.isSafeInteger(value.tag) || value.tag < 0) throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, 'CBOR: a tag number is a non-negative integer');
    writeHead(out, 6, value.tag);
    writeItem(out, value.value);
  } else throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, 'CBOR: cannot encode this value');
}

function rawEncode(value: unknown): Uint8Array {
  const out: number[] = [];
  writeItem(out, value);
  return Uint8Array.from(out);
}

/** Rewrites a value into the form the writer encodes deterministically. */
function normalise(value: CborValue, depth: number): unknown {
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
      if (Array.isArray(value)) return value.map((v) => normalise(v, depth + 1));
      if (value instanceof Map) {
        const entries = [...value].map(([k, v]) => {
          const key = normalise(k, depth + 1);
          return { key, bytes: rawEncode(key), value: normalise(v, depth + 1) };
        });
        entries.sort((a, b) => compareBytes(a.bytes, b.bytes));
        for (let i = 1; i < entries.length; i++) {
          if (compareBytes(entries[i - 1]!.bytes, entries[i]!.bytes) === 0) {
            throw new CborError(ERR.CBOR_DUPLICATE_KEY, 'CBOR: two map keys encode the same');
          }
        }
        return new Map(entries.map((e) => [e.key, e.value]));
      }
      if (value instanceof Tag) return new Tag(normalise(value.value as CborValue, depth + 1), value.tag);
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
  const out: number[] = [];
  writeHead(out, 4, items.length);
  for (const item of items) writeBytes(out, item);
  return Uint8Array.from(out);
}

/** Encodes `value` deterministically (RFC 8949 §4.2.1). Returns a fresh Uint8Array. */
export function encodeCbor(value: CborValue): Uint8Array {
  return rawEncode(normalise(value, 0));
}
