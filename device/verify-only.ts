/**
 * The verify-only device (issue 13's small part, issue 17): a second public surface, built on its
 * own by `npm run build:device` into dist/device-verify-only.min.js. It verifies tokens offline
 * against its provisioned trust anchors, keeps them in the bounded token store, demands a PoP
 * proof on every request (challenge nonce or iat + jti), and applies signed revocation lists;
 * it has no protected sessions (their table, key derivation and AEAD framing) and no client
 * role. Its crypto is the provider the host passes (`hostProvider`: the portable one with the
 * host's randomness); AES-CCM stays for symmetric PoP keys sealed in the token's cnf. The built
 * bundle is Ed25519 only (no P-256: device/no-nist-curves.ts); a P-256 key or token is refused.
 */
import type { CryptoProvider } from '../cose/index.js';
import { createResourceServerCore, type ResourceServer, type ResourceServerOptions } from './resource-server-core.js';

export { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';
export { memoryStorage, type DeviceStorage } from './storage.js';
export { loadProvisioningBundle, type TrustStore } from './trust-store.js';
export { hostProvider, type DeviceHost } from './host.js';
export { DEFAULT_DEVICE_PROFILE, type DeviceProfile } from './device-profile.js';
export { serveAuthzInfo, serveRequest, refusalBody } from './device-endpoint.js';
export { PURPOSE_REQUEST, type ResourceServer, type ResourceServerOptions, type DeviceHandler, type DeviceRequest } from './resource-server-core.js';

/** A resource server without protected sessions; the provider is required (no default curve set rides along). */
export function createVerifyOnlyServer(opts: ResourceServerOptions & { provider: CryptoProvider }): ResourceServer {
  return createResourceServerCore(opts);
}
