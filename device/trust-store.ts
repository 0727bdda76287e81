/**
 * The device's trust, loaded from its provisioning bundle ("pre-provisioned trust", DESIGN.md):
 * who it is, which service it believes, and the keys to check that service's tokens with. Built
 * whole or not at all: a bundle that is malformed, expired or lacks an anchor leaves no trace.
 */
import {
  CoseError,
  decodeProvisioningBundle,
  kidKeyResolver,
  validateBundle,
  type CoseKey,
  type KeyResolver,
  type ProvisioningBundle,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';

export interface TrustStore {
  readonly deviceId: string;
  readonly audience: string;
  readonly issuer: string;
  readonly asUrl: string | undefined;
  readonly brokerUrl: string | undefined;
  /** The device's own key pair, for the client role. */
  readonly deviceKey: CoseKey | undefined;
  /** Picks the anchor for a token, Encrypted_COSE_Key or revocation list by kid (4). */
  readonly resolve: KeyResolver;
  /** A symmetric key shared with the service, by kid: for cnf kid(3) tokens. */
  sharedKey(kid: Uint8Array): CoseKey | undefined;
  readonly anchorCount: number;
  /** The anchors themselves (public keys and shared keys), for a trust-anchor update to replace. */
  readonly anchors: readonly CoseKey[];
}

function refuse(message: string, cause?: unknown): DeviceError {
  return new DeviceError(DEVICE_ERR.BAD_PROVISIONING, message, cause === undefined ? undefined : { cause });
}

/** Builds a trust store from a bundle already decoded (checked again here, with the clock). */
export function trustStoreFromBundle(bundle: ProvisioningBundle, now: number): TrustStore {
  try {
    validateBundle(bundle, now);
  } catch (cause) {
    throw refuse((cause as Error).message, cause);
  }
  const anchors = Object.freeze([...bundle.trustAnchors]);
  const resolve = kidKeyResolver(anchors);
  const store: TrustStore = {
    deviceId: bundle.deviceId,
    audience: bundle.audience,
    issuer: bundle.issuer,
    asUrl: bundle.asUrl,
    brokerUrl: bundle.brokerUrl,
    deviceKey: bundle.deviceKey,
    anchorCount: anchors.length,
    anchors,
    resolve,
    sharedKey: resolve.sharedKey,
  };
  return Object.freeze(store);
}

/** Decodes a CBOR provisioning bundle and builds the trust store; typed DeviceError on any fault. */
export function loadProvisioningBundle(bytes: Uint8Array, now: number): TrustStore {
  let bundle: ProvisioningBundle;
  try {
    bundle = decodeProvisioningBundle(bytes, now);
  } catch (cause) {
    if (cause instanceof CoseError) throw refuse(`${cause.message} (${cause.code})`, cause);
    throw cause;
  }
  return trustStoreFromBundle(bundle, now);
}
