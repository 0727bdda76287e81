/**
 * The broker's wiring (thin, as authz/server.ts): an aedes instance with hooks.ts, TCP and
 * WebSocket listeners (aedes docs/Examples.md: `ws` WebSocketServer + createWebSocketStream), and
 * for scale-out Redis (mqemitter-redis, aedes-persistence-redis, and the jti replay store).
 * Defaults that read the world (the wall clock) live here and nowhere below.
 */
import { availableParallelism } from 'node:os';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import aedesMemoryPersistence from 'aedes-persistence';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { audienceFromSafeName, safeAudienceName, type Clock, type CryptoProvider } from '../cose/index.js';
import { nativeProvider, verifyInThreadPool } from '../cose/adapters/index.js';
import { createAdmission } from './admission.js';
import { startAdmissionThreads, type AdmissionThreads } from './admission-threads.js';
import { memoryClientIdOwners, PERSISTENT_SESSION_GRACE_S, redisClientIdOwners, type ClientIdOwners } from './client-id-owners.js';
import { createByteBudgets, DEFAULT_CLIENT_QUEUE_RATE, DEFAULT_DEVICE_QUEUE_RATE, shareOf, type ByteRate } from './byte-budget.js';
import { createHooks, type HookClient, type HookPacket } from './hooks.js';
import { brokerLogger, type BrokerLog } from './broker-logger.js';
import { createBrokerMetrics, type BrokerMetrics } from './broker-metrics.js';
import { listenOps, type OpsListener } from './ops-listener.js';
import { probeRedis, redisEndpoint } from './redis-probe.js';
import { BrokerError, BROKER_ERR } from './errors.js';
import { serializeSubscriptionWrites } from './subscription-writes.js';
import type { Logger } from '../device/index.js';
import { httpIntrospection, type IntrospectionCredentials } from './introspection-client.js';
import { memoryJtiStore, redisJtiStore, type JtiStore, type RedisEval } from './jti-store.js';
import { createPacketMeter, DEFAULT_MAX_PACKET_BYTES, MAX_CONNECT_BYTES } from './packet-limits.js';
import type { RateLimit } from './rate-limiter.js';
import { backfillRestingLedger, type RedisScan } from './resting-ledger-backfill.js';
import { redisRestingSessionLedger, type RestingSessionLedger } from './resting-session-ledger.js';
import { createRetainedExpiry } from './retained-expiry.js';
import { RETAINED_EXPIRY_PREFIX, shareRetainedExpiry } from './retained-expiry-sync.js';
import { createRevocationLists } from './revocation-lists.js';
import { createTokenVerifier } from './token-verifier.js';
import { DEFAULT_TRL_POLL_S, MAX_POLLED_AUDIENCES, startTrlPoller } from './trl-poller.js';
import { DEFAULT_KEYS_REFRESH_S, refreshableTrust, startTrustRefresh } from './trust-refresh.js';
import { checkAuthzUrl } from './authz-http.js';
import { brokerTrust, type TrustInput } from './trust.js';
import { createTrustUpdateRelay, trustTopic, TRUST_TOPIC_SUFFIX } from './trust-update-relay.js';

const TRL_PREFIX = 'ace/trl/';
/** How often retained messages are checked against their publisher's token (seconds of lateness at most). */
export const RETAINED_SWEEP_MS = 1000;
/** How long close() waits for Redis-backed parts to let go before dropping their connections. */
const CLOSE_GRACE_MS = 2000;

