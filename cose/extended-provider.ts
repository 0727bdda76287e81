/**
 * The portable provider with every curve COSE names for signatures (Ed448, P-384 and P-521 as
 * well), AES-GCM and ChaCha20/Poly1305. For servers and tools that must read other implementations'
 * messages; a device that imports only `portableProvider` does not carry them.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { ed448 } from '@noble/curves/ed448.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { gcm } from '@noble/ciphers/aes.js';
import { nobleProvider } from './portable-provider.js';
import type { CryptoProvider } from './crypto-provider.js';

// PURE: a device bundle that never names this provider drops it and its curves.
export const extendedPortableProvider: CryptoProvider = /* @__PURE__ */ nobleProvider('portable-extended', {
  edwards: { Ed25519: ed25519, Ed448: ed448 },
  weierstrass: { 'P-256': p256, 'P-384': p384, 'P-521': p521 },
  chacha20poly1305,
  aesGcm: gcm,
});
