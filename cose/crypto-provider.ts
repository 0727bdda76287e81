/**
 * The crypto seam. Everything in cose/ and device/ that needs a primitive asks a provider, so
 * that the portable one (@noble, the default) and the native one (node:crypto, servers) are
 * interchangeable, and the simulator can meter every call. Keys arrive as COSE_Key objects;
 * a provider may cache per key object what it derives from it (never the other way round).
 */
import type { AeadCipher, Curve, HashName } from './algorithms.js';
import type { CoseKey } from './cose-key.js';

export interface KeyPair {
  crv: Curve;
  /** Private scalar or seed. */
  d: Uint8Array;
  x: Uint8Array;
  /** EC2 only. */
  y?: Uint8Array;
}

export interface CryptoProvider {
  readonly name: string;
  /** Signs `message`: EdDSA over the message, ECDSA over `hash(message)` as r‖s (RFC 9053 §2.1). */
  sign(key: CoseKey, hash: HashName | undefined, message: Uint8Array): Uint8Array;
  /** Verifies; returns false for a bad signature or an unusable public key, never throws for them. */
  verify(key: CoseKey, hash: HashName | undefined, message: Uint8Array, signature: Uint8Array): boolean;
  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array;
  digest(hash: HashName, data: Uint8Array): Uint8Array;
  hkdf(hash: HashName, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** Returns ciphertext ‖ tag. */
  aeadEncrypt(aead: AeadCipher, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns the plaintext, or null when the tag does not verify. */
  aeadDecrypt(aead: AeadCipher, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
  randomBytes(length: number): Uint8Array;
  generateKeyPair(crv: Curve): KeyPair;
}
