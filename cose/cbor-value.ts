/**
 * A CBOR tag (RFC 8949 §3.4): its number and content. Ours, with cbor-x's shape (value, tag), so
 * the core carries no CBOR library at all (cbor-decode.ts, cbor-encode.ts).
 */
export class Tag {
  constructor(
    public value: unknown,
    public tag: number,
  ) {}
}

/** What our CBOR codec reads and writes. Maps are always `Map` so that integer keys stay integers. */
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | CborMap
  | Tag;

export type CborMap = Map<CborValue, CborValue>;


export function isMap(value: unknown): value is CborMap {
  return value instanceof Map;
}

/** Integers arrive as number, or bigint when their head took 8 bytes; this gives a safe number. */
export function asSafeInteger(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(value);
  }
  return undefined;
}
