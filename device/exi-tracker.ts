/**
 * Clock-less expiry state (RFC 9200 §5.10.3), persisted: the highest exi sequence number that
 * has expired (the floor: anything at or below it is refused) and the exi tokens currently live
 * (their sequence number, when they expire, and whose they are), so that a cti is never accepted
 * twice. A live entry cannot be given up before it expires (the token would restart its exi if
 * posted again), so each owner (a token's subject) may hold only a share of the table: one client
 * posting the tokens it is entitled to cannot lock every other client out for a whole exi.
 */
import { asSafeInteger, decodeCbor, encodeCbor, parseExiCti, toHex, type Clock } from '../cose/index.js';
import { DeviceError, DEVICE_ERR } from './errors.js';
import type { DeviceStorage } from './storage.js';

const STORAGE_KEY = 'exi';
/** Live exi tokens tracked at once; more than the token store can hold would be pointless. */
export const MAX_LIVE_EXI_TOKENS = 64;
/** Live exi tokens one owner may hold: a quarter of the table, so four owners are needed to fill it. */
export const MAX_LIVE_EXI_SHARE = 4;
/** Bytes of an owner id (a digest prefix of the token's subject, see token-acceptance.ts). */
export const EXI_OWNER_BYTES = 8;

export interface ExiTracker {
  /**
   * Records first receipt of an exi token; returns its sequence number and device-clock expiry.
   * `owner` names whose it is (tokens without one share a single owner). Throws when refused.
   */
  admit(cti: Uint8Array, exi: number, owner?: Uint8Array): { sequence: number; expiresAt: number };
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
  const live = new Map<number, { until: number; owner: Uint8Array }>(); // sequence → expiry (device clock), owner
  const NO_OWNER = new Uint8Array(0);
  const share = Math.max(1, Math.floor(maxLive / MAX_LIVE_EXI_SHARE));
  const saved = storage.get(STORAGE_KEY);
  if (saved) {
    const v = decodeCbor(saved, { maxBytes: 16 + maxLive * (20 + EXI_OWNER_BYTES), maxDepth: 3 });
    if (Array.isArray(v) && v.length === 2 && Array.isArray(v[1])) {
      floor = asSafeInteger(v[0]) ?? -1;
      for (const e of v[1]) {
        if (Array.isArray(e)) live.set(asSafeInteger(e[0]) ?? -1, { until: asSafeInteger(e[1]) ?? 0, owner: e[2] instanceof Uint8Array ? e[2] : NO_OWNER });
      }
    }
  }
  const persist = () => storage.put(STORAGE_KEY, encodeCbor([floor, [...live].map(([s, e]) => [s, e.until, e.owner])]));
  const sweep = (now: number): boolean => {
    let changed = false;
    for (const [seq, { until }] of live) {
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
    admit(cti, exi, owner = NO_OWNER) {
      const seq = parseExiCti(cti, audience);
      if (seq === undefined) throw new DeviceError(DEVICE_ERR.INVALID_TOKEN, 'cti(7) of an exi token must be audience ‖ 0x00 ‖ sequence');
      const now = clock();
      if (sweep(now)) persist();
      if (seq <= floor) throw new DeviceError(DEVICE_ERR.EXPIRED, 'exi(40) token at or below the highest expired sequence number');
      if (live.has(seq)) throw new DeviceError(DEVICE_ERR.REPLAY, 'cti(7) of an exi token was already accepted');
      if (live.size >= maxLive) throw new DeviceError(DEVICE_ERR.TOKEN_STORE_FULL, 'too many live exi tokens');
      const mine = toHex(owner.subarray(0, EXI_OWNER_BYTES));
      let held = 0;
      for (const e of live.values()) if (toHex(e.owner) === mine) held++;
      if (held >= share) throw new DeviceError(DEVICE_ERR.TOKEN_STORE_FULL, `this client already holds ${share} live exi tokens here`);
      const until = now + exi;
      live.set(seq, { until, owner: owner.slice(0, EXI_OWNER_BYTES) });
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
