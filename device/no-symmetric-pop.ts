/**
 * Stands in for the symmetric primitives in the verify-only bundle (firmware-sim/device-bundle.ts
 * points @noble/hashes/hmac.js, @noble/hashes/hkdf.js, cose/aes-ccm.ts, cose/encrypt0.ts,
 * cose/mac0.ts, cose/sealed-cose-key.ts, cose/symmetric-algorithms.ts and cose/symmetric-methods.ts
 * at this module), so that
 * the bundle carries asymmetric PoP only (issue 13's 24 KB goal): no HMAC (COSE_Mac0 tokens and
 * proofs, RFC 9053 §3.1), no AES-CCM (COSE_Encrypt0 tokens, Encrypted_COSE_Key in cnf, RFC 9053
 * §4.2), no HKDF (sessions and OSCORE, which that bundle has not), and no reader of a cnf osc(4)
 * (cose/oscore-input-material.ts: RFC 9203's OSCORE Master Secret, a symmetric PoP key that only
 * ever comes inside an encrypted token). A token or proof that needs one
 * is refused with ERR_COSE_ALG_UNSUPPORTED, which the device answers as invalid_token or bad_proof
 * (test/quickjs-device.test.ts), never misread. The full bundle keeps them all. verify-only.ts puts
 * the same refusal in its provider, so the entry point refuses alike unbundled (on Node).
 */
import { CoseError, ERR } from '../cose/index.js';

/** Refuses, typed: what every symmetric primitive is in a verify-only device. */
export const absent = (): never => {
  throw new CoseError(ERR.COSE_ALG_UNSUPPORTED, 'this device build verifies asymmetric PoP only (no HMAC, AES-CCM or HKDF)');
};
export const hmac = absent;
export const hkdf = absent;
export const aesCcmEncrypt = absent;
export const aesCcmDecrypt = absent;
// cose/encrypt0.ts and cose/mac0.ts: every function they export.
export const encStructure = absent;
export const nonceFromPartialIv = absent;
export const nonceOf = absent;
export const buildEncrypt0 = absent;
export const createEncrypt0 = absent;
export const openCiphertext = absent;
export const decryptEncrypt0 = absent;
export const macStructure = absent;
export const computeTag = absent;
export const checkTag = absent;
export const buildMac0 = absent;
export const createMac0 = absent;
export const verifyMac0 = absent;
// cose/sealed-cose-key.ts: an Encrypted_COSE_Key can be neither sealed nor opened here.
export const sealCoseKey = absent;
export const openEncryptedCoseKey = absent;
// cose/symmetric-methods.ts: the portable provider's HMAC, HKDF and AEAD methods, each refusing.
export const symmetricMethods = () => ({ hmac: absent, hkdf: absent, aeadEncrypt: absent, aeadDecrypt: absent });
// cose/symmetric-algorithms.ts: the HMAC and AEAD rows of the algorithm table, none here, so
// that a symmetric alg(1) is refused as not supported when its header is read.
export const SYMMETRIC_ALGORITHMS: readonly never[] = [];
// cose/oscore-input-material.ts: its functions refuse, as the rest. Its labels and limits keep
// their values, so that a module that comes to read one here still checks what it means to
// (test/quickjs-device.test.ts holds them equal to cose/'s); unread, they cost nothing. They are
// written out, not re-exported: device/ reaches cose/ through its index only, and in this bundle
// the index takes them from here.
export const oscoreInputMaterialFromMap = absent;
export const oscoreInputMaterialToMap = absent;
export const aceOscoreMasterSalt = absent;
export const OSC_LABEL = /* @__PURE__ */ Object.freeze({ id: 0, version: 1, ms: 2, hkdf: 3, alg: 4, salt: 5, contextId: 6 } as const);
export const OSCORE_VERSION = 1;
export const MIN_MASTER_SECRET_BYTES = 16;
export const MAX_MASTER_SECRET_BYTES = 64;
export const MAX_OSC_ID_BYTES = 32;
