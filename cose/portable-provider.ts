/**
 * Crypto providers on @noble/* only, no node: imports, so they run on any JS engine a device
 * has. Strict verification: Ed25519 per RFC 8032 (not ZIP-215) with the rules the native provider
 * applies too (eddsa-strict.ts, curve-points.ts, the cofactorless equation), ECDSA accepting high-S
 * signatures, which other COSE implementations produce (noble rejects them by default).
 * The curves are passed in, so that a device bundle carries only the ones it uses.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import type { gcm } from '@noble/ciphers/aes.js';
import type { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { HASHES } from './hash-functions.js';
import { symmetricMethods } from './symmetric-methods.js';
import { concatBytes } from './bytes.js';
import { bytesToBigInt } from './byte-integers.js';
import { publicPointFlaw } from './curve-points.js';
import { eddsaStrictlyValid } from './eddsa-strict.js';
import { CoseAlgorithmError, CoseError, CoseKeyError, ERR } from './errors.js';
import type { Curve } from './algorithms.js';
import type { CoseKey } from './cose-key.js';
import type { CryptoProvider, KeyPair } from './crypto-provider.js';

/** A point of an Edwards curve, as far as verification uses one. */
export interface EdwardsPoint<P> {
  add(other: P): P;
  negate(): P;
  equals(other: P): boolean;
  multiplyUnsafe(scalar: bigint): P;
}

/**
 * What this provider calls of an Edwards curve: noble-curves' ed25519 and ed448 have it, and so
 * has the verify-only device's smaller Ed25519 (device/compact-ed25519.ts).
 */
export interface EdwardsCurve<P extends EdwardsPoint<P> = any> {
  Point: {
    fromBytes(bytes: Uint8Array, zip215?: boolean): P;
    BASE: P & { precompute(window: number): unknown };
    Fn: { create(n: bigint): bigint };
  };
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  keygen(seed: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array };
  lengths: { seed?: number };
  /**
   * [a]P + [b]Q of public points and scalars in one pass (Straus), where a curve without a base
   * table has one: verification then doubles once rather than twice (device/compact-ed25519.ts).
   */
  multiplyTwoPublic?(a: bigint, p: P, b: bigint, q: P): P;
}

type WeierstrassCurve = typeof p256;

export interface NobleCurves {
  edwards: Partial<Record<'Ed25519' | 'Ed448', EdwardsCurve>>;
  weierstrass: Partial<Record<'P-256' | 'P-384' | 'P-521', WeierstrassCurve>>;
  /** ChaCha20/Poly1305 (RFC 9053 §4.3): ~3 KB gzipped that a device on AES-CCM never uses. */
  chacha20poly1305?: typeof chacha20poly1305;
  /**
   * AES-GCM (RFC 9053 §4.1). Not in the device's provider: importing noble's AES builds ~1.3 MB of
   * lookup tables, more RAM than a small part has; devices use AES-CCM (aes-ccm.ts, table-free).
   */
  aesGcm?: typeof gcm;
}

function isEdwards(crv: Curve | undefined): crv is 'Ed25519' | 'Ed448' {
  return crv === 'Ed25519' || crv === 'Ed448';
}

function missing(name: string, crv: Curve | undefined): never {
  throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, `curve ${crv ?? 'none'} is not in the ${name} provider`);
}

/**
 * Ed25519 verification with the cofactorless equation [S]B = R + [k]A (RFC 8032 §5.1.7 allows
 * it), the one OpenSSL and libsodium check, so that the portable and native providers accept the
 * same signatures: noble checks the cofactored one, which also admits signatures whose R, or a
 * key, carries a torsion component (only the key's holder can make them, but the native provider
 * refused them). The encodings were checked strictly before (eddsa-strict.ts: canonical A and R,
 * neither of small order, S < L); noble decodes A and R per RFC 8032 §5.1.3 (zip215: false).
 * Ed448 keeps noble's cofactored check: OpenSSL's Ed448 (decaf) is cofactored too, and the two
 * agree (test/hostile-keys.test.ts).
 */
function ed25519VerifyCofactorless(ed: EdwardsCurve, signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  const { Point } = ed;
  const r = signature.subarray(0, 32);
  const A = Point.fromBytes(publicKey, false);
  const R = Point.fromBytes(r, false);
  const k = Point.Fn.create(bytesToBigInt(sha512(concatBytes(r, publicKey, message)), 'little'));
  const S = bytesToBigInt(signature.subarray(32), 'little');
  // [S]B - [k]A = R is the same equation, exactly (no cofactor is multiplied in), in one pass.
  if (ed.multiplyTwoPublic) return ed.multiplyTwoPublic(S, Point.BASE, k, A.negate()).equals(R);
  return Point.BASE.multiplyUnsafe(S).equals(R.add(A.multiplyUnsafe(k)));
}

function sec1(key: CoseKey): Uint8Array {
  return concatBytes(new Uint8Array([4]), key.x!, key.y!);
}

