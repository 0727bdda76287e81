/**
 * Deterministic CBOR encoding (RFC 8949 §4.2.1) of everything keybound emits: shortest heads,
 * definite lengths, map keys sorted by the bytes of their encodings, no floats. cbor-x writes the
 * bytes; sorting, integer widths and the refusal of floats and plain objects are ours.
 */
import { Encoder, Tag } from 'cbor-x';
import { CborError, ERR } from './errors.js';
import type { CborValue } from './cbor-value.js';

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  useTag259ForMaps: false,
  tagUint8Array: false,
  variableMapSize: true,
} as never);

const TWO_32 = 2 ** 32;
const TWO_32N = 1n << 32n;
const TWO_64 = 1n << 64n;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function rawEncode(value: unknown): Uint8Array {
  const view = encoder.encode(value);
  return new Uint8Array(view); // cbor-x returns a view into a shared pool: copy it out
}

/** Rewrites a value into the form cbor-x encodes deterministically. */
function normalise(value: CborValue, depth: number): unknown {
  if (depth > 64) throw new CborError(ERR.CBOR_TOO_DEEP, 'CBOR: refusing to encode a structure nested deeper than 64');
  switch (typeof value) {
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new CborError(ERR.CBOR_UNSUPPORTED_VALUE, 'CBOR: floats are not emitted; use an integer');
      }
      // cbor-x writes integers from 2^32 up as float64; as bigint they take the 8-byte head.
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

/** Encodes `value` deterministically (RFC 8949 §4.2.1). Returns a fresh Uint8Array. */
export function encodeCbor(value: CborValue): Uint8Array {
  return rawEncode(normalise(value, 0));
}
