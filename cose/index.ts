// The public surface of keybound's portable core (no node: imports). Other folders import only this.
export {
  CoseError,
  CborError,
  CoseFormatError,
  CoseAlgorithmError,
  CoseKeyError,
  CoseVerificationError,
  CwtClaimError,
  ScopeError,
  ERR,
} from './errors.js';
export {
  utf8,
  fromUtf8,
  concatBytes,
  constantTimeEqual,
  toHex,
  fromHex,
  toBase64Url,
  fromBase64Url,
  checkBytes,
} from './bytes.js';
export { Tag, isMap, asSafeInteger, type CborValue, type CborMap } from './cbor-value.js';
export { encodeCbor, encodeCborArrayOf } from './cbor-encode.js';
export { decodeCbor, checkCbor } from './cbor-decode.js';
export { DEFAULT_CBOR_LIMITS, ALLOWED_TAGS, type CborLimits } from './cbor-limits.js';
export {
  ALG,
  algorithmById,
  algorithmByName,
  algorithmName,
  assertKeyFitsAlgorithm,
  type Algorithm,
  type AeadCipher,
  type Curve,
  type HashName,
} from './algorithms.js';
export {
  coseKeyToMap,
  coseKeyFromMap,
  encodeCoseKey,
  decodeCoseKey,
  publicCoseKey,
  validateCoseKey,
  detachedCoseKey,
  CURVE_LENGTH,
  type CoseKey,
  type KeyType,
  type KeyOperation,
} from './cose-key.js';
export type { CryptoProvider, KeyPair } from './crypto-provider.js';
export { portableProvider, nobleProvider, setEd25519BaseWindow, type NobleCurves, type EdwardsCurve, type EdwardsPoint } from './portable-provider.js';
export { extendedPortableProvider } from './extended-provider.js';
export { withRandomSource, checkedRandomSource, type RandomSource } from './host-randomness.js';
export { aesCcmEncrypt, aesCcmDecrypt } from './aes-ccm.js';
export { HEADER, parseHeaders, type ParsedHeaders, type HeaderOptions } from './headers.js';
export { COSE_TAG, CWT_TAG, coseTypeOf, type CoseMessageType } from './message.js';
export { kidKeyResolver, type KeyInput, type KeyResolver, type VerifyOptions } from './key-input.js';
export {
  createSign1,
  buildSign1,
  verifySign1,
  sigStructure,
  defaultSignatureAlgorithm,
  type CreateSign1Options,
  type VerifySign1Options,
  type VerifiedMessage,
} from './sign1.js';
export { createMac0, buildMac0, verifyMac0, macStructure, type CreateMac0Options } from './mac0.js';
export {
  createEncrypt0,
  buildEncrypt0,
  decryptEncrypt0,
  encStructure,
  nonceFromPartialIv,
  type CreateEncrypt0Options,
  type DecryptOptions,
  type DecryptedMessage,
} from './encrypt0.js';
export { verifyCoseSign } from './cose-sign.js';
export { verifyCoseMac } from './cose-mac.js';
export { decryptCoseEncrypt } from './cose-encrypt.js';
export { CNF_LABEL, cnfToMap, cnfFromMap, sealCoseKey, openEncryptedCoseKey, type Confirmation } from './cnf.js';
export {
  OSC_LABEL,
  OSCORE_VERSION,
  MIN_MASTER_SECRET_BYTES,
  MAX_MASTER_SECRET_BYTES,
  MAX_OSC_ID_BYTES,
  oscoreInputMaterialToMap,
  oscoreInputMaterialFromMap,
  aceOscoreMasterSalt,
  type OscoreInputMaterial,
} from './oscore-input-material.js';
export {
  aceOscoreContextInput,
  ACE_OSCORE_NONCE_BYTES,
  MIN_ACE_OSCORE_NONCE_BYTES,
  MAX_ACE_OSCORE_NONCE_BYTES,
  MAX_ACE_OSCORE_ID_BYTES,
  type AceOscoreContextInput,
  type AceOscoreExchange,
} from './ace-oscore-setup.js';
export { CLAIM, CLAIM_CNONCE, CLAIM_MESSAGE_POP, claimTag, claimsToMap, claimsFromMap, type CwtClaims, type ClaimName } from './cwt-claims.js';
export {
  createCwt,
  verifyCwt,
  checkClaims,
  readCwtUnverified,
  MAX_TOKEN_BYTES,
  DEFAULT_TOKEN_ALGORITHMS,
  DEFAULT_ENCRYPTION_ALGORITHMS,
  type CreateCwtOptions,
  type VerifyCwtOptions,
  type VerifiedCwt,
  type Clock,
} from './cwt.js';
export { canonicalTokenBytes, tokenHash, tokenHashUri } from './token-hash.js';
export { readableCti, canonicalWithCti } from './readable-cti.js';
export { ACE_ERROR_CODE, aceErrorName, aceErrorValue } from './ace-error-codes.js';
export { lowS, ECDSA_ORDERS } from './ecdsa-low-s.js';
export {
  createRevocationList,
  verifyRevocationList,
  revocationListToMap,
  revocationListFromMap,
  TRL_LABEL,
  MAX_TRL_HASHES,
  fitRevocations,
  isIssuedBefore,
  type RevocationList,
} from './revocation-list.js';
export {
  createTrustUpdate,
  verifyTrustUpdate,
  TrustUpdateError,
  TRUST_UPDATE_ERR,
  TRUST_UPDATE_LABEL,
  TRUST_UPDATE_ALGORITHMS,
  MAX_TRUST_UPDATE_BYTES,
  MAX_TRUST_UPDATE_PAYLOAD,
  MAX_TRUST_UPDATE_KEYS,
  type TrustUpdate,
  type TrustUpdateCode,
  type VerifiedTrustUpdate,
  type VerifyTrustUpdateOptions,
} from './trust-update.js';
export {
  encodeProvisioningBundle,
  decodeProvisioningBundle,
  bundleToJson,
  bundleFromJson,
  validateBundle,
  ProvisioningError,
  BUNDLE_VERSION,
  MAX_BUNDLE_BYTES,
  type ProvisioningBundle,
} from './provisioning-bundle.js';
export {
  parseScope,
  parseRestScope,
  restScopeAllows,
  scopeToCbor,
  scopeAllows,
  narrowScope,
  aifRest,
  aifMqtt,
  textScope,
  restMethodSet,
  REST_METHOD_BITS,
  MAX_SCOPE_ENTRIES,
  MAX_AIF_PATH_LENGTH,
  MAX_AIF_TOPIC_FILTER_LENGTH,
  MAX_TEXT_SCOPE_LENGTH,
  type Scope,
  type ScopeKind,
  type ScopeRequest,
  type AifRestEntry,
  type AifMqttEntry,
  type RestMethod,
  type MqttAction,
} from './aif.js';
export {
  isValidTopicName,
  isValidTopicFilter,
  assertTopicName,
  assertTopicFilter,
  topicMatches,
  filterCovers,
  filtersCover,
  MAX_TOPIC_UTF8_BYTES,
  MAX_COVER_STEPS,
} from './mqtt-topic.js';
export { coseKeyToJwk, jwkToCoseKey, kidToJwk, kidFromJwk, MAX_KID_LENGTH, type Jwk, type KidEncoding } from './jwk.js';
export { coseKeyThumbprint, coseKeyThumbprintInput, coseKeyThumbprintUri, type ThumbprintOptions } from './thumbprint.js';
export { cborDiag, MAX_DIAG_DEPTH, type DiagOptions } from './cbor-diag.js';
export {
  cwtClaimsToJwt,
  jwtClaimsToCwt,
  createJwt,
  verifyJwt,
  JwtBridgeError,
  ERR_JWT_BRIDGE,
  type JwtClaims,
  type CreateJwtOptions,
  type VerifyJwtOptions,
} from './jwt-bridge.js';
export {
  createClientAssertion,
  CLIENT_ASSERTION_TYPE,
  MAX_ASSERTION_LIFETIME,
  type ClientAssertionOptions,
} from './client-assertion.js';
export { WireError } from './wire-error.js';
export { REFUSAL_CODES, SERVICE_ERROR_CODES, allErrorCodes, refusalWire, deviceRefusalWire, wireError, isErrorCode, type ErrorCode, type RefusalCode, type DeviceRefusalCode, type WireMapping } from './error-codes.js';
export { audienceIdProblem, isAudienceId, safeAudienceName, audienceFromSafeName, MAX_SAFE_AUDIENCE_NAME } from './audience-id.js';
export {
  ACE_PARAM,
  ACE_PARAM_TYPE,
  ACE_PROFILE,
  ACE_TOKEN_TYPE,
  DEFAULT_ACE_PROFILE,
  type AceWireType,
  CREATION_HINT,
  ACE_GRANT_TYPE,
  TOKEN_TYPE_POP,
  GRANT_TOKEN_EXCHANGE,
  GRANT_DEVICE_CODE,
  TOKEN_TYPE_ACCESS,
  TOKEN_TYPE_CWT,
} from './ace-parameters.js';
export { exiCti, parseExiCti } from './exi-cti.js';
export {
  mintAccessToken,
  MAX_CNONCE_BYTES,
  type AccessTokenCnf,
  type AccessTokenInput,
  type AccessTokenKeys,
  type MintedAccessToken,
} from './access-token.js';
export {
  encodeCoapMessage,
  decodeCoapMessage,
  encodeCoapOptionsAndPayload,
  decodeCoapOptionsAndPayload,
  coapCodeText,
  CoapFormatError,
  COAP_ERR,
  COAP_CODE,
  COAP_OPTION,
  DEFAULT_COAP_LIMITS,
  type CoapOption,
  type CoapMessage,
  type CoapLimits,
  type CoapErrorCode,
} from './coap-message.js';
export { OscoreError, OSCORE_ERR, oscoreRefusal, type OscoreErrorCode } from './oscore-errors.js';
export {
  deriveOscoreContext,
  oscoreNonce,
  oscoreHkdfInfo,
  OSCORE_DEFAULT_AEAD,
  OSCORE_DEFAULT_HKDF,
  OSCORE_DEFAULT_REPLAY_WINDOW,
  type OscoreContext,
  type OscoreContextInput,
} from './oscore-context.js';
export {
  encodeOscoreOption,
  decodeOscoreOption,
  partialIvToNumber,
  numberToPartialIv,
  MAX_OSCORE_OPTION_BYTES,
  type OscoreOptionValue,
} from './oscore-option.js';
export {
  OscoreState,
  memoryOscoreStorage,
  oscoreStorageName,
  OSCORE_MAX_SEQUENCE,
  OSCORE_DEFAULT_RESERVE,
  type OscorePersistedState,
  type OscoreStateStorage,
  type OscoreStateOptions,
} from './oscore-state.js';
export {
  protectRequest,
  unprotectRequest,
  protectResponse,
  unprotectResponse,
  readOscoreOption,
  oscoreAad,
  type OscoreRequestBinding,
  type ProtectedRequest,
  type UnprotectedRequest,
  type ProtectRequestOptions,
  type ProtectResponseOptions,
} from './oscore-protect.js';
export { deferSignatures, type DeferredSignatures, type VerifyOffLoop } from './deferred-signatures.js';
