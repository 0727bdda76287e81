// The public surface of gateway/: the DPoP-enforcing reverse proxy (issue 11). Other folders import only this.
export { createGateway, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES, DEFAULT_UPSTREAM_TIMEOUT_MS, GATEWAY_JWKS_PATH, type Gateway, type GatewayLogger, type GatewayOptions } from './gateway.js';
export { verifyAccessToken, ACCESS_TOKEN_ALGS, MAX_ACCESS_TOKEN_CHARS, type AccessTokenCheck, type BoundAccessToken } from './access-token.js';
export { RedisDpopReplay, DPOP_REPLAY_KEY_PREFIX, type RedisSetNx } from './redis-dpop-replay.js';
export { checkRouteScope } from './route-scope.js';
export { GatewayError, GATEWAY_ERR, type GatewayErrorCode } from './errors.js';
export { newPhantomSigningKey, phantomSigningKeyFromPem, type PhantomSigningKey } from './phantom-signing-key.js';
export { PhantomTokens, DEFAULT_PHANTOM_CACHE_ENTRIES, PHANTOM_KEY_PREFIX, type PhantomTokenOptions, type SharedIntrospections } from './phantom-token.js';
export { verifyCwtAccessToken, coseKeysFromJwks, looksLikeCwt, MAX_CWT_TOKEN_CHARS, type CwtAccessTokenCheck } from './cwt-access-token.js';
export { remoteServiceKeys } from './service-keys.js';
export { PhantomTokenCache, PHANTOM_CACHE_ENTRIES, PHANTOM_MAX_TTL_S, PHANTOM_INACTIVE_TTL_S, type IntrospectionAnswer, type CacheLookup } from './phantom-token-cache.js';
export { joinSplitToken, looksLikeSplitToken, type SplitTokenHalves } from './split-token-join.js';