function requireD(key: CoseKey): Uint8Array {
  if (!key.d) throw new CoseKeyError(ERR.COSE_NO_KEY, 'COSE_Key: d(-4) is needed to sign');
  return key.d;
}


/**
 * noble's randomness (the engine's WebCrypto getRandomValues: Node, browsers, Deno), refused with
 * a typed error naming the seam on an engine that has none (QuickJS, XS, a bare microcontroller
 * runtime): its host passes its generator through device/host.ts (DeviceHost.randomBytes) or
 * withRandomSource (host-randomness.ts), and this is never reached.
 */
function engineRandomBytes(length: number): Uint8Array {
  try {
    return randomBytes(length);
  } catch (cause) {
    throw new CoseError(ERR.COSE_BAD_RANDOMNESS, 'no random source on this engine: the host passes its own (DeviceHost.randomBytes, withRandomSource)', { cause });
  }
}

export function nobleProvider(name: string, curves: NobleCurves): CryptoProvider {
  const edwards = (crv: 'Ed25519' | 'Ed448'): EdwardsCurve => curves.edwards[crv] ?? missing(name, crv);
  const weierstrass = (crv: Curve | undefined): WeierstrassCurve => curves.weierstrass[crv as 'P-256'] ?? missing(name, crv);
  return {
    name,

    sign(key, hash, message) {
      const d = requireD(key);
      if (isEdwards(key.crv)) return edwards(key.crv).sign(message, d);
      const curve = weierstrass(key.crv);
      // ECDSA hashes first (RFC 9053 §2.1); hedged (random k) signing, as noble defaults to; the
      // low-S form, so that what we emit is canonical (ecdsa-low-s.ts). Verify accepts both forms.
      return curve.sign(HASHES[hash ?? 'SHA-256'](message), d, { prehash: false, lowS: true });
    },

    verify(key, hash, message, signature) {
      // A curve this provider lacks is a typed error, not a "bad signature".
      const ed = isEdwards(key.crv) ? edwards(key.crv) : undefined;
      const curve = ed ? undefined : weierstrass(key.crv);
      // The checks the native provider makes too (eddsa-strict.ts, curve-points.ts), so that both
      // refuse the same keys and signatures; noble refuses most of these itself.
      try {
        if (publicPointFlaw(key)) return false;
        if (ed && !eddsaStrictlyValid(key.crv as 'Ed25519' | 'Ed448', key.x!, signature)) return false;
        if (ed) {
          return key.crv === 'Ed25519' ? ed25519VerifyCofactorless(ed, signature, message, key.x!) : ed.verify(signature, message, key.x!);
        }
        return curve!.verify(signature, HASHES[hash ?? 'SHA-256'](message), sec1(key), { prehash: false, lowS: false });
      } catch {
        return false; // malformed point or signature encoding: not a valid signature
      }
    },

    digest(hash, data) {
      return HASHES[hash](data);
    },

    ...symmetricMethods(name, curves),

    randomBytes: engineRandomBytes,

    // The seed comes from this provider's randomBytes (`this`: withRandomSource's copy draws on
    // the host's source), never from noble's own call to the global crypto.
    generateKeyPair(crv): KeyPair {
      if (isEdwards(crv)) {
        const curve = edwards(crv);
        const { secretKey, publicKey } = curve.keygen(this.randomBytes(curve.lengths.seed!));
        return { crv, d: secretKey, x: publicKey };
      }
      const curve = weierstrass(crv);
      const { secretKey, publicKey } = curve.keygen(this.randomBytes(curve.lengths.seed!));
      const point = curve.Point.fromBytes(publicKey).toBytes(false);
      const n = (point.length - 1) / 2;
      return { crv, d: secretKey, x: point.slice(1, 1 + n), y: point.slice(1 + n) };
    },
  };
}

/**
 * The window of the Ed25519 base-point table noble keeps (RFC 8032 §5.1.7 verification computes
 * [S]B with it): 6, noble's default, builds a table of ~1,400 points on first use (~250 KB of
 * heap on QuickJS, bench/quickjs.ts); 1 keeps no table and computes [S]B like [k]A, slower but
 * within a small part's RAM. A process-wide setting of noble's Ed25519, for the device's host.
 */
export function setEd25519BaseWindow(window: number): void {
  if (!Number.isInteger(window) || window < 1 || window > 8) throw new RangeError('Ed25519 base window: an integer from 1 to 8');
  ed25519.Point.BASE.precompute(window);
}

/**
 * The default provider: what a device needs (Ed25519, P-256, every hash and HMAC, AES-CCM), small
 * enough for a device bundle and its RAM. `extendedPortableProvider` adds Ed448, P-384, P-521,
 * AES-GCM and ChaCha20/Poly1305.
 */
export const portableProvider: CryptoProvider = nobleProvider('portable', {
  edwards: { Ed25519: ed25519 },
  weierstrass: { 'P-256': p256 },
});
