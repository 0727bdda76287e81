/**
 * Address validation with Echo (RFC 9175 §2.4, RFC 7252 §11.3): an unprotected answer larger than
 * three times its request goes only to a source that proved it receives what is sent to it. The
 * first time, the device answers 4.01 with a short Echo option instead; the client repeats the
 * request carrying it (libcoap's coap-client does, RFC 9175 §2.3), and gets the real answer.
 *
 * The Echo value is stateless: a MAC over (peer address, time slot) under a secret of this process,
 * truncated to ECHO_BYTES so the challenge itself stays within the 3x bound for the smallest request
 * (4-byte header + token; the challenge is header + token + 2-byte option header + 6 bytes). A value
 * is good for the slot it was made in and the next (SLOT_MS to 2 * SLOT_MS); a restart draws a new
 * secret, so an old value is simply challenged again. Nothing is kept per peer: a flood of spoofed
 * sources costs one HMAC each and no memory.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** RFC 9175 §2.2.1: Echo, option number 252 (critical-free, elective, safe to forward). */
export const ECHO_OPTION = 252;
/** 48 bits: a blind (off-path) guess succeeds with 2^-48 per try, and a 4-byte request still stays under 3x. */
export const ECHO_BYTES = 6;
/** RFC 9175 §2.4: the factor an unverified source may be answered with. */
export const AMPLIFICATION_FACTOR = 3;
const SLOT_MS = 30_000;

export interface EchoChallenge {
  /** The Echo value for `address` now. */
  issue(address: string): Uint8Array;
  /** Whether `echo` is a value this device issued for `address` in this slot or the last (constant time). */
  verify(address: string, echo: Uint8Array): boolean;
}

export function createEchoChallenge(opts: { secret?: Uint8Array; now?: () => number } = {}): EchoChallenge {
  const secret = Buffer.from(opts.secret ?? randomBytes(32));
  const now = opts.now ?? Date.now;
  const mac = (address: string, slot: number) =>
    createHmac('sha256', secret).update(`keybound echo|${slot}|${address}`).digest().subarray(0, ECHO_BYTES);
  return {
    issue: (address) => new Uint8Array(mac(address, Math.floor(now() / SLOT_MS))),
    verify(address, echo) {
      if (echo.length !== ECHO_BYTES) return false;
      const slot = Math.floor(now() / SLOT_MS);
      const given = Buffer.from(echo);
      // Both slots are computed and compared whatever the first says: no timing on which one matched.
      const current = timingSafeEqual(given, mac(address, slot));
      const previous = timingSafeEqual(given, mac(address, slot - 1));
      return current || previous;
    },
  };
}
