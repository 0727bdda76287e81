/**
 * COSE_Sign (RFC 9052 §4.1), the multi-signer form, read for interoperability: it verifies
 * when a signature by the given key verifies. keybound itself emits COSE_Sign1.
 */
import { CoseFormatError, CoseVerificationError, ERR } from './errors.js';
import type { CborValue } from './cbor-value.js';
import { checkBuckets, decodeProtected, parseHeaders } from './headers.js';
import { coseArray, expectBytes } from './message.js';
import { checkAllowed, providerOf, resolveKey, type KeyInput } from './key-input.js';
import { payloadOf, sigStructure, verifyWith, type VerifiedMessage, type VerifySign1Options } from './sign1.js';

const EMPTY = /* @__PURE__ */ new Uint8Array(0);

export function verifyCoseSign(input: Uint8Array | CborValue, key: KeyInput, opts: VerifySign1Options = {}): VerifiedMessage {
  const [protectedValue, unprotected, payloadValue, signatures] = coseArray(input, 'Sign', opts.limits);
  // The body carries no alg of its own, but its crit(2) binds every signer (RFC 9052 §3.1).
  checkBuckets(decodeProtected(protectedValue), unprotected);
  const payload = payloadOf(payloadValue, opts.detachedPayload);
  if (!Array.isArray(signatures) || signatures.length === 0) {
    throw new CoseFormatError(ERR.COSE_MALFORMED, 'COSE_Sign needs a non-empty array of signatures');
  }
  let lastError: unknown;
  for (const s of signatures) {
    if (!Array.isArray(s) || s.length !== 3) throw new CoseFormatError(ERR.COSE_MALFORMED, 'a COSE_Signature must be an array of 3');
    const signer = parseHeaders(s[0], s[1]);
    checkAllowed(signer.alg, opts.algorithms);
    try {
      const coseKey = resolveKey(key, signer, 'signature', 'verify');
      const bodyProtected = expectBytes(protectedValue, 'protected header');
      if (!(unprotected instanceof Map)) throw new CoseFormatError(ERR.COSE_BAD_HEADER, 'unprotected header must be a map');
      const tbs = sigStructure('Signature', bodyProtected, signer.protectedBytes, opts.externalAad ?? EMPTY, payload);
      verifyWith(signer.alg, coseKey, tbs, expectBytes(s[2], 'signature'), providerOf(opts));
      return { payload, headers: signer };
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError ?? new CoseVerificationError(ERR.COSE_BAD_SIGNATURE, 'no signature verifies');
}
