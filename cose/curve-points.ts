/**
 * Public points checked at the door, before any key is used or any token is issued for it.
 * Pure arithmetic on the encoding, no curve library: cheap enough to run on every COSE_Key or
 * JWK that arrives (a cnf in every token), and identical under every crypto provider.
 *
 * - EdDSA (RFC 8032 §5.1.3, §5.2.3): the encoding must be canonical (y < p, and the sign bit of
 *   a point with x = 0 clear) and the point must not be of small order. A small-order key (the
 *   identity among them) lets anyone "prove" it: R = identity, S = 0 verifies for every message
 *   under the cofactorless equation. Every encoding of the 8 (Ed25519) or 4 (Ed448) small-order
 *   points has one of a handful of y values, whatever its sign bit, and y ≥ p covers the
 *   non-canonical ones (y + p), so a table of y values suffices.
 *   Whether y decodes to a point at all (x² a square) takes a square root; both providers refuse
 *   such a key at verify, and no one can make a signature for it.
 * - ECDSA keys (SEC 1 §3.2.2.1): 0 ≤ x, y < p and y² = x³ − 3x + b. The NIST curves have
 *   cofactor 1 and the point at infinity has no (x, y), so that is the whole check.
 */
import type { Curve } from './algorithms.js';
import { bigIntToBytes, bytesToBigInt } from './byte-integers.js';

type EdwardsCurve = 'Ed25519' | 'Ed448';
type WeierstrassCurve = 'P-256' | 'P-384' | 'P-521';

interface EdwardsParams {
  /** Field prime. */
  p: bigint;
  /** Order of the prime subgroup (RFC 8032 §5.1, §5.2: L). */
  l: bigint;
  /** y of every small-order point (x's sign does not change y). */
  smallOrderY: readonly bigint[];
}

const ED25519_P = 2n ** 255n - 19n;
const ED448_P = 2n ** 448n - 2n ** 224n - 1n;

const EDWARDS: Record<EdwardsCurve, EdwardsParams> = {
  Ed25519: {
    p: ED25519_P,
    l: 2n ** 252n + 27742317777372353535851937790883648493n,
    // Identity (y = 1), order 2 (y = −1), order 4 (y = 0) and the two y values of the four
    // points of order 8 (RFC 7748 §4.1's torsion, as listed by noble's ED25519_TORSION_SUBGROUP).
    smallOrderY: [
      1n,
      ED25519_P - 1n,
      0n,
      0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n,
      0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
    ],
  },
  Ed448: {
    p: ED448_P,
    l: 2n ** 446n - 13818066809895115352007386748515426880336692474882178609894547503885n,
    // Cofactor 4: identity (y = 1), order 2 (y = −1), order 4 (y = 0).
    smallOrderY: [1n, ED448_P - 1n, 0n],
  },
};

/** Short Weierstrass curves y² = x³ − 3x + b over F_p (SEC 2 §2.4, FIPS 186-5 / SP 800-186 §3.2.1). */
const WEIERSTRASS: Record<WeierstrassCurve, { p: bigint; b: bigint }> = {
  'P-256': {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  'P-384': {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
  'P-521': {
    p: 2n ** 521n - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  },
};

/**
 * a < b for little-endian numbers of b's length, with the top bit of a's last octet ignored when
 * `maskSign` (an EdDSA point's x sign). Bytes, not BigInt: it runs on every verify, from the
 * top octet down, and almost always decides there.
 */
function lessThan(a: Uint8Array, b: Uint8Array, maskSign: boolean): boolean {
  for (let i = b.length - 1; i >= 0; i--) {
    const ai = i === b.length - 1 && maskSign ? a[i]! & 0x7f : a[i]!;
    if (ai !== b[i]) return ai < b[i]!;
  }
  return false;
}

function sameY(a: Uint8Array, y: Uint8Array): boolean {
  const last = y.length - 1;
  if ((a[last]! & 0x7f) !== y[last]) return false;
  for (let i = 0; i < last; i++) if (a[i] !== y[i]) return false;
  return true;
}

const LENGTH: Record<EdwardsCurve, number> = { Ed25519: 32, Ed448: 57 };
const ENCODED = Object.fromEntries(
  (Object.keys(EDWARDS) as EdwardsCurve[]).map((crv) => {
    const { p, l, smallOrderY } = EDWARDS[crv];
    const n = LENGTH[crv];
    return [crv, { p: bigIntToBytes(p, n, 'little'), l: bigIntToBytes(l, n, 'little'), smallOrderY: smallOrderY.map((y) => bigIntToBytes(y, n, 'little')) }];
  }),
) as Record<EdwardsCurve, { p: Uint8Array; l: Uint8Array; smallOrderY: Uint8Array[] }>;

export function isEdwardsCurve(crv: Curve | undefined): crv is EdwardsCurve {
  return crv === 'Ed25519' || crv === 'Ed448';
}

/** Why an EdDSA point encoding (a public key, or a signature's R) is refused; undefined when it is fine. */
export function edwardsPointFlaw(crv: EdwardsCurve, encoded: Uint8Array): string | undefined {
  const { p, smallOrderY } = ENCODED[crv];
  if (encoded.length !== p.length) return `is not ${p.length} bytes`;
  // RFC 8032 §5.1.3 / §5.2.3: the top bit of the last octet is x's sign, the rest is y.
  if (!lessThan(encoded, p, true)) return 'is not a canonical point encoding (y ≥ p)';
  if (smallOrderY.some((y) => sameY(encoded, y))) return 'is a small-order point';
  return undefined;
}

/** RFC 8032 §5.1.7 / §5.2.7: S < L, little-endian. */
export function isReducedScalar(crv: EdwardsCurve, s: Uint8Array): boolean {
  const { l } = ENCODED[crv];
  return s.length === l.length && lessThan(s, l, false);
}

/** Why an uncompressed ECDSA public point is refused; undefined when it is on the curve. */
export function weierstrassPointFlaw(crv: WeierstrassCurve, xBytes: Uint8Array, yBytes: Uint8Array): string | undefined {
  const { p, b } = WEIERSTRASS[crv];
  const x = bytesToBigInt(xBytes, 'big');
  const y = bytesToBigInt(yBytes, 'big');
  if (x >= p || y >= p) return 'is not a field element (≥ p)';
  if ((y * y - (((x * x) % p) * x - 3n * x + b)) % p !== 0n) return 'is not a point on the curve';
  return undefined;
}

/**
 * Why a key's public point must not be used, naming the parameter; undefined when it may.
 * Lengths are checked before (cose-key.ts); a Symmetric key has no point.
 */
export function publicPointFlaw(key: { crv?: Curve; x?: Uint8Array; y?: Uint8Array }): string | undefined {
  if (!key.crv || !key.x) return undefined;
  if (isEdwardsCurve(key.crv)) {
    const flaw = edwardsPointFlaw(key.crv, key.x);
    return flaw && `x(-2) ${flaw}`;
  }
  if (!key.y) return undefined;
  const flaw = weierstrassPointFlaw(key.crv, key.x, key.y);
  return flaw && `(x(-2), y(-3)) ${flaw}`;
}
