// The public surface of keybound's MQTT broker sidecar (aedes). Others import only this.
export { createBroker, RETAINED_SWEEP_MS, type BrokerOptions, type ListenOptions, type KeyboundBroker } from './server.js';
export { BrokerError, BROKER_ERR, CONNACK, type BrokerErrorCode } from './errors.js';
export {
  ACE_USERNAME,
  PURPOSE_CONNECT,
  MAX_PASSWORD_BYTES,
  CONNECT_JTI_BYTES,
  decodeConnectPassword,
  createConnectPassword,
  createConnectCredentials,
  connectPasswordText,
  type ConnectCredentials,
  type ConnectPasswordOptions,
} from './credentials.js';
export { CLAIM_MARGIN_S, createAdmission, createCredentialCheck, PURPOSE_REFRESH, MAX_RATE_TRACKED_KEYS, type Admit, type AdmissionOptions, type CheckedCredentials, type CheckElsewhere } from './admission.js';
export { startAdmissionThreads, MAX_IN_FLIGHT_PER_THREAD, type AdmissionThreads, type AdmissionThreadData } from './admission-threads.js';
export { memoizedTokenHash, MAX_MEMO_TOKEN_BYTES, MAX_MEMO_BYTES, MEMO_ENTRY_OVERHEAD } from './token-hash-memo.js';
export { createTokenVerifier, MAX_CACHED_TOKENS, NEGATIVE_CACHE_SECONDS, type TokenVerifier, type VerifiedToken, type TokenVerifierOptions } from './token-verifier.js';
export { brokerTrust, type BrokerTrust, type BrokerTrustOptions, type TrustInput } from './trust.js';
export { memoryJtiStore, redisJtiStore, DEFAULT_JTI_ENTRIES, REDIS_JTI_PREFIX, REDIS_ALLOWANCE_PREFIX, type Allowance, type JtiStore, type RedisEval } from './jti-store.js';
export { httpIntrospection, parseIntrospection, MAX_INTROSPECTION_BYTES, INTROSPECTION_TIMEOUT_MS, type Introspect, type IntrospectionCredentials, type IntrospectionResult } from './introspection-client.js';
export { publishRoute, maySubscribe, mayReceive, implicitFilters, REFRESH_TOPIC, type PublishRoute, type Identity } from './topic-rules.js';
export { createMessagePop, verifyMessagePop, MESSAGE_POP_CLAIM, MESSAGE_POP_CLAIM_NAME, MESSAGE_POP_LABEL, MAX_SIGNED_MESSAGE_BYTES } from './message-pop.js';
export { createTokenBucket, DEFAULT_RELAY_RATE, DEFAULT_CONNECT_RATE, DEFAULT_SUBJECT_CONNECT_RATE, type RateLimit, type TokenBucket } from './rate-limiter.js';
export { createRetainedExpiry, MAX_RETAINED_TOPICS, MAX_RETAINED_PER_TOKEN, MAX_RETAINED_TOPIC_BYTES, MAX_RETAINED_TOPIC_LEVELS, type RetainedExpiry } from './retained-expiry.js';
export { shareRetainedExpiry, RETAINED_EXPIRY_PREFIX, type SharedRetainedExpiry } from './retained-expiry-sync.js';
export { checkAuthzUrl, authzRequest, type AuthzConnection } from './authz-http.js';
export { readBoundedBody } from '../device/adapters/index.js';
export { fetchRevocationList, fetchTrustUpdate, startTrlPoller, MAX_TRL_FETCH_BYTES, TRL_FETCH_TIMEOUT_MS, DEFAULT_TRL_POLL_S, MIN_TRL_POLL_S, MAX_TRL_POLL_S, MAX_POLLED_AUDIENCES, type TrlPollerOptions } from './trl-poller.js';
export { refreshableTrust, startTrustRefresh, MAX_KEYS_FETCH_BYTES, MIN_KEYS_REFRESH_S, DEFAULT_KEYS_REFRESH_S, MIN_KEYS_REFRESH_PERIOD_S, MAX_KEYS_REFRESH_PERIOD_S, KEYS_FETCH_TIMEOUT_MS, type RefreshableTrust, type TrustRefreshOptions } from './trust-refresh.js';
export { createRevocationLists, MAX_TRL_AUDIENCES, type RevocationLists } from './revocation-lists.js';
export { trustFromBytes, MAX_TRUST_FILE_BYTES } from './trust-file.js';
export { createTrustUpdateRelay, trustTopic, type TrustUpdateRelay } from './trust-update-relay.js';
export { createPacketMeter, MAX_CONNECT_BYTES, DEFAULT_MAX_PACKET_BYTES, MQTT_MAX_REMAINING_LENGTH, type PacketMeter } from './packet-limits.js';
export { createByteBudgets, shareOf, DEFAULT_DEVICE_QUEUE_RATE, DEFAULT_CLIENT_QUEUE_RATE, DEVICE_SENDER_SHARES, type ByteBudgets, type ByteRate } from './byte-budget.js';
export { createHooks, DROPPED_TOPIC, MAX_RELAY_PAYLOAD_BYTES, MAX_SUBSCRIPTIONS_PER_CONNECTION, type BrokerHooks, type HookClient, type HookPacket } from './hooks.js';
export { redisRestingSessionLedger, startRestingSweeps, REDIS_RESTING_PREFIX, RESTING_LEASE_S, RESTING_SWEEP_MS, type RestingEntry, type RestingSessionLedger, type RestingSweeps } from './resting-session-ledger.js';
export { memoryClientIdOwners, redisClientIdOwners, PERSISTENT_SESSION_GRACE_S, REDIS_CLIENT_ID_PREFIX, type ClientIdOwner, type ClientIdOwners } from './client-id-owners.js';
export { backfillRestingLedger, REDIS_RESTING_BACKFILLED, type RedisScan } from './resting-ledger-backfill.js';
export { brokerLogger, type BrokerLog } from './broker-logger.js';
export { createBrokerMetrics, PUBLISH_REFUSAL_REASONS, type BrokerMetrics, type PublishRefusalReason } from './broker-metrics.js';
export { probeRedis, redisEndpoint, REDIS_PROBE_TIMEOUT_MS, type RedisProbe } from './redis-probe.js';
export { SUBSCRIPTION_WRITE_WAIT_MS } from './subscription-writes.js';
