// The public surface of the authorization service.
export { createAuthzServer, HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, AUTH_CODE_LIFETIME, USER_CODE_ATTEMPTS, USER_CODE_WINDOW, LOGIN_ATTEMPTS, LOGIN_WINDOW, type AuthzServer, type AuthzServerOptions } from './server.js';
export { handleAuthorize, handleLogin, handleConsent } from './authorization-flow.js';
export { handleDeviceVerification } from './device-verification.js';
export { handleAdmin, MAX_ADMIN_BODY } from './admin-api.js';
export type { WebContext, WebRequest, WebResponse } from './web-exchange.js';
export { MAX_SESSIONS } from './browser-sessions.js';
export { DEVICE_AUTHORIZATIONS_PER_ADDRESS } from './device-authorization.js';
export { CLIENT_AUTH_FAILURES } from './client-auth-limiter.js';
export { SqliteStore, RATE_LIMIT_PRUNE_AFTER_S, CHECKPOINTER_AFTER_WRITES } from './sqlite-store.js';
export { PgStore, type PgStoreOptions } from './pg-store.js';
export { StoreMigrationError } from './store-migration-error.js';
export { StoreSchemaNewerError } from './store-schema-newer-error.js';
export {
  ALL_GRANT_TYPES,
  type AuthzStore,
  type AudienceRecord,
  type AudiencePolicy,
  type ClientRecord,
  type IssuedTokenRecord,
  type TokenRef,
  type RefreshTokenRecord,
  type GrantType,
  type Protection,
  type UserRecord,
} from './store.js';
export { AuthzError } from './errors.js';
export { issueAccessToken, type IssuedToken, type IssueRequest, type IssuerContext } from './issuer.js';
export { handleTokenRequest, type TokenContext } from './token-endpoint.js';
export { checkDpopAtEndpoint, recordDpopProofUse, dpopNonceHeader, storeReplayRecord, dpopAlgs, type DpopSettings, type DpopEndpointContext, type DpopEndpointRequest } from './dpop-binding.js';
export { DEFAULT_ISSUANCE_LIMIT, type IssuanceLimit } from './issuance-budget.js';
export { CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME } from './client-auth.js';
export { INTROSPECTION_PARAM, MAX_BODY_BYTES } from './ace-params.js';
export { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
export { FileKeyVault, SealedKeyVault, KeyVaultError, readKekFile, KEK_BYTES, type KeyVault, type SealedKeyStore } from './key-vault.js';
export { registerAudience, registerClient, registerUser, provisionDevice, RegistryError, DEFAULT_TOKEN_LIFETIME, TOKEN_FORMATS, type RegistryErrorCode, type TokenFormat, type ClientOptions } from './registry.js';
export { issueJwtAccessToken, JWT_ACCESS_TOKEN_TYP } from './jwt-access-token.js';
export { s256 } from './pkce.js';
export {
  authzServe,
  registerDevice,
  registerClient as registerClientCommand,
  registerUserCommand,
  listRegistrations,
  deleteRegistration,
  provision,
  revokeCommand,
  rotateKeyCommand,
  type DataDirOptions,
  type RegistrationListing,
  type RegistrationKind,
} from './cli-commands.js';
export { secretWeakness, estimatedBits, MIN_SECRET_BITS, MIN_PASSWORD_BITS } from './secret-strength.js';
export { passwordWeakness, MIN_PASSWORD_SCORE } from './password-dictionary.js';
export { tokenFromFile, MAX_TOKEN_FILE_BYTES, MAX_REVOKE_SELECTION, type RevokeSelection, type RevokeResult } from './operator-revocation.js';
export { longestTokenLifetime, type RotationResult } from './operator-key-rotation.js';
export { signedTrustUpdate, trustSequence } from './trust-update-issuer.js';
export { splitAccessToken, type SplitTokenStore } from './split-token-store.js';
export { DEFAULT_RETENTION_DAYS, RETENTION_STEP_ROWS, startRecordRetention, type RecordRetention } from './record-retention.js';
