/**
 * The device's trust anchors over its life: the provisioning bundle's, until a trust-anchor
 * update (cose/trust-update.ts, issue 10) signed by one of the CURRENT anchors replaces the
 * signature keys with a new complete set. The applied set and its sequence number are one storage
 * value, written in one atomic put before the new set is used: a crash leaves the old set or the
 * new one, never a mix, and a replayed or older update (seq not above the stored one) is refused.
 * Keys shared with the service (symmetric: Mac0 tokens, sealed PoP keys) are not in updates and
 * stay as provisioned.
 *
 * The trust store handed out is live: its resolver looks at the current set on every call, so the
 * token acceptance and the revocation state built on it follow an update without being rebuilt.
 */
import {
  asSafeInteger,
  coseKeyFromMap,
  coseKeyToMap,
  decodeCbor,
  encodeCbor,
  kidKeyResolver,
  verifyTrustUpdate,
  CoseError,
  type CoseKey,
  type CryptoProvider,
  type KeyResolver,
  type VerifiedTrustUpdate,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { DeviceStorage } from './storage.js';
import type { TrustStore } from './trust-store.js';

const STORAGE_KEY = 'trust';

export interface UpdatableTrust {
  /** A trust store that always resolves with the current anchors. */
  readonly trust: TrustStore;
  /** The seq of the last update applied (0: none, the bundle's anchors). */
  readonly seq: number;
  /** The current signature anchors (public keys). */
  readonly signers: readonly CoseKey[];
  /**
   * Verifies an update with the current anchors and, if it holds, stores and applies it. Throws
   * the TrustUpdateError of cose/ (its `code` says why) and changes nothing when it does not.
   */
  apply(update: Uint8Array): VerifiedTrustUpdate;
}

const isShared = (key: CoseKey): boolean => key.kty === 'Symmetric';

function loadStored(bytes: Uint8Array): { seq: number; signers: CoseKey[] } {
  try {
    const v = decodeCbor(bytes, { maxBytes: 8192, maxDepth: 4 });
    const seq = Array.isArray(v) ? asSafeInteger(v[0]) : undefined;
    if (!Array.isArray(v) || v.length !== 2 || seq === undefined || seq < 1 || !Array.isArray(v[1]) || v[1].length === 0) throw new Error('shape');
    return { seq, signers: v[1].map((k) => coseKeyFromMap(k)) };
  } catch (cause) {
    // Never fall back to the bundle: its keys may be the very ones an update retired.
    throw new DeviceError(DEVICE_ERR.BAD_PROVISIONING, `stored trust anchors are unreadable (${cause instanceof CoseError ? cause.code : 'shape'}): re-provision the device`, { cause });
  }
}

export function createUpdatableTrust(base: TrustStore, storage: DeviceStorage, provider?: CryptoProvider): UpdatableTrust {
  const shared = base.anchors.filter(isShared);
  let seq = 0;
  let signers: readonly CoseKey[] = base.anchors.filter((k) => !isShared(k));
  const saved = storage.get(STORAGE_KEY);
  if (saved) ({ seq, signers } = loadStored(saved));
  let current = kidKeyResolver([...signers, ...shared]);

  const resolve: KeyResolver = (headers) => current(headers);
  const trust: TrustStore = Object.freeze({
    deviceId: base.deviceId,
    audience: base.audience,
    issuer: base.issuer,
    asUrl: base.asUrl,
    brokerUrl: base.brokerUrl,
    deviceKey: base.deviceKey,
    resolve,
    sharedKey: (kid: Uint8Array) => current.sharedKey(kid),
    get anchorCount() {
      return signers.length + shared.length;
    },
    get anchors() {
      return [...signers, ...shared];
    },
  });

  return {
    trust,
    get seq() {
      return seq;
    },
    get signers() {
      return signers;
    },
    apply(update) {
      const verified = verifyTrustUpdate(update, { anchors: signers, storedSeq: seq, audience: base.audience, ...(provider ? { provider } : {}) });
      // Stored first, in one put: if this write does not complete the old set stays in force.
      storage.put(STORAGE_KEY, encodeCbor([verified.seq, verified.keys.map((k) => coseKeyToMap(k))]));
      seq = verified.seq;
      signers = Object.freeze([...verified.keys]);
      current = kidKeyResolver([...signers, ...shared]);
      return verified;
    },
  };
}
