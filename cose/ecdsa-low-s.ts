/**
 * ECDSA signatures are malleable: (r, s) and (r, n - s) both verify. Verifiers must accept both
 * (node:crypto and most COSE peers make high-S signatures half the time), so a token's identity
 * cannot rest on which one it carries: canonical token bytes (token-hash.ts) and our own signers
 * use the low-S form (s <= n/2, as BIP 62 / SEC 1 implementations call it).
 */
import { concatBytes } from './bytes.js';
import { bigIntToBytes, bytesToBigInt } from './byte-integers.js';

/** Group orders n of P-256, P-384, P-521 (SEC 2 v2 §2.4.2, §2.5.1, §2.6.1), by the byte length of r‖s. */
const ORDERS = new Map<number, bigint>([
  [64, 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n],
  [96, 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n],
  [132, 0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n],
]);

export const ECDSA_ORDERS: ReadonlyMap<number, bigint> = ORDERS;

/** r‖s with s replaced by n - s when s > n/2; any other length (not ECDSA) comes back unchanged. */
export function lowS(signature: Uint8Array): Uint8Array {
  const n = ORDERS.get(signature.length);
  if (n === undefined) return signature;
  const half = signature.length / 2;
  const s = bytesToBigInt(signature.subarray(half), 'big');
  if (s <= n >> 1n) return signature;
  return concatBytes(signature.subarray(0, half), bigIntToBytes(n - s, half, 'big'));
}
