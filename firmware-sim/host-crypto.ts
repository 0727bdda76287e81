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

/** RFC 8032 §5.1.5: the public key of a 32-byte seed (node:crypto; noble's BigInt scalar multiplication is ~50x slower). */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  const priv = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}
