/**
 * The verify-only device (issue 13's small part, issue 17): a second public surface, built on its
 * own by `npm run build:device` into dist/device-verify-only.min.js. It verifies tokens offline
 * against its provisioned trust anchors, keeps them in the bounded token store, demands a PoP
 * proof on every request (challenge nonce or iat + jti), and applies signed revocation lists;
 * it has no protected sessions (their table, key derivation and AEAD framing) and no client
 * role. Its crypto is the provider the host passes (`hostProvider`: the portable one with the
 * host's randomness). PoP is asymmetric only: tokens signed by an anchor (COSE_Sign1), bound to a
 * public key in cnf, proven by a COSE_Sign1 proof. No symmetric PoP: the built bundle has no HMAC,
 * AES-CCM, HKDF or cnf osc(4) reader (device/no-symmetric-pop.ts), so an encrypted token, a sealed or shared (cnf
 * kid) PoP key, a COSE_Mac0 token or proof is refused (invalid_token, unknown_key, bad_proof).
 * Ed25519 only (no P-256: device/no-nist-curves.ts); a P-256 key or token is refused. The bundle's
 * Ed25519 is @noble/ed25519 (compact-ed25519.ts); `verifyOnlyProvider` is that crypto outside the
 * bundle, so that a Node host or a test verifies with exactly what the flashed device runs.
 * The built bundle is codes-only: its errors' messages are their codes
 * (firmware-sim/error-message-strip.ts); imported unbundled, as here, they keep their text.
 */
import { nobleProvider, type CryptoProvider } from '../cose/index.js';
import { ed25519 } from './compact-ed25519.js';
import { createResourceServerCore, type ResourceServer, type ResourceServerOptions } from './resource-server-core.js';
import type { TrustStore } from './trust-store.js';
import { absent } from './no-symmetric-pop.js';

export { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';
export { memoryStorage, type DeviceStorage } from './storage.js';
export { loadProvisioningBundle, type TrustStore } from './trust-store.js';
export { hostProvider, type DeviceHost } from './host.js';
export { DEFAULT_DEVICE_PROFILE, type DeviceProfile } from './device-profile.js';
export { serveAuthzInfo, serveRequest, refusalBody } from './device-endpoint.js';
export { PURPOSE_REQUEST, type ResourceServer, type ResourceServerOptions, type DeviceHandler, type DeviceRequest } from './resource-server-core.js';

/** The portable provider with the verify-only bundle's Ed25519 and no other curve (P-256 is refused, typed). */
export const verifyOnlyProvider: CryptoProvider = nobleProvider('verify-only', { edwards: { Ed25519: ed25519 }, weierstrass: {} });

/** A resource server without protected sessions; the provider is required (no default curve set rides along). */
export function createVerifyOnlyServer(opts: ResourceServerOptions & { provider: CryptoProvider }): ResourceServer {
  // No symmetric PoP: a cnf kid(3) token names a shared key no proof could be checked with here,
  // so it is refused at the door (unknown_key) rather than stored. The rest of the trust store
  // stays the caller's (a prototype, not a copy: a trust update under a running device is seen).
  const trust: TrustStore = Object.create(opts.trust, { sharedKey: { value: () => undefined } });
  // The same refusal unbundled as in the bundle, where these primitives are not even there.
  const none = { value: absent };
  const provider: CryptoProvider = Object.create(opts.provider, { hmac: none, hkdf: none, aeadEncrypt: none, aeadDecrypt: none });
  return createResourceServerCore({ ...opts, trust, provider });
}
