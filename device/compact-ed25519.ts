/**
 * Stands in for @noble/curves/ed25519.js in the verify-only bundle (firmware-sim/device-bundle.ts
 * aliases that module to this one): the Ed25519 operations the portable provider calls, on
 * @noble/ed25519, the same author's one-file Ed25519, with @noble/hashes' SHA-512. Together they are
 * ~7 KB gzipped where noble-curves' generic Edwards, field and curve code is ~13.5 KB, about a
 * third of issue 13's 24 KB budget for the whole bundle. Its v3 is a rewrite of the v1 Cure53
 * audited (2022), not audited itself (its README says so; noble-curves is): verification uses only
 * its field arithmetic, point decoding and addition, after the encodings were checked strictly
 * (cose/eddsa-strict.ts), and test/compact-ed25519.test.ts holds the result to OpenSSL.
 *
 * Scalar multiplication for verification is ours, variable-time over the library's point addition
 * (both multiplications of a verify in one pass, multiplyTwoPublic; one alone with b = 0): it handles
 * public values only, and @noble/ed25519 multiplies the base point with a fixed table of 4,224
 * points (its W = 8 window) built on first use: megabytes of heap a small part does not have, and a
 * token whose cnf key is the base point itself would have it built on a stranger's request.
 * Signing and key generation, which would build that table (and want a constant-time
 * multiplication we do not write), are refused with a typed error: the verify-only device signs
 * nothing and makes no keys, and a firmware that tried should hear why, not run out of memory.
 *
 * test/hostile-keys.test.ts runs the portable provider on this curve through every hostile key and
 * signature the other providers are held to; test/quickjs-device.test.ts runs the built bundle.
 */
// The Point class only: the library's own sign/verify (which take their SHA-512 from its `hashes`)
// are never called here, since the provider hashes with @noble/hashes and checks the equation
// itself, and its `etc` object would keep its hex, concat, random and inversion helpers in the bundle.
import { Point as EdPoint } from '@noble/ed25519';
import { CoseAlgorithmError, ERR, type EdwardsCurve, type EdwardsPoint } from '../cose/index.js';

/** RFC 8032 §5.1: the order L of the base point. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/**
 * [a]P + [b]Q for public points and scalars, 0 <= a, b (Straus/Shamir with 2-bit digits): one
 * chain of doublings from the top, adding [i]P + [j]Q for each pair of base-4 digits (i, j) from
 * a table of 15 points made per call. About half the point operations of two multiplications;
 * the table (~4 KB on QuickJS) is garbage once the call returns.
 */
function multiplyTwoPublic(a: bigint, p: EdPoint, b: bigint, q: EdPoint): EdPoint {
  const digitsA = a.toString(4);
  const digitsB = b.toString(4);
  const n = Math.max(digitsA.length, digitsB.length);
  const da = digitsA.padStart(n, '0');
  const db = digitsB.padStart(n, '0');
  const p2 = p.double();
  const q2 = q.double();
  const multiplesP = [EdPoint.ZERO, p, p2, p2.add(p)];
  const multiplesQ = [EdPoint.ZERO, q, q2, q2.add(q)];
  // table[i + 4j] = [i]P + [j]Q
  const table: EdPoint[] = [];
  for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) table.push(j === 0 ? multiplesP[i]! : i === 0 ? multiplesQ[j]! : multiplesP[i]!.add(multiplesQ[j]!));
  let sum = EdPoint.ZERO;
  for (let k = 0; k < n; k++) {
    sum = sum.double().double();
    const index = da.charCodeAt(k) - 48 + 4 * (db.charCodeAt(k) - 48); // '0'..'3'
    if (index !== 0) sum = sum.add(table[index]!);
  }
  return sum;
}

interface CompactPoint extends EdwardsPoint<CompactPoint> {
  readonly inner: EdPoint;
}

function wrap(inner: EdPoint): CompactPoint {
  return {
    inner,
    add: (other) => wrap(inner.add(other.inner)),
    negate: () => wrap(inner.negate()),
    equals: (other) => inner.equals(other.inner),
    multiplyUnsafe: (n) => wrap(multiplyTwoPublic(n, inner, 0n, EdPoint.ZERO)),
  };
}

const BASE = wrap(EdPoint.BASE);

function verifiesOnly(what: string): never {
  throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, `Ed25519 ${what} is not in the verify-only bundle (it verifies only)`);
}

export const ed25519: EdwardsCurve<CompactPoint> = {
  Point: {
    fromBytes: (bytes, zip215 = false) => wrap(EdPoint.fromBytes(bytes, zip215)),
    // No table to size: multiplyTwoPublic keeps none (cose/portable-provider.ts setEd25519BaseWindow).
    BASE: { ...BASE, precompute: () => BASE },
    Fn: { create: (n) => ((n % L) + L) % L }, // n mod L, in [0, L)
  },
  sign: () => verifiesOnly('signing'),
  // Not reached for Ed25519 (the provider checks the cofactorless equation itself): refuse rather
  // than fall back to the library's cofactored check, which would differ from the other providers.
  verify: () => false,
  keygen: () => verifiesOnly('key generation'),
  lengths: { seed: 32 },
  multiplyTwoPublic: (a, p, b, q) => wrap(multiplyTwoPublic(a, p.inner, b, q.inner)),
};
