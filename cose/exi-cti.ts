/**
 * The cti layout for clock-less (exi) tokens. RFC 9200 §5.10.3 lets a device with no clock
 * expire a token exi seconds after it first sees it, and asks the AS to make each such cti
 * "audience id ‖ sequence number" so the device only has to remember the highest expired one.
 * Ours, CBOR-free so an AS in any language can build it:
 *
 *   cti = utf8(audience) ‖ 0x00 ‖ uint64 big-endian sequence number
 *
 * (0x00 never occurs in a UTF-8 audience we accept, so the split is unambiguous.) The service
 * builds it (authz/), the device parses it (device/): both use these two functions.
 */
import { concatBytes, constantTimeEqual, utf8 } from './bytes.js';
import { CwtClaimError, ERR } from './errors.js';

const SEQ_BYTES = 8;
const MAX_SEQUENCE = (1n << 64n) - 1n;

/** The cti of the `sequence`-th exi token for `audience` (the service keeps the counter). */
function invalid(reason: string): CwtClaimError {
  return new CwtClaimError(ERR.CWT_CLAIM_INVALID, 'cti(7)', reason);
}

export function exiCti(audience: string, sequence: number | bigint): Uint8Array {
  if (typeof sequence === 'number' && !Number.isSafeInteger(sequence)) throw invalid('exi sequence must be a non-negative integer');
  const seq = BigInt(sequence);
  if (seq < 0n || seq > MAX_SEQUENCE) throw invalid('exi sequence must be a non-negative integer below 2^64');
  const aud = utf8(audience);
  if (aud.includes(0)) throw invalid('the audience must not contain NUL');
  const out = new Uint8Array(SEQ_BYTES);
  new DataView(out.buffer).setBigUint64(0, seq);
  return concatBytes(aud, new Uint8Array([0]), out);
}

/** The sequence number of an exi cti for `audience`, or undefined when the cti is not of that form. */
export function parseExiCti(cti: Uint8Array, audience: string): number | undefined {
  const aud = utf8(audience);
  if (cti.length !== aud.length + 1 + SEQ_BYTES || cti[aud.length] !== 0) return undefined;
  if (!constantTimeEqual(cti.subarray(0, aud.length), aud)) return undefined;
  const seq = new DataView(cti.buffer, cti.byteOffset + aud.length + 1, SEQ_BYTES).getBigUint64(0);
  return seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seq) : undefined;
}
