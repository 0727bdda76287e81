/**
 * The cti layout for clock-less (exi) tokens. RFC 9200 §5.10.3 lets a device with no clock
 * expire a token exi seconds after it first sees it, and asks the AS to make each such cti
 * "audience id ‖ sequence number" so the device only has to remember the highest expired one.
 * Ours, CBOR-free so an AS in any language can build it:
 *
 *   cti = utf8(audience) ‖ 0x00 ‖ uint64 big-endian sequence number
 *
 * (0x00 never occurs in a UTF-8 audience, so the split is unambiguous.)
 */
import { concatBytes, constantTimeEqual, utf8 } from '../cose/index.js';

const SEQ_BYTES = 8;

export function exiCti(audience: string, sequence: number): Uint8Array {
  if (!Number.isSafeInteger(sequence) || sequence < 0) throw new RangeError('exi sequence must be a non-negative safe integer');
  const aud = utf8(audience);
  if (aud.includes(0)) throw new RangeError('audience must not contain NUL');
  const seq = new Uint8Array(SEQ_BYTES);
  new DataView(seq.buffer).setBigUint64(0, BigInt(sequence));
  return concatBytes(aud, new Uint8Array([0]), seq);
}

/** The sequence number of an exi cti for `audience`, or undefined when the cti is not of that form. */
export function parseExiCti(cti: Uint8Array, audience: string): number | undefined {
  const aud = utf8(audience);
  if (cti.length !== aud.length + 1 + SEQ_BYTES || cti[aud.length] !== 0) return undefined;
  if (!constantTimeEqual(cti.subarray(0, aud.length), aud)) return undefined;
  const seq = new DataView(cti.buffer, cti.byteOffset + aud.length + 1, SEQ_BYTES).getBigUint64(0);
  return seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seq) : undefined;
}
