/**
 * The symmetric methods of the portable providers (portable-provider.ts): HMAC, HKDF and the
 * AEADs. A module of its own so that the verify-only device bundle, which has none of these
 * primitives (device/no-symmetric-pop.ts), leaves out their wrappers too: there each method
 * refuses with ERR_COSE_ALG_UNSUPPORTED, as the primitives it would call do.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { aesCcmDecrypt, aesCcmEncrypt } from './aes-ccm.js';
import { CoseAlgorithmError, ERR } from './errors.js';
import { HASHES } from './hash-functions.js';
import type { AeadCipher, HashName } from './algorithms.js';
import type { CryptoProvider } from './crypto-provider.js';
import type { NobleCurves } from './portable-provider.js';

export type SymmetricMethods = Pick<CryptoProvider, 'hmac' | 'hkdf' | 'aeadEncrypt' | 'aeadDecrypt'>;

/** The methods of the provider `name` on `curves` (AES-GCM and ChaCha20/Poly1305 come from there, if at all). */
export function symmetricMethods(name: string, curves: NobleCurves): SymmetricMethods {
  const aeadCipher = (aead: AeadCipher, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) => {
    if (aead.cipher === 'AES-GCM') {
      if (!curves.aesGcm) throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, `AES-GCM is not in the ${name} provider (use extendedPortableProvider)`);
      return curves.aesGcm(key, nonce, aad);
    }
    if (!curves.chacha20poly1305) throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, `${aead.cipher} is not in the ${name} provider (use extendedPortableProvider)`);
    return curves.chacha20poly1305(key, nonce, aad);
  };
  return {
    hmac(hash, key, data) {
      return hmac(HASHES[hash], key, data);
    },

    hkdf(hash: HashName, ikm, salt, info, length) {
      return hkdf(HASHES[hash], ikm, salt, info, length);
    },

    aeadEncrypt(aead, key, nonce, aad, plaintext) {
      if (aead.cipher === 'AES-CCM') return aesCcmEncrypt(key, nonce, aad, plaintext, aead.tagLength);
      return aeadCipher(aead, key, nonce, aad).encrypt(plaintext);
    },

    aeadDecrypt(aead, key, nonce, aad, sealed) {
      if (aead.cipher === 'AES-CCM') return aesCcmDecrypt(key, nonce, aad, sealed, aead.tagLength);
      const cipher = aeadCipher(aead, key, nonce, aad); // a cipher this provider lacks is a typed error, not a failed tag
      try {
        return cipher.decrypt(sealed);
      } catch {
        return null;
      }
    },
  };
}
