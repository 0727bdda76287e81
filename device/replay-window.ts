/**
 * A sliding anti-replay window over sequence numbers (RFC 4303 §3.4.3, as OSCORE uses it in
 * RFC 8613 §7.4): the highest number accepted and a bitmap of the WINDOW_SIZE numbers below it.
 * Anything at or below highest - WINDOW_SIZE, or already marked, is a replay.
 */

/** RFC 8613 §7.4 asks for at least 32; 64 tolerates MQTT redelivery and reordering at QoS 1. */
export const REPLAY_WINDOW_SIZE = 64;
const SIZE = BigInt(REPLAY_WINDOW_SIZE);
const MASK = (1n << SIZE) - 1n;

export interface ReplayWindowState {
  /** Highest sequence number accepted so far; -1 when none. */
  highest: number;
  /** Bit i set: highest - i was accepted (bit 0 is highest itself). */
  bitmap: bigint;
}

export function emptyReplayWindow(): ReplayWindowState {
  return { highest: -1, bitmap: 0n };
}

/** Would `seq` be accepted? Pure: call `acceptInWindow` only after the message verified. */
export function isFresh(state: ReplayWindowState, seq: number): boolean {
  if (!Number.isSafeInteger(seq) || seq < 0) return false;
  if (seq > state.highest) return true;
  const offset = state.highest - seq;
  if (offset >= REPLAY_WINDOW_SIZE) return false;
  return ((state.bitmap >> BigInt(offset)) & 1n) === 0n;
}

/** The window after accepting `seq` (which must be fresh). Only authenticated messages move it. */
export function acceptInWindow(state: ReplayWindowState, seq: number): ReplayWindowState {
  if (seq > state.highest) {
    const shift = seq - state.highest;
    const bitmap = shift >= REPLAY_WINDOW_SIZE ? 1n : ((state.bitmap << BigInt(shift)) | 1n) & MASK;
    return { highest: seq, bitmap };
  }
  return { highest: state.highest, bitmap: state.bitmap | (1n << BigInt(state.highest - seq)) };
}
