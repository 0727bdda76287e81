/**
 * The COSE algorithms keybound speaks (RFC 9053, IANA "COSE Algorithms"), what each needs of a
 * key, and the check that a key may be used with an algorithm (no algorithm confusion).
 */
import { CoseAlgorithmError, ERR } from './errors.js';
import type { CoseKey } from './cose-key.js';
import { ALG } from './algorithm-ids.js';
// HMAC and the AEADs: the verify-only device bundle replaces this module with none
// (device/no-symmetric-pop.ts), so a symmetric alg(1) there is not supported, as its primitives are not.
import { SYMMETRIC_ALGORITHMS } from './symmetric-algorithms.js';

export type Curve = 'Ed25519' | 'Ed448' | 'P-256' | 'P-384' | 'P-521';
export type HashName = 'SHA-256' | 'SHA-384' | 'SHA-512';

export type AeadCipher =
  | { cipher: 'AES-CCM'; keyLength: number; nonceLength: number; tagLength: number }
  | { cipher: 'AES-GCM'; keyLength: number; nonceLength: 12; tagLength: 16 }
  | { cipher: 'ChaCha20-Poly1305'; keyLength: 32; nonceLength: 12; tagLength: 16 };

export type Algorithm =
  | { id: number; name: string; kind: 'signature'; kty: 'OKP'; hash?: undefined }
  | { id: number; name: string; kind: 'signature'; kty: 'EC2'; hash: HashName }
  | { id: number; name: string; kind: 'mac'; kty: 'Symmetric'; hash: HashName; keyLength: number; tagLength: number }
  | { id: number; name: string; kind: 'aead'; kty: 'Symmetric'; aead: AeadCipher };

export { ALG } from './algorithm-ids.js';

const TABLE: readonly Algorithm[] = [
  { id: ALG.EdDSA, name: 'EdDSA', kind: 'signature', kty: 'OKP' },
  { id: ALG.ES256, name: 'ES256', kind: 'signature', kty: 'EC2', hash: 'SHA-256' },
  { id: ALG.ES384, name: 'ES384', kind: 'signature', kty: 'EC2', hash: 'SHA-384' },
  { id: ALG.ES512, name: 'ES512', kind: 'signature', kty: 'EC2', hash: 'SHA-512' },
  ...SYMMETRIC_ALGORITHMS,
];

const BY_ID = new Map(TABLE.map((a) => [a.id, a]));
const BY_NAME = /* @__PURE__ */ new Map(/* @__PURE__ */ TABLE.map((a) => [a.name, a]));

/** The algorithm for a COSE identifier, or a typed error naming it. */
export function algorithmById(id: unknown): Algorithm {
  const alg = typeof id === 'number' ? BY_ID.get(id) : undefined;
  if (!alg) throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, `alg(1) ${String(id)} is not supported`);
  return alg;
}

export function algorithmByName(name: string): Algorithm {
  const alg = BY_NAME.get(name);
  if (!alg) throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, `alg(1) "${name}" is not supported`);
  return alg;
}

export function algorithmName(id: number): string {
  return BY_ID.get(id)?.name ?? String(id);
}

const SIGNATURE_CURVES: Record<'OKP' | 'EC2', readonly Curve[]> = {
  OKP: ['Ed25519', 'Ed448'],
  // RFC 9053 §2.1 only suggests matching hash and curve sizes, and the COSE WG examples pair
  // ES512 with P-256; we accept any NIST curve with any ECDSA hash.
  EC2: ['P-256', 'P-384', 'P-521'],
};

/**
 * Refuses a key that may not be used with `alg` for `operation` (RFC 9052 §7.1): wrong key type,
 * a curve of another family, a key whose own `alg` differs, a symmetric key of the wrong length,
 * or key_ops that do not allow it. This is where algorithm confusion stops.
 */
export function assertKeyFitsAlgorithm(
  alg: Algorithm,
  key: CoseKey,
  operation: 'sign' | 'verify' | 'MAC create' | 'MAC verify' | 'encrypt' | 'decrypt',
): void {
  if (key.kty !== alg.kty) {
    throw new CoseAlgorithmError(
      ERR.COSE_ALG_KEY_MISMATCH,
      `alg(1) ${alg.name} needs a ${alg.kty} key, not ${key.kty}`,
    );
  }
  if (key.alg !== undefined && key.alg !== alg.id) {
    throw new CoseAlgorithmError(
      ERR.COSE_ALG_KEY_MISMATCH,
      `alg(1) ${alg.name} differs from the key's alg(3) ${algorithmName(key.alg)}`,
    );
  }
  if (alg.kind === 'signature') {
    const curves = SIGNATURE_CURVES[alg.kty];
    if (!key.crv || !curves.includes(key.crv)) {
      throw new CoseAlgorithmError(ERR.COSE_ALG_KEY_MISMATCH, `alg(1) ${alg.name} cannot use curve ${key.crv ?? 'none'}`);
    }
  } else {
    const needed = alg.kind === 'mac' ? alg.keyLength : alg.aead.keyLength;
    const k = key.k;
    // RFC 9053 §3.1: HMAC keys shorter than the hash are refused; AEAD keys are exact.
    const ok = k !== undefined && (alg.kind === 'mac' ? k.length >= needed : k.length === needed);
    if (!ok) {
      throw new CoseAlgorithmError(
        ERR.COSE_ALG_KEY_MISMATCH,
        `alg(1) ${alg.name} needs a ${needed}-byte k(-1), got ${k?.length ?? 'none'}`,
      );
    }
  }
  if (key.keyOps && !key.keyOps.includes(operation)) {
    throw new CoseAlgorithmError(ERR.COSE_ALG_KEY_MISMATCH, `key_ops(4) does not allow ${operation}`);
  }
}
