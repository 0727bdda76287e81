import { Tag } from 'cbor-x';

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

export { Tag };

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
