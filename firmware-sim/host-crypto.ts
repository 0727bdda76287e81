/**
 * The crypto the simulator's host does the real work with: node:crypto wherever an algorithm is
 * deterministic (EdDSA signatures, every verification, HMAC, HKDF, digests, AEAD), the portable
 * provider for ECDSA signatures (RFC 6979 deterministic nonces: node:crypto draws a random k, so
 * a seed would no longer reproduce a token's bytes). The native provider agrees with the portable
 * one byte for byte on all of these (cose/adapters/native-provider.ts and its tests).
 *
 * Why: a 100k-device fleet spent ~80% of its CPU in BigInt curve arithmetic (a --cpu-prof of
 * `keybound sim --devices 1000`). What a device is charged comes from the energy model
 * (metered-provider.ts counts each operation's modelled cycles), never from the host's
 * implementation, so the report does not change; QuickJS devices still run the portable code.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { nativeProvider } from '../cose/adapters/index.js';
import { portableProvider, type CryptoProvider } from '../cose/index.js';

export const hostProvider: CryptoProvider = {
  ...nativeProvider,
  name: 'host (node:crypto, RFC 6979 ECDSA)',
  sign: (key, hash, message) => (key.kty === 'OKP' ? nativeProvider.sign(key, hash, message) : portableProvider.sign(key, hash, message)),
};

/** RFC 8410 §7: a PKCS #8 wrapper for a 32-byte Ed25519 private key (the seed follows). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** A placeholder public key for the JWK import below: OpenSSL derives the real one from d. */
const NO_X = Buffer.alloc(32).toString('base64url');

/**
 * RFC 8032 §5.1.5: the public key of a 32-byte seed. node:crypto imports a raw private key from a
 * JWK (d only; x is not read back) ~5x faster than through OpenSSL 3's PKCS #8 decoder, and both
 * ~7x faster than noble's BigInt scalar multiplication. The key is whatever OpenSSL derives from
 * d; a Node that checked x against d would refuse the placeholder, and the PKCS #8 path takes over.
 */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  const d = Buffer.from(seed.buffer, seed.byteOffset, seed.byteLength);
  let priv;
  try {
    priv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: d.toString('base64url'), x: NO_X }, format: 'jwk' });
  } catch {
    priv = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
  }
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}