export interface BrokerOptions {
  /** This broker's audience: tokens must name it, proofs must bind it. */
  audience: string;
  /** The service's public keys (COSE_Keys) or the broker's own provisioning bundle (decoded or CBOR): see trust.ts. */
  trust: TrustInput;
  /** Seconds since the epoch (default: the wall clock). */
  clock?: Clock;
  /** Default: node:crypto (servers). */
  provider?: CryptoProvider;
  /** The authorization service, for reference tokens (RFC 7662 introspection): https (http on loopback only). */
  authzUrl?: string;
  /** PEM CA certificate(s) trusted for the service's certificate instead of the system's roots. */
  authzCa?: string | Uint8Array;
  /** The broker's own client credentials at the service (it must be registered for `audience`). */
  introspection?: IntrospectionCredentials;
  /**
   * Seconds between fetches of the service's signed revocation list (GET <authzUrl>/trl/<audience>);
   * with `authzUrl` only. Default 60; 0 turns polling off (lists then arrive on ace/trl/<audience>).
   */
  trlPollS?: number;
  /**
   * Device audiences this broker relays to: their signed revocation lists and trust-anchor updates
   * are polled with the broker's own list (trlPollS) and retained on ace/trl/<aud> and
   * ace/<aud>/trust for devices that wake later. A configured list (not learned from topics seen:
   * anyone admitted could name a million devices): at most MAX_POLLED_AUDIENCES - 1.
   */
  deviceAudiences?: readonly string[];
  /**
   * Seconds between fetches of the service's key set (GET <authzUrl>/keys, trust-refresh.ts), which
   * is also fetched when a token names an unknown kid (rate-limited). With `authzUrl` only; default
   * DEFAULT_KEYS_REFRESH_S; 0: the trust stays what `trust` says.
   */
  keysRefreshS?: number;
  /** `redis://host:port`: share subscriptions, sessions, retained messages and the jti store. */
  redis?: string;
  /**
   * Every admission, refusal (with its reason code), disconnect, refresh and revocation list:
   * a pino-shaped logger (structured fields), or a function given each line's message (default:
   * none). Never given a token, a proof or a key.
   */
  logger?: Logger | BrokerLog;
  /** Seconds of skew tolerated on exp/nbf (default 0). */
  leeway?: number;
  /** Seconds either side of now a proof's iat may be (default 60). */
  iatWindow?: number;
  /** Fresh CONNECT/refresh proofs per PoP key, whatever its tokens (default 20 at once, then 2 a second). */
  connectRate?: RateLimit;
  relayRate?: RateLimit;
  /**
   * Largest MQTT packet (Remaining Length, bytes) from an admitted client; default 256 KiB. Before
   * CONNACK the cap is MAX_CONNECT_BYTES whatever this says. The socket is closed past it.
   */
  maxPacketBytes?: number;
  /**
   * QoS 1/2 bytes that may wait for one device (one client key gets 1/DEVICE_SENDER_SHARES of it),
   * and that one client key may queue (byte-budget.ts).
   */
  deviceQueueRate?: ByteRate;
  /**
   * How long a persistent session (clean=false) outlives its token at rest, seconds: its client id
   * stays its key's (or its subject's) meanwhile (client-id-owners.ts). Default a day.
   */
  sessionGraceS?: number;
  clientQueueRate?: ByteRate;
  /**
   * Worker threads that check CONNECT tokens and proofs off the event loop (admission-threads.ts).
   * Default: one fewer than the cores, at most 2 (0 on one core); 0 checks on the loop. Needs the
   * wall clock and node:crypto: with a `clock` or `provider` option only 0 is taken.
   */
  admissionThreads?: number;
  /** Extra aedes options (concurrency, queueLimit...); hooks and mq/persistence are ours. */
  aedes?: Omit<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'preConnect'>;
}

export interface ListenOptions {
  port?: number;
  host?: string;
  /** A second port for MQTT over WebSocket; omitted: no WebSocket listener. */
  wsPort?: number;
  /**
   * An HTTP port for /healthz, /readyz and Prometheus /metrics (ops-listener.ts); omitted: none.
   * On `metricsHost`, loopback by default: the metrics name audiences and rates, not for everyone.
   */
  metricsPort?: number;
  metricsHost?: string;
}

export interface KeyboundBroker {
  readonly aedes: Aedes;
  readonly audience: string;
  listen(opts?: ListenOptions | number): Promise<{ port: number; wsPort: number | undefined; url: string; wsUrl: string | undefined; metricsUrl: string | undefined }>;
  /** The Prometheus counters and histograms (broker-metrics.ts). */
  readonly metrics: BrokerMetrics;
  /** What /readyz reports: each check and whether all pass. */
  readiness(): { ready: boolean; checks: Record<string, boolean> };
  /** Applies a signed revocation list (e.g. from the service's onRevocationList) and publishes it retained. */
  publishRevocationList(audience: string, signedList: Uint8Array): Promise<void>;
  /** Checks a device's trust-anchor update (trust-update-relay.ts) and publishes it retained on ace/<device>/trust. */
  publishTrustUpdate(device: string, update: Uint8Array): Promise<void>;
  readonly stats: { clients: number; cachedTokens: number; revoked: number; retainedTracked: number; keyFetches: number; admissionChecks: { thread: number; loop: number } };
  close(): Promise<void>;
}

/** Threads by default: the cores but the loop's, at most this many. */
const DEFAULT_MAX_ADMISSION_THREADS = 2;

