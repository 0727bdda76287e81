/**
 * The symmetric half of the algorithm table (algorithms.ts): HMAC (RFC 9053 §3.1) and the AEADs
 * (RFC 9053 §4, RFC 8439). A module of its own so that the verify-only device bundle, which has
 * no HMAC, AES or ChaCha20 (device/no-symmetric-pop.ts), can leave the whole half out: there a
 * symmetric alg(1) is refused as not supported (ERR_COSE_ALG_UNSUPPORTED), as its primitives are.
 */
import { ALG } from './algorithm-ids.js';
import type { Algorithm, HashName } from './algorithms.js';

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

export const SYMMETRIC_ALGORITHMS: readonly Algorithm[] = [
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
