/**
 * Recipients of COSE_Mac and COSE_Encrypt (RFC 9052 §5.1). keybound reads the direct method
 * only (alg -6, §8.5.1): the recipient names a shared key by kid and carries no ciphertext.
 * There is nothing to protect at that layer, so its alg may sit in either bucket.
 */
import { CoseAlgorithmError, CoseFormatError, ERR } from './errors.js';
import { isMap, type CborValue } from './cbor-value.js';
import { checkBuckets, decodeProtected, HEADER, type ParsedHeaders } from './headers.js';
import { ALG } from './algorithms.js';

/** The kid of the first direct recipient, or undefined when it names none. */
export function directRecipientKid(recipientsValue: CborValue): Uint8Array | undefined {
  if (!Array.isArray(recipientsValue) || recipientsValue.length === 0) {
    throw new CoseFormatError(ERR.COSE_MALFORMED, 'recipients must be a non-empty array');
  }
  for (const r of recipientsValue) {
    if (!Array.isArray(r) || r.length !== 3) throw new CoseFormatError(ERR.COSE_MALFORMED, 'a recipient must be an array of 3');
    const prot = decodeProtected(r[0]);
    const unprot = r[1];
    // RFC 9052 §3.1: a recipient's crit(2) refuses the message too when we do not understand it.
    checkBuckets(prot, unprot);
    const alg = prot.get(HEADER.alg) ?? unprot.get(HEADER.alg);
    if (alg !== ALG.DIRECT) continue;
    const ct = r[2] as CborValue;
    if (!(ct instanceof Uint8Array && ct.length === 0) && ct !== null) {
      throw new CoseFormatError(ERR.COSE_MALFORMED, 'a direct recipient carries no ciphertext');
    }
    const kid = prot.get(HEADER.kid) ?? unprot.get(HEADER.kid);
    if (kid !== undefined && !(kid instanceof Uint8Array)) throw new CoseFormatError(ERR.COSE_BAD_HEADER, 'kid(4) must be a byte string');
    return (kid as Uint8Array | undefined) ?? new Uint8Array(0);
  }
  throw new CoseAlgorithmError(ERR.COSE_ALG_UNSUPPORTED, 'no recipient uses the direct method (alg -6)');
}

/** The body's headers with the recipient's kid, so that a key resolver can pick by it. */
export function withRecipientKid(headers: ParsedHeaders, kid: Uint8Array | undefined): ParsedHeaders {
  return kid && kid.length > 0 && !headers.kid ? { ...headers, kid } : headers;
}
