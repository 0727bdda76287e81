// The public surface of keybound's lean device runtime (no node: imports). Others import only this.
export { DeviceError, DEVICE_ERR, type DeviceErrorCode } from './errors.js';
export { hintsToMap, hintsFromMap, encodeHints, readCreationHints, type RequestHints } from './request-hints.js';
export { memoryStorage, type DeviceStorage } from './storage.js';
export { hostProvider, type DeviceHost } from './host.js';
export { loadProvisioningBundle, trustStoreFromBundle, type TrustStore } from './trust-store.js';
export { DEFAULT_DEVICE_PROFILE, type DeviceProfile } from './device-profile.js';
export {
  createTokenStore,
  TOKEN_ENTRY_OVERHEAD,
  DEFAULT_TOKEN_BUDGET_BYTES,
  type StoredToken,
  type TokenStore,
} from './token-store.js';
export { createExiTracker, MAX_LIVE_EXI_TOKENS, type ExiTracker } from './exi-tracker.js';
export { createNonceIssuer, NONCE_BYTES, DEFAULT_MAX_NONCES, DEFAULT_NONCE_LIFETIME, type NonceIssuer } from './nonce-issuer.js';
export { createReplayCache, DEFAULT_REPLAY_CACHE_ENTRIES, type ReplayCache } from './replay-cache.js';
export {
  REPLAY_WINDOW_SIZE,
  emptyReplayWindow,
  isFresh,
  acceptInWindow,
  type ReplayWindowState,
} from './replay-window.js';
export {
  createTokenAcceptance,
  isByValueToken,
  refusalForCoseError,
  type AcceptanceTrust,
  type AcceptedToken,
  type AcceptedTokenCache,
  type IntrospectedClaims,
  type PresentedToken,
  type TokenAcceptance,
  type TokenAcceptanceOptions,
} from './token-acceptance.js';
export {
  createPopProof,
  verifyPopProof,
  claimProofFreshness,
  popProofToMap,
  popProofFromMap,
  payloadHash,
  POP_LABEL,
  MAX_PROOF_BYTES,
  MIN_JTI_BYTES,
  MAX_JTI_BYTES,
  DEFAULT_IAT_WINDOW,
  DEFAULT_PROOF_ALGORITHMS,
  type PopProofFields,
  type ExpectedProof,
  type ProofFreshness,
  type ProofFreshnessPolicy,
  type VerifiedPopProof,
  type FreshnessStores,
  type CreatePopProofOptions,
  type VerifyPopProofOptions,
} from './pop-proof.js';
export { createRevocationState, type RevocationState } from './revocation-state.js';
export {
  AUTHZ_INFO_LABEL,
  encodeAuthzInfoRequest,
  decodeAuthzInfoRequest,
  encodeAuthzInfoResponse,
  decodeAuthzInfoResponse,
  encodeResponseBody,
  decodeResponseBody,
  encodePopRequest,
  decodePopRequest,
  encodeEnvelope,
  decodeEnvelope,
  type AuthzInfoRequest,
  type AuthzInfoResponse,
  type DeviceRequestBody,
  type DeviceResponseBody,
  type PopRequest,
} from './device-messages.js';
export {
  createResourceServer,
  PURPOSE_REQUEST,
  type ResourceServer,
  type ResourceServerOptions,
  type DeviceHandler,
  type DeviceRequest,
  type AuthzInfoResult,
} from './resource-server.js';
export { serveAuthzInfo, serveRequest, refusalBody } from './device-endpoint.js';
export {
  handleAuthzInfo,
  refusalAnswer,
  decodeAuthzInfoPayload,
  encodeAuthzInfoPayload,
  decodeAuthzInfoAnswer,
  clientContextInput,
  beginAceOscore,
  oscoreMaterialOf,
  CONTENT_FORMAT_ACE_CBOR,
  ACE_OSCORE_PARAM,
  MAX_AUTHZ_INFO_BYTES,
  type AuthzInfoAnswer,
  type AuthzInfoOptions,
  type AuthzInfoRequest as AceOscoreAuthzInfoRequest,
} from './authz-info.js';
export { OscoreClient, beginOscoreClient, authzInfoMessage } from './oscore-client.js';
export { serveCoap, serveCoapMessage, coapCodeByte, COAP_OPTION_NUMBER, type OscoreEndpoint } from './oscore-endpoint.js';
export {
  createOscoreContextTable,
  SERVER_RECIPIENT_ID_BYTES,
  type OscoreContextEntry,
  type OscoreContextTable,
  type OscoreContextTableOptions,
} from './oscore-contexts.js';
export { createUpdatableTrust, type UpdatableTrust } from './trust-updates.js';
export { decodeStoredTokens, TOKENS_STORAGE_KEY } from './token-persistence.js';
export {
  resourceHandler,
  resourceModuleFlaw,
  demoResources,
  type ResourceModule,
  type ResourceFunction,
  type ResourceRequest,
  type ResourceAnswer,
} from './resource-handlers.js';
export { createDeviceNode, deviceNodeTopics, type DeviceNode, type DeviceNodeOptions, type DeviceTopics } from './device-node.js';
export {
  requestToken,
  encodeTokenRequest,
  decodeTokenResponse,
  AuthorizationServiceError,
  JWT_BEARER_ASSERTION,
  type KeyReference,
  type TokenTransport,
  type TokenRequest,
  type TokenResponse,
  type ClientAuth,
} from './token-client.js';
export { buildPopRequest } from './pop-request.js';
export {
  createConnectPassword,
  createConnectCredentials,
  ACE_USERNAME,
  PURPOSE_CONNECT,
  CONNECT_JTI_BYTES,
  type ConnectPasswordOptions,
} from './connect-password.js';
export { NOOP_LOGGER, HASH_PREFIX_HEX, MAX_LOG_TEXT, hashPrefix, logText, type Logger, type LogFields, type LogValue } from './logger.js';
