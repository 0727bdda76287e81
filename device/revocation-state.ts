/**
 * The device's copy of the service's token revocation list (draft-ietf-ace-revoked-token-
 * notification), persisted: the sequence number of the last list applied and the revoked token
 * hashes. A list is applied only if its signature verifies with a trust anchor, it names this
 * audience, and its sequence number is higher than the last one (an old list never wins).
 */
import {
  CoseError,
  MAX_TRL_HASHES,
  asSafeInteger,
  decodeCbor,
  encodeCbor,
  fromHex,
  isIssuedBefore,
  toHex,
  verifyRevocationList,
  type CryptoProvider,
  type KeyInput,
} from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { DeviceStorage } from './storage.js';
import type { ExiTracker } from './exi-tracker.js';

const STORAGE_KEY = 'trl';

export interface RevocationState {
  /** Verifies and applies a signed list; returns the hashes that became revoked and the list's exi floor. */
  apply(signedList: Uint8Array): { added: Uint8Array[]; exiFloor: number | undefined };
  isRevoked(hash: Uint8Array): boolean;
  /**
   * Whether a token's iat is under the highest issued-before floor any list carried (an
   * overflowing list gave up the older tokens whole); a token without iat is, once there is one.
   */
  isIssuedBeforeFloor(iat: number | undefined): boolean;
  readonly sequence: number;
  readonly size: number;
}

export function createRevocationState(
  audience: string,
  trust: KeyInput,
  storage: DeviceStorage,
  provider: CryptoProvider,
  /** Where the list's exi floor goes; raised before the new set is stored (see below). */
  exi?: Pick<ExiTracker, 'raiseFloor'>,
): RevocationState {
  let sequence = -1;
  let revoked = new Set<string>();
  let issuedBefore = -1; // kept at its highest: a later, smaller floor never brings a token back
  const saved = storage.get(STORAGE_KEY);
  if (saved) {
    const v = decodeCbor(saved, { maxBytes: 64 + MAX_TRL_HASHES * 40, maxDepth: 3 });
    if (Array.isArray(v) && Array.isArray(v[1])) {
      sequence = asSafeInteger(v[0]) ?? -1;
      for (const h of v[1]) if (h instanceof Uint8Array) revoked.add(toHex(h));
      issuedBefore = asSafeInteger(v[2]) ?? -1;
    }
  }
  return {
    apply(signedList) {
      let list;
      try {
        list = verifyRevocationList(signedList, trust, { audience, provider });
      } catch (cause) {
        if (cause instanceof CoseError) {
          const code = cause.code === 'ERR_CWT_WRONG_AUDIENCE' ? DEVICE_ERR.WRONG_AUDIENCE : DEVICE_ERR.INVALID_TOKEN;
          throw new DeviceError(code, `revocation list refused (${cause.code})`, { cause });
        }
        throw cause;
      }
      if (list.sequence <= sequence) throw new DeviceError(DEVICE_ERR.REPLAY, `revocation list ${list.sequence} is not newer than ${sequence}`);
      const next = list.fullSet ? new Set(list.fullSet.map(toHex)) : new Set(revoked);
      for (const d of list.diffSet ?? []) {
        for (const h of d.removed) next.delete(toHex(h));
        for (const h of d.added) next.add(toHex(h));
      }
      if (next.size > MAX_TRL_HASHES) throw new DeviceError(DEVICE_ERR.BUSY, `revocation list would hold more than ${MAX_TRL_HASHES} hashes`);
      const added = [...next].filter((h) => !revoked.has(h)).map(fromHex);
      revoked = next;
      sequence = list.sequence;
      // Stored with the set, in the same write: the set may have left out what only the floor refuses.
      if (list.issuedBefore !== undefined) issuedBefore = Math.max(issuedBefore, list.issuedBefore);
      // The floor first: the new set may have dropped a revoked exi token that only the floor now
      // refuses, so a reboot between the two writes must not leave the set stored without the floor.
      if (list.exiFloor !== undefined) exi?.raiseFloor(list.exiFloor);
      storage.put(STORAGE_KEY, encodeCbor(issuedBefore >= 0 ? [sequence, [...revoked].map(fromHex), issuedBefore] : [sequence, [...revoked].map(fromHex)]));
      return { added, exiFloor: list.exiFloor };
    },
    isRevoked: (hash) => revoked.has(toHex(hash)),
    isIssuedBeforeFloor: (iat) => isIssuedBefore(issuedBefore, iat),
    get sequence() {
      return sequence;
    },
    get size() {
      return revoked.size;
    },
  };
}
