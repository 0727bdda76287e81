/**
 * The COSE algorithms keybound speaks (RFC 9053, IANA "COSE Algorithms"), what each needs of a
 * key, and the check that a key may be used with an algorithm (no algorithm confusion).
 */
import { CoseAlgorithmError, ERR } from './errors.js';
import type { CoseKey } from './cose-key.js';

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

const ccm = (id: number, name: string, l: 2 | 8, tag: 8 | 16, key: 16 | 32): Algorithm => ({
  id,
  name,
  kind: 'aead',
  kty: 'Symmetric',
  // RFC 9053 §4.2: L = 2 gives a 13-byte nonce, L = 8 a 7-byte one.
  aead: { cipher: 'AES-CCM', keyLength: key, nonceLength: 15 - l, tagLength: tag },
});

const gcm = (id: number, name: string, key: 16 | 24 | 32): Algorithm => ({
  id,
  name,
  kind: 'aead',
  kty: 'Symmetric',
  aead: { cipher: 'AES-GCM', keyLength: key, nonceLength: 12, tagLength: 16 },
});

const hmac = (id: number, name: string, hash: HashName, keyLength: number, tagLength: number): Algorithm => ({
  id,
  name,
  kind: 'mac',
  kty: 'Symmetric',
  hash,
  keyLength,
  tagLength,
});

/** COSE algorithm identifiers we use by name in code. */
export const ALG = {
  EdDSA: -8,
  ES256: -7,
  ES384: -35,
  ES512: -36,
  HMAC_256_64: 4,
  HMAC_256_256: 5,
  HMAC_384_384: 6,
  HMAC_512_512: 7,
  A128GCM: 1,
  A192GCM: 2,
  A256GCM: 3,
  AES_CCM_16_64_128: 10,
  AES_CCM_16_64_256: 11,
  AES_CCM_64_64_128: 12,
  AES_CCM_64_64_256: 13,
  CHACHA20_POLY1305: 24,
  AES_CCM_16_128_128: 30,
  AES_CCM_16_128_256: 31,
  AES_CCM_64_128_128: 32,
  AES_CCM_64_128_256: 33,
  /** RFC 9052 §8.5.1: direct use of a shared key, in a recipient structure. */
  DIRECT: -6,
} as const;

const TABLE: readonly Algorithm[] = [
  { id: ALG.EdDSA, name: 'EdDSA', kind: 'signature', kty: 'OKP' },
  { id: ALG.ES256, name: 'ES256', kind: 'signature', kty: 'EC2', hash: 'SHA-256' },
  { id: ALG.ES384, name: 'ES384', kind: 'signature', kty: 'EC2', hash: 'SHA-384' },
  { id: ALG.ES512, name: 'ES512', kind: 'signature', kty: 'EC2', hash: 'SHA-512' },
  // RFC 9053 §3.1: the key is at least as long as the hash output; the tag is truncated.
  hmac(ALG.HMAC_256_64, 'HMAC 256/64', 'SHA-256', 32, 8),
  hmac(ALG.HMAC_256_256, 'HMAC 256/256', 'SHA-256', 32, 32),
  hmac(ALG.HMAC_384_384, 'HMAC 384/384', 'SHA-384', 48, 48),
  hmac(ALG.HMAC_512_512, 'HMAC 512/512', 'SHA-512', 64, 64),
  gcm(ALG.A128GCM, 'A128GCM', 16),
  gcm(ALG.A192GCM, 'A192GCM', 24),
  gcm(ALG.A256GCM, 'A256GCM', 32),
  ccm(ALG.AES_CCM_16_64_128, 'AES-CCM-16-64-128', 2, 8, 16),
  ccm(ALG.AES_CCM_16_64_256, 'AES-CCM-16-64-256', 2, 8, 32),
  ccm(ALG.AES_CCM_64_64_128, 'AES-CCM-64-64-128', 8, 8, 16),
  ccm(ALG.AES_CCM_64_64_256, 'AES-CCM-64-64-256', 8, 8, 32),
  ccm(ALG.AES_CCM_16_128_128, 'AES-CCM-16-128-128', 2, 16, 16),
  ccm(ALG.AES_CCM_16_128_256, 'AES-CCM-16-128-256', 2, 16, 32),
  ccm(ALG.AES_CCM_64_128_128, 'AES-CCM-64-128-128', 8, 16, 16),
  ccm(ALG.AES_CCM_64_128_256, 'AES-CCM-64-128-256', 8, 16, 32),
  {
    id: ALG.CHACHA20_POLY1305,
    name: 'ChaCha20/Poly1305',
    kind: 'aead',
    kty: 'Symmetric',
    aead: { cipher: 'ChaCha20-Poly1305', keyLength: 32, nonceLength: 12, tagLength: 16 },
  },
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
