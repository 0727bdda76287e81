/**
 * Unsigned integers as fixed-length bytes, in both orders: big-endian for ECDSA (SEC 1 §2.3.7),
 * little-endian for EdDSA (RFC 8032 §5.1.2).
 */
export type ByteOrder = 'big' | 'little';

export function bytesToBigInt(bytes: Uint8Array, order: ByteOrder): bigint {
  let n = 0n;
  const len = bytes.length;
  for (let i = 0; i < len; i++) n = (n << 8n) | BigInt(bytes[order === 'big' ? i : len - 1 - i]!);
  return n;
}

/** `value` (0 ≤ value < 256^length) in `length` bytes. */
export function bigIntToBytes(value: bigint, length: number, order: ByteOrder): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0, v = value; i < length; i++, v >>= 8n) out[order === 'little' ? i : length - 1 - i] = Number(v & 0xffn);
  return out;
}