function startThreads(opts: BrokerOptions, log: (line: string) => void): AdmissionThreads | undefined {
  const injected = opts.clock !== undefined || (opts.provider !== undefined && opts.provider !== nativeProvider);
  const threads = opts.admissionThreads ?? (injected ? 0 : Math.min(DEFAULT_MAX_ADMISSION_THREADS, availableParallelism() - 1));
  if (!Number.isInteger(threads) || threads < 0 || threads > 64) throw new RangeError('admissionThreads must be an integer from 0 to 64');
  if (threads === 0) return undefined;
  // A thread reads the wall clock and verifies with node:crypto: what it proved must hold for the loop's own.
  if (injected) throw new RangeError('admissionThreads needs the wall clock and node:crypto: with a clock or provider option, give 0');
  try {
    return startAdmissionThreads({
      threads,
      data: { audience: opts.audience, trust: opts.trust, ...(opts.leeway !== undefined ? { leeway: opts.leeway } : {}), ...(opts.iatWindow !== undefined ? { iatWindow: opts.iatWindow } : {}) },
      log,
    });
  } catch (e) {
    // Slower, never refused: every CONNECT is then checked on the loop.
    log(`broker: admission threads not started (${String((e as Error).message).slice(0, 80)}); CONNECTs are checked on the event loop`);
    return undefined;
  }
}

