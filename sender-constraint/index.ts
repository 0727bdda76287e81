// The public surface of sender-constraint/: checking DPoP proofs (RFC 9449) for the service and
// the gateway. Other folders import only this.
export { DpopError, DPOP_ERR, invalidDpopProof, dpopWwwAuthenticate, type DpopErrorCode } from './errors.js';
export {
  verifyDpopProof,
  normalizeHtu,
  accessTokenHash,
  dpopReplayExpiry,
  DEFAULT_DPOP_ALGS,
  DEFAULT_IAT_WINDOW_SECONDS,
  MAX_DPOP_PROOF_CHARS,
  type DpopCheck,
  type DpopProof,
} from './dpop-proof.js';
export {
  issueDpopNonce,
  checkDpopNonce,
  DEFAULT_NONCE_SLOT_SECONDS,
  MIN_NONCE_SECRET_BYTES,
  type DpopNonceSecrets,
  type DpopNonceOptions,
} from './dpop-nonce.js';
export { jwkThumbprint, coseKeyJkt } from './jwk-thumbprint.js';
export { MemoryDpopReplay, DEFAULT_REPLAY_CAPACITY, type DpopReplayRecord, type MemoryDpopReplayOptions } from './dpop-replay.js';
export {
  certificateThumbprint,
  certificateDerFromPem,
  checkCertificateBinding,
  isCertificateThumbprint,
  CertificateBindingError,
  CERTIFICATE_ERR,
  X5T_S256,
  MAX_CERTIFICATE_BYTES,
  MAX_CERTIFICATE_PEM_CHARS,
  type CertificateErrorCode,
} from './certificate-thumbprint.js';
export { splitTokenKey, splitJws, isSplitSignature, SPLIT_TOKEN_KEY_PREFIX, MAX_SPLIT_SIGNATURE_CHARS } from './split-token.js';
