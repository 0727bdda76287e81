/**
 * Clock-less expiry state (RFC 9200 §5.10.3), persisted: the highest exi sequence number that
 * has expired (the floor: anything at or below it is refused) and the exi tokens currently live
 * (their sequence number and when they expire), so that a cti is never accepted twice.
 */
import { asSafeInteger, decodeCbor, encodeCbor, type Clock } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { DeviceStorage } from './storage.js';
import { parseExiCti } from './exi-cti.js';

const STORAGE_KEY = 'exi';
/** Live exi tokens tracked at once; more than the token store can hold would be pointless. */
export const MAX_LIVE_EXI_TOKENS = 64;

export interface ExiTracker {
  /** Records first receipt of an exi token; returns its sequence number and device-clock expiry. Throws when refused. */
  admit(cti: Uint8Array, exi: number): { sequence: number; expiresAt: number };
  /** The highest expired sequence number (-1 when none). */
  floor(): number;
  /**
   * Raises the floor to a value the service signed in a revocation list (cose/revocation-list.ts
   * exiFloor): every exi token at or below it is dead, live ones included. Returns true if it rose.
   */
  raiseFloor(sequence: number): boolean;
  /** Whether a sequence number is at or below the floor (a held token that must now be refused). */
  isBelowFloor(sequence: number): boolean;
}

export function createExiTracker(audience: string, storage: DeviceStorage, clock: Clock, maxLive = MAX_LIVE_EXI_TOKENS): ExiTracker {
  let floor = -1;
  let live = new Map<number, number>(); // sequence → expiry (device clock)
  const saved = storage.get(STORAGE_KEY);
  if (saved) {
    const v = decodeCbor(saved, { maxBytes: 16 + maxLive * 20, maxDepth: 3 });
    if (Array.isArray(v) && v.length === 2 && Array.isArray(v[1])) {
      floor = asSafeInteger(v[0]) ?? -1;
      for (const e of v[1]) if (Array.isArray(e)) live.set(asSafeInteger(e[0]) ?? -1, asSafeInteger(e[1]) ?? 0);
    }
  }
  const persist = () => storage.put(STORAGE_KEY, encodeCbor([floor, [...live].map(([s, e]) => [s, e])]));
  const sweep = (now: number): boolean => {
    let changed = false;
    for (const [seq, until] of live) {
      if (until <= now) {
        // RFC 9200 §5.10.3: remember only the highest expired sequence number.
        floor = Math.max(floor, seq);
        live.delete(seq);
        changed = true;
      }
    }
    return changed;
  };
  return {
    admit(cti, exi) {
      const seq = parseExiCti(cti, audience);
      if (seq === undefined) throw new DeviceError(DEVICE_ERR.INVALID_TOKEN, 'cti(7) of an exi token must be audience ‖ 0x00 ‖ sequence');
      const now = clock();
      if (sweep(now)) persist();
      if (seq <= floor) throw new DeviceError(DEVICE_ERR.EXPIRED, 'exi(40) token at or below the highest expired sequence number');
      if (live.has(seq)) throw new DeviceError(DEVICE_ERR.REPLAY, 'cti(7) of an exi token was already accepted');
      if (live.size >= maxLive) throw new DeviceError(DEVICE_ERR.TOKEN_STORE_FULL, 'too many live exi tokens');
      const until = now + exi;
      live.set(seq, until);
      persist(); // before the token is used: a reboot must not forget that this cti was seen
      return { sequence: seq, expiresAt: until };
    },
    floor() {
      if (sweep(clock())) persist();
      return floor;
    },
    raiseFloor(sequence) {
      if (!Number.isSafeInteger(sequence) || sequence <= floor) return false;
      floor = sequence;
      for (const seq of live.keys()) if (seq <= floor) live.delete(seq);
      persist();
      return true;
    },
    isBelowFloor: (sequence) => sequence <= floor,
  };
}