export async function createBroker(opts: BrokerOptions): Promise<KeyboundBroker> {
  const clock = opts.clock ?? (() => Date.now() / 1000);
  const provider = opts.provider ?? nativeProvider;
  const logger = brokerLogger(opts.logger);
  // Operational lines without a client (Redis, persistence, the TRL poller).
  const log = (line: string): void => logger.warn({ event: 'broker_warning' }, line);
  const metrics = createBrokerMetrics();
  // Refused before anything starts: the secret and the answers must not cross a network in clear.
  if (opts.authzUrl) checkAuthzUrl(opts.authzUrl);
  const maxPacketBytes = opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  createPacketMeter(maxPacketBytes); // a bad value fails here, not at the first connection
  const configuredTrust = brokerTrust(opts.trust, { audience: opts.audience, now: clock() });
  const keysRefreshS = opts.keysRefreshS ?? DEFAULT_KEYS_REFRESH_S;
  if (!Number.isFinite(keysRefreshS) || keysRefreshS < 0) throw new RangeError('keysRefreshS must be a number of seconds >= 0');
  const refreshable =
    opts.authzUrl && keysRefreshS > 0
      ? refreshableTrust(configuredTrust, {
          authzUrl: opts.authzUrl,
          ...(opts.authzCa !== undefined ? { ca: opts.authzCa } : {}),
          audience: opts.audience,
          log,
          info: (line) => logger.info({ event: 'trust_refreshed' }, line),
          clock,
        })
      : undefined;
  const trust = refreshable ?? configuredTrust;
  const revocation = createRevocationLists(opts.audience, trust.resolve, provider);
  const trustUpdates = createTrustUpdateRelay(() => trust.signers, provider);
  const introspect = opts.authzUrl && opts.introspection ? httpIntrospection(opts.authzUrl, opts.introspection, opts.authzCa) : undefined;
  const verifier = createTokenVerifier({
    audience: opts.audience,
    trust,
    clock,
    provider,
    ...(opts.leeway !== undefined ? { leeway: opts.leeway } : {}),
    ...(introspect ? { introspect } : {}),
    isRevoked: (h) => revocation.isRevoked(h),
    issuedBefore: () => revocation.issuedBefore,
    ...(refreshable ? { keyRefresh: refreshable } : {}),
  });

  if (opts.sessionGraceS !== undefined && !(Number.isFinite(opts.sessionGraceS) && opts.sessionGraceS >= 0)) throw new RangeError('sessionGraceS must be a number of seconds >= 0');
  let jtis: JtiStore = memoryJtiStore(clock);
  let owners: ClientIdOwners = memoryClientIdOwners(clock);
  let restingLedger: RestingSessionLedger | undefined;
  let backfillResting: (() => Promise<number>) | undefined;
  const aedesOpts: AedesOptions = { ...opts.aedes };
  const closers: Array<() => Promise<unknown>> = [];
  /** The SUBSCRIBE filters authorizeSubscribe granted: only these are stored (subscription-writes.ts). */
  const grantedSubscriptions = new WeakSet<object>();
  /** Redis connections that must be up for the broker to be ready (none without --redis). */
  const redisConns: Array<{ status: string }> = [];
  if (opts.redis) {
    // At start an unreachable Redis is a configuration error (one line, an exit code), not a
    // broker that hangs retrying or dies with a stack trace; later it is a refusal (admission.ts).
    if ((await probeRedis(opts.redis)).cluster) {
      // The admission script claims a jti and charges its allowances in one EVAL over several keys,
      // and aedes-persistence-redis writes a client's session across keys: a cluster spreads them
      // over nodes (CROSSSLOT, MOVED), so every CONNECT would be refused. Say so at start.
      throw new BrokerError(BROKER_ERR.REDIS_UNAVAILABLE, `Redis at ${redisEndpoint(opts.redis)} is a Redis Cluster node: the broker needs one Redis server (a primary, with replicas and Sentinel for failover); the gateway and the service take a cluster`);
    }
    const { Redis } = await import('ioredis');
    const { default: mqemitterRedis } = await import('mqemitter-redis');
    const { default: persistenceRedis } = await import('aedes-persistence-redis');
    const jtiConn = new Redis(opts.redis, { maxRetriesPerRequest: 2 });
    const persistenceConn = new Redis(opts.redis);
    redisConns.push(jtiConn, persistenceConn);
    jtis = redisJtiStore(jtiConn as unknown as RedisEval, clock);
    owners = redisClientIdOwners(jtiConn as unknown as RedisEval, clock, provider);
    restingLedger = redisRestingSessionLedger(jtiConn as unknown as RedisEval, provider);
    backfillResting = () => backfillRestingLedger(jtiConn as unknown as RedisScan, provider, clock, opts.sessionGraceS ?? PERSISTENT_SESSION_GRACE_S);
    const mq = mqemitterRedis({ connectionString: opts.redis });
    aedesOpts.mq = mq;
    // Redis going away is an error event on each connection (ioredis reconnects by itself), and
    // mqemitter-redis re-emits its connections' errors on `state`: unheard, that event throws and
    // the process exits, taking every client with it. Heard, the broker stays up, refuses what it
    // cannot check without Redis (CONNECT: the replay store) and resumes when Redis is back.
    const redisDown = (e: Error) => logger.error({ event: 'redis_error', code: 'redis_unavailable', error: String(e.message).slice(0, 80) }, `broker: Redis: ${String(e.message).slice(0, 80)}`);
    jtiConn.on('error', redisDown);
    persistenceConn.on('error', redisDown);
    (mq as unknown as { state: { on(event: 'error', f: (e: Error) => void): void } }).state.on('error', redisDown);
    const persistence = serializeSubscriptionWrites(persistenceRedis({ conn: persistenceConn }) as object, grantedSubscriptions);
    aedesOpts.persistence = persistence;
    // The persistence's destroy unsubscribes from the mq: it must run before aedes.close() closes
    // the mq (its last step), or mqemitter-redis sends PUNSUBSCRIBE on a closed connection and the
    // rejection is unhandled. Without a callback the wrapper hands back the async persistence's own
    // destroy (with one, it waits for a 'ready' event that aedes 1.x never causes). Bounded:
    // closing must not hang.
    const closeMq = mq.close.bind(mq);
    mq.close = (cb: () => void) => {
      const destroyed = Promise.resolve((persistence as { destroy(): Promise<void> }).destroy()).catch(() => {});
      void Promise.race([destroyed, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref())]).then(() => closeMq(cb));
    };
    closers.push(async () => {
      await Promise.allSettled([jtiConn.quit(), persistenceConn.quit()]);
      persistenceConn.disconnect();
      jtiConn.disconnect();
    });
  }

  // One process: aedes' own in-memory persistence (or the caller's), wrapped as the Redis one is.
  // Unwrapped, aedes writes a clean=false SUBSCRIBE's whole list once per filter (quadratic: one
  // packet of 6,000 filters held the loop 22 s) and stores filters the broker refused.
  if (!opts.redis) {
    // The package's types say `export default`; loaded from ESM, its default is module.exports, the factory.
    const memory = aedesMemoryPersistence as unknown as () => object;
    aedesOpts.persistence = serializeSubscriptionWrites(opts.aedes?.persistence ?? memory(), grantedSubscriptions) as AedesOptions['persistence'];
  }
  const admissionThreads = startThreads(opts, log);
  if (admissionThreads) closers.push(() => admissionThreads.close());
  const admit = createAdmission({
    ...(admissionThreads ? { checkElsewhere: admissionThreads.check } : {}),
    audience: opts.audience,
    verifier,
    jtis,
    clock,
    provider,
    ...(opts.iatWindow !== undefined ? { iatWindow: opts.iatWindow } : {}),
    ...(opts.connectRate ? { connectRate: opts.connectRate } : {}),
    // node:crypto checks the two signatures of a CONNECT on the thread pool, in parallel, while
    // the loop serves other clients (deferred-signatures.ts); another provider verifies in line.
    ...(provider === nativeProvider ? { verifyOffLoop: verifyInThreadPool } : {}),
    // In memory the jti store starts empty with this process: a CONNECT captured before a restart
    // would replay. On Redis the store outlives the process (keys expire with their window).
    ...(opts.redis ? {} : { notBefore: Math.floor(clock()) }),
  });
  let aedesRef: Aedes | undefined;
  // Mirrored as $keybound/retained-exp/<topic> sidecars, so cluster peers and later runs agree.
  const retained = shareRetainedExpiry(
    createRetainedExpiry(),
    (topic, payload) =>
      aedesRef?.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false }, (e) => {
        if (e) log(`broker: retained-expiry record not shared (${e.message.slice(0, 80)})`);
      }),
    clock,
  );
  const hooks = createHooks({
    audience: opts.audience,
    admit,
    verifier,
    revocation,
    retained,
    owners,
    ...(restingLedger ? { restingLedger } : {}),
    ...(opts.sessionGraceS !== undefined ? { sessionGraceS: opts.sessionGraceS } : {}),
    storedFilters: async (clientId) => ((await sessionStore().subscriptionsByClient({ id: clientId })) ?? []).map((s) => s.topic),
    // What a clean CONNECT would drop (aedes lib/handlers/connect.js): the filters, then each queued
    // message. aedes clears a queued message by its packet id, which one never sent has not got
    // yet: each is given id 1 and cleared in turn (one at a time, so ids never collide).
    endSession: async (clientId) => {
      const store = sessionStore();
      const client = { id: clientId };
      await store.cleanSubscriptions(client);
      for await (const packet of store.outgoingStream(client)) {
        const queued = Object.assign(packet, { messageId: 1 });
        await store.outgoingUpdate(client, queued);
        await store.outgoingClearMessageId(client, queued);
      }
      await store.cleanIncoming?.(client);
    },
    clock,
    provider,
    log: logger,
    metrics,
    ...(opts.relayRate ? { relayRate: opts.relayRate } : {}),
    queueBudgets: {
      device: createByteBudgets(clock, opts.deviceQueueRate ?? DEFAULT_DEVICE_QUEUE_RATE),
      sender: createByteBudgets(clock, shareOf(opts.deviceQueueRate ?? DEFAULT_DEVICE_QUEUE_RATE)),
      client: createByteBudgets(clock, opts.clientQueueRate ?? DEFAULT_CLIENT_QUEUE_RATE),
    },
    // Written to the store, not published: MQTT 3.1.1 §3.3.1.3 delivers an empty retained PUBLISH
    // to every live subscriber as a message, and a retained message outliving its token (RFC 9431
    // §6) is the broker's housekeeping, not something a client said. The store is the cluster's
    // (Redis) or this process's alone, so one write clears it for every broker.
    clearRetained: (topic) => {
      const store = (aedesRef as unknown as { persistence: { storeRetained(packet: object): Promise<void> } } | undefined)?.persistence;
      store?.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false }).catch((e: Error) => log(`broker: retained message on ${JSON.stringify(topic.slice(0, 64))} not cleared (${e.message.slice(0, 80)})`));
    },
    trustUpdates,
    catchUpRevocationList: async (audience) => {
      for await (const packet of retainedStream(`${TRL_PREFIX}${safeAudienceName(audience)}`)) acceptRetainedList(packet, 'catch-up');
    },
  });
  /** aedes' session store (persistence), as far as the broker reads and ends sessions at rest. */
  const sessionStore = () =>
    (aedesRef as unknown as {
      persistence: {
        subscriptionsByClient(client: { id: string }): Promise<Array<{ topic: string }> | null>;
        cleanSubscriptions(client: { id: string }): Promise<unknown>;
        outgoingStream(client: { id: string }): AsyncIterable<object>;
        outgoingUpdate(client: { id: string }, packet: object): Promise<unknown>;
        outgoingClearMessageId(client: { id: string }, packet: object): Promise<unknown>;
        cleanIncoming?(client: { id: string }): Promise<unknown>;
      };
    }).persistence;
  const retainedStream = (pattern: string) =>
    (aedesRef as unknown as { persistence: { createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }> } }).persistence.createRetainedStream(pattern);
  /** A list retained in the shared store or routed by a peer: its audience is its topic's last level. */
  const acceptRetainedList = (packet: { topic: string; payload: Buffer; retain?: boolean }, from: 'peer' | 'retained' | 'catch-up'): void => {
    // The topic's last level is the audience's safe name (cose/audience-id.ts).
    const audience = audienceFromSafeName(packet.topic.slice(TRL_PREFIX.length));
    if (packet.payload.length === 0 || audience === undefined) return;
    const signed = new Uint8Array(packet.payload.buffer, packet.payload.byteOffset, packet.payload.length);
    try {
      hooks.applyRevoked(revocation.accept(audience, signed), audience);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'replay') {
        log(`broker: revocation list for ${JSON.stringify(audience.slice(0, 64))} (${from}) refused (${code ?? 'error'})`);
        return;
      }
      // A peer retained an older list than ours (it took it in the same instant we took the newer
      // one, and its write landed last; aedes stores a retained message before routing it): the
      // retained list goes back to the newest. Equal sequence numbers change nothing, so two
      // brokers never bounce a list between them.
      const newest = revocation.newest(audience);
      if (from === 'peer' && packet.retain && newest && revocation.isOlder(audience, signed)) {
        log(`broker: an older revocation list for ${JSON.stringify(audience.slice(0, 64))} was retained by a peer; the newest is retained again`);
        aedesRef?.publish({ cmd: 'publish', topic: packet.topic, payload: Buffer.from(newest), qos: 1, retain: true, dup: false }, (e) => {
          if (e) log(`broker: revocation list not retained again (${e.message.slice(0, 80)})`);
        });
      }
    }
  };

  /** What an admitted connection may now send (a WebSocket's frame limit is raised to maxPacketBytes). */
  const onAdmitted = new WeakMap<object, () => void>();
  const aedes = await Aedes.createBroker({
    ...aedesOpts,
    preConnect: (client, packet, cb) => hooks.preConnect(client as HookClient, packet as { will?: HookPacket }, cb),
    authenticate: (client, username, password, done) =>
      hooks.authenticate(client as HookClient, username, password ? new Uint8Array(password.buffer, password.byteOffset, password.length) : undefined, (err, ok) => {
        if (ok) onAdmitted.get(client)?.();
        (done as (e: Error | null, ok: boolean | null) => void)(err, ok);
      }),
    authorizePublish: (client, packet, cb) => hooks.authorizePublish(client as HookClient | null, packet as HookPacket, cb),
    authorizeSubscribe: (client, sub, cb) =>
      hooks.authorizeSubscribe(client as HookClient, sub, (err, granted) => {
        if (granted) grantedSubscriptions.add(granted);
        (cb as (e: Error | null, s?: unknown) => void)(err, granted);
      }),
    authorizeForward: (client, packet) => hooks.authorizeForward(client as HookClient, packet as never),
  });
  aedesRef = aedes;
  // aedes reports persistence failures (e.g. its periodic Will sweep with Redis down) as 'error'.
  (aedes as unknown as { on(event: 'error', f: (e: Error) => void): void }).on('error', (e) => log(`broker: ${String(e.message).slice(0, 80)}`));
  aedes.on('clientDisconnect', (client: Client) => hooks.disconnected(client as HookClient));
  // A list for any audience published at another broker of the cluster reaches us through mq:
  // we learn its sequence number, so an older list for that audience is refused here too.
  await new Promise<void>((resolve) =>
    aedes.subscribe(
      `${TRL_PREFIX}+`,
      (packet, cb) => {
        if ((packet as { brokerId?: string }).brokerId !== aedes.id) acceptRetainedList(packet as { topic: string; payload: Buffer; retain: boolean }, 'peer');
        cb();
      },
      resolve,
    ),
  );
  // The latest lists are retained: a restarted broker, or a cluster peer started after they were
  // published, reads every one back from persistence (aedes' own subscribe delivers only new messages).
  // Retained-expiry sidecars from the other brokers of the cluster (ours come back too: skipped).
  await new Promise<void>((resolve) =>
    aedes.subscribe(
      `${RETAINED_EXPIRY_PREFIX}#`,
      (packet, cb) => {
        if ((packet as { brokerId?: string }).brokerId !== aedes.id) retained.applyShared(packet.topic, new Uint8Array(packet.payload as Buffer));
        cb();
      },
      resolve,
    ),
  );
  // What earlier runs and other brokers recorded, so that this one clears their topics on time.
  for await (const packet of retainedStream(`${RETAINED_EXPIRY_PREFIX}#`)) {
    retained.applyShared(packet.topic, new Uint8Array(packet.payload));
  }
  for await (const packet of retainedStream(`${TRL_PREFIX}+`)) acceptRetainedList(packet, 'retained');
  // Trust updates retained by earlier runs or peers: their seq is the floor for what we route.
  const acceptRetainedTrust = (packet: { topic: string; payload: Buffer }): void => {
    const device = packet.topic.slice('ace/'.length, -TRUST_TOPIC_SUFFIX.length);
    if (packet.payload.length === 0 || !device || device.includes('/')) return;
    try {
      trustUpdates.accept(device, new Uint8Array(packet.payload.buffer, packet.payload.byteOffset, packet.payload.length));
    } catch {
      // Older or refused: nothing to learn.
    }
  };
  await new Promise<void>((resolve) =>
    aedes.subscribe(
      `ace/+${TRUST_TOPIC_SUFFIX}`,
      (packet, cb) => {
        if ((packet as { brokerId?: string }).brokerId !== aedes.id) acceptRetainedTrust(packet as { topic: string; payload: Buffer });
        cb();
      },
      resolve,
    ),
  );
  for await (const packet of retainedStream(`ace/+${TRUST_TOPIC_SUFFIX}`)) acceptRetainedTrust(packet);
  const sweep = setInterval(() => hooks.sweepRetained(), RETAINED_SWEEP_MS);
  sweep.unref();
  // Sessions at rest that a broker on this Redis (this one before a restart) left behind; those
  // of a version before the ledger are given entries first (once per Redis).
  void (backfillResting?.() ?? Promise.resolve(0))
    .then(
      (added) => {
        if (added > 0) logger.info({ event: 'sessions_at_rest_recorded', sessions: added }, `broker: ${added} persistent sessions at rest from before the ledger recorded; each ends at its client id's record's end, or a grace from now`);
      },
      (e: Error) => {
        logger.warn({ event: 'sessions_at_rest_not_recorded', error: e.message.slice(0, 80) }, `broker: sessions at rest from before the ledger not recorded (${e.message.slice(0, 80)}); tried again at the next start`);
      },
    )
    .finally(() => hooks.sweepResting());

  const publishRevocationList = async (audience: string, signedList: Uint8Array): Promise<void> => {
    hooks.applyRevoked(revocation.accept(audience, signedList), audience);
    await new Promise<void>((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic: `${TRL_PREFIX}${safeAudienceName(audience)}`, payload: Buffer.from(signedList), qos: 1, retain: true, dup: false }, (e) => (e ? reject(e) : resolve())),
    );
  };
  const publishTrustUpdate = async (device: string, update: Uint8Array): Promise<void> => {
    trustUpdates.accept(device, update);
    await new Promise<void>((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic: trustTopic(device), payload: Buffer.from(update), qos: 1, retain: true, dup: false }, (e) => (e ? reject(e) : resolve())),
    );
  };
  /** A list signed by a key we do not know yet (the service rotated): one retry after a key fetch. */
  const applyPolledList = async (audience: string, signedList: Uint8Array): Promise<void> => {
    const missesBefore = refreshable?.misses ?? 0;
    try {
      await publishRevocationList(audience, signedList);
    } catch (error) {
      if (!refreshable || refreshable.misses === missesBefore || !(await refreshable.refresh())) {
        if ((error as { code?: string }).code !== 'replay') log(`broker: revocation list for ${JSON.stringify(audience.slice(0, 64))} refused (${(error as { code?: string }).code ?? 'error'})`);
        throw error;
      }
      await publishRevocationList(audience, signedList);
    }
  };
  const stopKeyRefresh = refreshable ? await startTrustRefresh(refreshable, keysRefreshS) : () => {};
  const trlPollS = opts.trlPollS ?? DEFAULT_TRL_POLL_S;
  if (!Number.isFinite(trlPollS) || trlPollS < 0) throw new RangeError('trlPollS must be a number of seconds >= 0');
  if ((opts.deviceAudiences?.length ?? 0) >= MAX_POLLED_AUDIENCES) throw new RangeError(`at most ${MAX_POLLED_AUDIENCES - 1} relayed audiences`);
  const stopPolling =
    opts.authzUrl && trlPollS > 0
      ? await startTrlPoller({
          authzUrl: opts.authzUrl,
          ...(opts.authzCa !== undefined ? { ca: opts.authzCa } : {}),
          audiences: [opts.audience, ...(opts.deviceAudiences ?? [])],
          intervalS: trlPollS,
          log,
          apply: applyPolledList,
          trustAudiences: opts.deviceAudiences ?? [],
          applyTrustUpdate: async (device, update) => {
            try {
              await publishTrustUpdate(device, update);
              // Routine (each key rotation the service signs): info, with its own event name.
              logger.info({ event: 'trust_update_relayed', device: device.slice(0, 64), seq: trustUpdates.seq(device) }, `broker: trust update for ${JSON.stringify(device.slice(0, 64))} relayed (seq ${trustUpdates.seq(device)})`);
            } catch (error) {
              const code = (error as { code?: string }).code;
              if (code !== 'replay') log(`broker: trust update for ${JSON.stringify(device.slice(0, 64))} refused (${code ?? 'error'})`);
              throw error;
            }
          },
        })
      : () => {};

  /** aedes.handle, with every chunk metered before the parser buffers it (packet-limits.ts). */
  const handle = (conn: Duplex, req?: IncomingMessage, admitted?: () => void): void => {
    const client = aedes.handle(conn, req as never) as unknown as HookClient & { _parser?: { parse(buf: Buffer): unknown } };
    if (admitted) onAdmitted.set(client, admitted);
    // aedes 1.x feeds every chunk to client._parser.parse; without that seam, fail closed.
    if (typeof client._parser?.parse !== 'function') {
      log('broker: connection closed: this aedes has no parser to meter');
      conn.destroy();
      return;
    }
    const meter = createPacketMeter(maxPacketBytes);
    const parser = client._parser;
    const parse = parser.parse.bind(parser);
    parser.parse = (buf: Buffer) => {
      const refused = meter.feed(buf, hooks.isAdmitted(client));
      if (refused === undefined) return parse(buf);
      log(`broker: connection closed: ${refused}`);
      conn.destroy();
      return 0;
    };
  };
  let tcp: TcpServer | undefined;
  let ops: OpsListener | undefined;
  let closed = false;
  const readiness = () => {
    const checks: Record<string, boolean> = {
      listening: tcp?.listening === true && !closed,
      // brokerTrust refused a trust without anchors at creation; it holds until close.
      trust: true,
      ...(opts.redis ? { redis: redisConns.every((c) => c.status === 'ready') } : {}),
    };
    return { ready: Object.values(checks).every(Boolean), checks };
  };
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;

  return {
    aedes,
    audience: opts.audience,
    async listen(arg = {}) {
      const o: ListenOptions = typeof arg === 'number' ? { port: arg } : arg;
      const host = o.host ?? '127.0.0.1';
      tcp = createTcpServer((socket) => handle(socket));
      await new Promise<void>((resolve, reject) => {
        tcp!.once('error', reject);
        tcp!.listen(o.port ?? 0, host, () => resolve());
      });
      const port = (tcp.address() as AddressInfo).port;
      let wsPort: number | undefined;
      if (o.wsPort !== undefined) {
        http = createHttpServer();
        // ws holds a whole frame before we see it: frames are no bigger than the largest packet
        // (mqtt.js sends one packet a frame; 5 bytes of MQTT fixed header at most), and before
        // CONNACK no bigger than MAX_CONNECT_BYTES, as on TCP: ws reads the limit at each frame
        // header from its receiver, which we raise once the client is admitted. Without that
        // seam (another ws), admitted clients keep the small limit: fail closed.
        wss = new WebSocketServer({ server: http, maxPayload: MAX_CONNECT_BYTES + 5 });
        // ws re-emits its HTTP server's errors: unheard, a port in use was an uncaught exception (a
        // stack trace) before the listen below could reject with it, as the MQTT port's does.
        wss.on('error', () => undefined);
        wss.on('connection', (socket, req) => {
          const receiver = (socket as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
          const raise = receiver && typeof receiver._maxPayload === 'number' ? () => void (receiver._maxPayload = maxPacketBytes + 5) : undefined;
          handle(createWebSocketStream(socket), req, raise);
        });
        await new Promise<void>((resolve, reject) => {
          http!.once('error', reject);
          http!.listen(o.wsPort, host, () => resolve());
        });
        wsPort = (http.address() as AddressInfo).port;
      }
      let metricsUrl: string | undefined;
      if (o.metricsPort !== undefined) {
        ops = await listenOps({ port: o.metricsPort, host: o.metricsHost ?? '127.0.0.1', registry: metrics.registry, readiness });
        metricsUrl = ops.url;
      }
      logger.info({ event: 'listening', audience: opts.audience, port, wsPort, metricsUrl, cluster: opts.redis !== undefined }, `broker: started (MQTT port ${port})`);
      return { port, wsPort, url: `mqtt://${host}:${port}`, wsUrl: wsPort === undefined ? undefined : `ws://${host}:${wsPort}`, metricsUrl };
    },
    publishRevocationList,
    metrics,
    readiness,
    publishTrustUpdate,
    get stats() {
      return { clients: aedes.connectedClients, cachedTokens: verifier.cached, revoked: revocation.revokedCount, retainedTracked: retained.size, keyFetches: refreshable?.fetches ?? 0, admissionChecks: { ...(admissionThreads?.counts ?? { thread: 0, loop: 0 }) } };
    },
    async close() {
      closed = true;
      stopPolling();
      await ops?.close();
      stopKeyRefresh();
      clearInterval(sweep);
      hooks.closeAll();
      wss?.clients.forEach((c) => c.terminate());
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await Promise.all([
        tcp ? new Promise<void>((r) => tcp!.close(() => r())) : undefined,
        wss ? new Promise<void>((r) => wss!.close(() => r())) : undefined,
        http ? new Promise<void>((r) => { http!.closeAllConnections(); http!.close(() => r()); }) : undefined,
      ]);
      for (const c of closers) await c();
    },
  };
}
