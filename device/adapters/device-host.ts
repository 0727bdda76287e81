/**
 * The device runtime on an embedded Node board (issue 10, `keybound device serve`): the portable
 * device node (device-node.ts) on file storage, talking to the broker relay over MQTT.
 *
 * - Broker credentials: the device is a client of the service. With `access` it asks the token
 *   endpoint (client_credentials, application/ace+cbor, RFC 9200 §5.8) for a broker token bound to
 *   its own key (req_cnf) with the scope of its own topics, keeps it in storage and asks again
 *   before it expires; every CONNECT carries a fresh PoP proof (username `ace`, RFC 9431 §2.2).
 *   The key is the bundle's deviceKey, or one made at first start and kept in storage.
 * - Sleep and wake: a persistent session (clean: false, a fixed client id, QoS 1 subscriptions) so
 *   the broker queues what arrives while the device sleeps; at each wake it connects, takes what
 *   waited (the retained revocation list and trust update too) until the line has been quiet for
 *   `awakeMs`, and disconnects. `wakeEvery` 0 stays connected.
 * - Nothing acknowledged is lost: a message is handled (and what it changed written to storage)
 *   and its answer handed to the socket BEFORE the broker gets the PUBACK, so a kill -9 at any
 *   point leaves the message with the broker to be delivered again.
 * - stop(): no new wake, the message in hand finished and answered, disconnect.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { connect as mqttConnect, type IClientPublishOptions, type MqttClient } from 'mqtt';
import {
  ALG,
  deriveOscoreContext,
  OscoreState,
  oscoreStorageName,
  coseKeyFromMap,
  coseKeyToMap,
  decodeCbor,
  encodeCbor,
  fromBase64Url,
  asSafeInteger,
  type CborValue,
  type CoseKey,
  type OscoreContextInput,
} from '../../cose/index.js';
import { nativeProvider } from '../../cose/adapters/index.js';
import {
  createConnectPassword,
  createDeviceNode,
  demoResources,
  requestToken,
  resourceHandler,
  ACE_USERNAME,
  logText,
  type DeviceNode,
  type LogFields,
  type Logger,
  type ResourceModule,
} from '../index.js';
import { fileStorage } from './file-storage.js';
import { lockDataDir } from './data-dir-lock.js';
import { assertPrivateDir } from './private-dir.js';
import { readBoundedBody } from './bounded-body.js';
import { within } from './time-limit.js';
import { startDeviceCoap, deviceOscoreStorage } from './device-coap.js';

const DEVICE_KEY = 'device-key';
const BROKER_TOKEN = 'broker-token';
/** Ask for a new broker token when the held one has less than this left (seconds). */
const TOKEN_RENEW_MARGIN_S = 120;
/** A wake's window when nothing at all arrives (a message resets the quiet timer). */
export const DEFAULT_AWAKE_MS = 1500;
const TOKEN_ENDPOINT_TIMEOUT_MS = 15_000;
/** How long the broker has to answer a CONNECT (CONNACK) and then the SUBSCRIBE (SUBACK). */
const DEFAULT_BROKER_TIMEOUT_MS = 15_000;
/** A token answer is a token (at most a few KiB, RFC 9200 §5.8.2) and a few numbers. */
const MAX_TOKEN_ANSWER_BYTES = 16 * 1024;
/** How long a disconnect waits for the broker to acknowledge answers already sent. */
const DISCONNECT_WAIT_MS = 5_000;
/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface BrokerAccessOptions {
  /** The service's token endpoint, e.g. https://as.example/token (http only on loopback). */
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** The broker's audience at the service. */
  audience: string;
}

export interface DeviceHostOptions {
  bundle: Uint8Array;
  dataDir: string;
  /** The broker relay; without it the device serves CoAP only (`coap` is then needed). */
  brokerUrl?: string;
  /** Serve CoAP over UDP too (issue 12): the port (0: any) and the address (default 127.0.0.1). */
  coap?: {
    port: number;
    host?: string;
    /** A static OSCORE context (`--oscore-conf`): its state is kept in the data directory. */
    oscore?: OscoreContextInput;
  };
  /** The resources to serve; the demo resources by default. */
  module?: ResourceModule;
  /** Seconds asleep between wakes; 0 stays connected. */
  wakeEvery: number;
  awakeMs?: number;
  /** How long the broker has to answer the CONNECT and then the SUBSCRIBE (ms); 15 000 by default. */
  brokerTimeoutMs?: number;
  access?: BrokerAccessOptions;
  /** The device's log (device/logger.ts: createNodeLogger on a Node host). */
  logger: Logger;
  clock?: () => number;
}

export interface DeviceHost {
  readonly node: DeviceNode;
  /** The CoAP port when `coap` was asked. */
  readonly coapPort: number | undefined;
  /** Resolves when the host has stopped (after stop(), or a fatal error: then it rejects). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** The AIF-MQTT scope (RFC 9431 §3) of a device's own relay topics. */
export function deviceBrokerScope(deviceId: string): CborValue {
  return [
    [`ace/${deviceId}/authz-info`, ['sub']],
    [`ace/${deviceId}/req`, ['sub']],
    [`ace/${deviceId}/res/+`, ['pub']],
    [`ace/${deviceId}/trust`, ['sub']],
  ];
}

function ownKey(storage: ReturnType<typeof fileStorage>, bundleKey: CoseKey | undefined): CoseKey {
  if (bundleKey?.d) return bundleKey;
  const saved = storage.get(DEVICE_KEY);
  if (saved) return coseKeyFromMap(decodeCbor(saved, { maxBytes: 1024, maxDepth: 3 }));
  // The JWK from the generation itself, not exported after it (cose/adapters/native-provider.ts
  // generateKeyPair: a GC during Node 20's export can deadlock the thread).
  const generate = generateKeyPairSync as unknown as (type: 'ed25519', options: object) => { privateKey: { d?: string; x?: string } };
  const jwk = generate('ed25519', { privateKeyEncoding: { format: 'jwk' }, publicKeyEncoding: { format: 'jwk' } }).privateKey;
  const key: CoseKey = { kty: 'OKP', crv: 'Ed25519', alg: ALG.EdDSA, x: fromBase64Url(jwk.x!), d: fromBase64Url(jwk.d!) };
  storage.put(DEVICE_KEY, encodeCbor(coseKeyToMap(key)));
  return key;
}

/** Waits `ms` or until aborted; the abort listener goes with the timer (one sleep per wake loop turn, it must not pile up). */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** Resolves once `signal` is aborted (at once if it already is: a stop during the first wake). */
const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

export async function startDeviceHost(opts: DeviceHostOptions): Promise<DeviceHost> {
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const log = (event: string, fields: LogFields = {}) => opts.logger.info({ event, ...fields }, `device: ${event.replaceAll('_', ' ')}`);
  // Owner-only when we create it: it will hold the device's private key and PoP keys.
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  assertPrivateDir(opts.dataDir);
  const lock = lockDataDir(opts.dataDir);
  try {
    return await startOnLockedDir(opts, clock, log, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function startOnLockedDir(opts: DeviceHostOptions, clock: () => number, log: (event: string, fields?: LogFields) => void, lock: { release(): void }): Promise<DeviceHost> {
  const storage = fileStorage(opts.dataDir);
  const handlerFor = (deviceId: string) =>
    resourceHandler(opts.module ?? demoResources(deviceId, clock), (what, error) =>
      opts.logger.error({ event: 'handler_failed', resource: what, error: (error as Error)?.name ?? 'error' }, 'device: handler failed'),
    );
  const node = createDeviceNode({
    bundle: opts.bundle,
    storage,
    clock,
    provider: nativeProvider,
    handler: handlerFor,
    logger: opts.logger,
  });
  const clientId = `device-${node.deviceId}`;
  const key = opts.access ? ownKey(storage, node.trust.trust.deviceKey) : undefined;
  const awakeMs = opts.awakeMs ?? DEFAULT_AWAKE_MS;
  const brokerTimeoutMs = opts.brokerTimeoutMs ?? DEFAULT_BROKER_TIMEOUT_MS;

  async function brokerToken(): Promise<Uint8Array> {
    const access = opts.access!;
    const saved = storage.get(BROKER_TOKEN);
    if (saved) {
      const v = decodeCbor(saved, { maxBytes: 16_384, maxDepth: 2 });
      const exp = Array.isArray(v) ? asSafeInteger(v[1]) : undefined;
      if (Array.isArray(v) && v[0] instanceof Uint8Array && exp !== undefined && exp - clock() > TOKEN_RENEW_MARGIN_S) {
        tokenExp = exp;
        return v[0];
      }
    }
    const res = await requestToken(
      async (body) => {
        const r = await fetch(access.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/ace+cbor' },
          body: Buffer.from(body),
          signal: AbortSignal.timeout(TOKEN_ENDPOINT_TIMEOUT_MS),
          // The body carries the client secret: a 307/308 would re-send it wherever Location
          // points (http:// too), past the https check made on --token-url.
          redirect: 'error',
        });
        // Bounded: an answer that never ends must not fill the device's memory until the timeout.
        return readBoundedBody(r, MAX_TOKEN_ANSWER_BYTES);
      },
      { grant: 'client_credentials', auth: { clientId: access.clientId, clientSecret: access.clientSecret }, audience: access.audience, scope: deviceBrokerScope(node.deviceId), popKey: key! },
    );
    const exp = clock() + (res.expiresIn ?? 3600);
    storage.put(BROKER_TOKEN, encodeCbor([res.accessToken, exp]));
    tokenExp = exp;
    log('broker_token', { expires_in: res.expiresIn ?? 3600 });
    return res.accessToken;
  }

  let token: Uint8Array | undefined;
  /** When the held broker token expires (seconds), once there is one. */
  let tokenExp: number | undefined;
  const password = (): Buffer | undefined =>
    opts.access && token ? Buffer.from(createConnectPassword(token, key!, { audience: opts.access.audience, clientId, clock, provider: nativeProvider })) : undefined;

  const stopping = new AbortController();
  let client: MqttClient | undefined;
  /** Clients whose session is being ended: what reaches them now is left with the broker. */
  const ending = new WeakSet<MqttClient>();
  let inFlight: Promise<void> = Promise.resolve();
  let lastActivity = Date.now();

  /** Handles one message, then lets mqtt.js PUBACK it (see the header: nothing acknowledged is lost). */
  function onPacket(c: MqttClient, topic: string, payload: Uint8Array, ack: (error?: Error) => void): void {
    if (ending.has(c)) {
      // Arrived while the session ends: its answer could no longer be sent, and a PUBACK would
      // make the broker forget it. Not acknowledged, the broker delivers it again at the next
      // wake (MQTT 3.1.1 §4.4, clean session 0).
      ack(new Error('session ending'));
      return;
    }
    lastActivity = Date.now();
    const work = (async () => {
      const answer = node.handle(topic, payload);
      if (answer) {
        // Handed to mqtt.js (which keeps QoS 1 messages until the broker acknowledges them), not
        // awaited: the broker's PUBACK for it queues behind this very message.
        const publishOpts: IClientPublishOptions = { qos: 1 };
        c.publish(answer.topic, Buffer.from(answer.payload), publishOpts, (error) => error && log('answer_failed', { error: error.name }));
      }
    })();
    inFlight = work.then(
      () => ack(),
      (error: unknown) => {
        log('message_failed', { error: (error as Error)?.name ?? 'error' });
        ack();
      },
    );
  }

  async function connect(): Promise<MqttClient> {
    if (opts.access) token = await brokerToken();
    const pw = password();
    const c = mqttConnect(opts.brokerUrl!, {
      clientId,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: opts.wakeEvery === 0 ? 1000 : 0,
      connectTimeout: brokerTimeoutMs,
      ...(pw ? { username: ACE_USERNAME, password: pw } : {}),
    });
    // Installed before the CONNECT goes out: a resumed session's queued messages can come in the
    // same read as the CONNACK, and mqtt.js's default handler would PUBACK them unhandled.
    c.handleMessage = (packet, callback) => {
      const bytes = new Uint8Array(packet.payload as Buffer).slice();
      onPacket(c, packet.topic, bytes, callback as (error?: Error) => void);
    };
    // A proof is single-use: every reconnect gets a new one.
    c.on('reconnect', () => void (c.options.password = password()));
    c.on('error', (error) => log('mqtt_error', { error: error.name, code: (error as { code?: string | number }).code }));
    try {
      await new Promise<void>((resolve, reject) => {
        // A sleeping device does not reconnect by itself: a line closed before the CONNACK is a failed wake.
        const closed = () => fail(new Error('the broker closed the connection before CONNACK'));
        const off = () => (c.off('connect', ok), c.off('error', fail), c.off('close', closed));
        const fail = (error: Error) => (off(), reject(error));
        const ok = () => (off(), resolve());
        c.on('connect', ok);
        c.on('error', fail);
        if (opts.wakeEvery !== 0) c.on('close', closed);
      });
    } catch (error) {
      c.end(true);
      throw error;
    }
    const topics = node.topics;
    try {
      const subscribed = c.subscribeAsync({ [topics.authzInfo]: { qos: 1 }, [topics.req]: { qos: 1 }, [topics.trl]: { qos: 1 }, [topics.trust]: { qos: 1 } });
      // Bounded like the CONNACK: a broker that admits the device and never answers its SUBSCRIBE
      // (while it still answers PINGREQs) would otherwise keep a sleeping device awake for ever.
      // The wake fails instead, and is retried with the backoff.
      const granted = await within(subscribed, brokerTimeoutMs, `the broker did not answer the SUBSCRIBE within ${brokerTimeoutMs} ms`);
      for (const g of granted) if (g.qos > 2) log('subscribe_refused', { topic: g.topic });
      const mine = new Set([topics.authzInfo, topics.req]);
      if (granted.some((g) => mine.has(g.topic) && g.qos > 2)) throw new Error('the broker refused the device its own request topics');
    } catch (error) {
      c.end(true); // never a second client under this id reconnecting behind the next wake's back
      throw error;
    }
    log('connected', { broker: new URL(opts.brokerUrl!).host });
    return c;
  }

  /** Waits for the message in hand, then ends the session; answers not yet acknowledged get a bounded wait. */
  async function disconnect(): Promise<void> {
    const c = client;
    client = undefined;
    if (!c) return;
    await inFlight;
    ending.add(c);
    const forced = setTimeout(() => {
      log('disconnect_forced', { waited_ms: DISCONNECT_WAIT_MS });
      c.stream?.destroy(); // end(true) is a no-op once end() has begun
    }, DISCONNECT_WAIT_MS);
    try {
      await c.endAsync();
    } finally {
      clearTimeout(forced);
    }
  }

  /** One wake: connect, take what waited until the line is quiet, and (sleeping devices) disconnect. */
  async function wake(): Promise<void> {
    // Logged before the CONNECT: what waited is delivered as soon as the broker resumes the session.
    log('waking', {});
    client = await connect();
    log('awake', {});
    lastActivity = Date.now();
    while (!stopping.signal.aborted && Date.now() - lastActivity < awakeMs) await sleep(Math.max(50, awakeMs - (Date.now() - lastActivity)), stopping.signal);
    await inFlight;
  }

  /**
   * Wakes until stopped. A connected device (wakeEvery 0) stays connected until its broker token
   * nears expiry (the broker drops a client whose token expires, RFC 9431 §6), then reconnects at
   * once with a new one. A failed wake (broker or service down) is retried with a backoff of
   * 2, 4 ... 60 s, so a device that boots before its broker gets there on its own.
   */
  /**
   * A wake that failed is a warning an operator must see (at --log-level warn too), with why: the
   * service's own error (invalid_client: a wrong secret), the socket's (ECONNREFUSED), or the
   * broker's refusal, not only the error's class name (walkthrough, stop 36). Messages are the
   * service's and ours; none carries a secret.
   */
  function wakeFailed(error: unknown, retryInS: number): void {
    const e = error as (Error & { code?: string | number; error?: string; cause?: { code?: string } }) | undefined;
    const code = e?.error ?? e?.code ?? e?.cause?.code;
    const reason = `${String(e?.message ?? error).slice(0, 160)}${e?.cause?.code !== undefined ? ` (${String(e.cause.code).slice(0, 32)})` : ''}`;
    opts.logger.warn(
      { event: 'wake_failed', error: e?.name ?? 'error', ...(code !== undefined ? { code: String(code).slice(0, 64) } : {}), reason: logText(reason), retry_in_s: retryInS },
      `device: wake failed: ${logText(reason)} (retry in ${retryInS} s)`,
    );
  }

  async function run(): Promise<void> {
    if (!opts.brokerUrl) return untilAborted(stopping.signal); // CoAP only: nothing to wake for
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        await wake();
        failures = 0;
        if (opts.wakeEvery === 0) {
          if (tokenExp === undefined) await untilAborted(stopping.signal);
          else await sleep(Math.min(MAX_TIMER_MS, Math.max(1, tokenExp - TOKEN_RENEW_MARGIN_S - clock()) * 1000), stopping.signal);
        }
      } catch (error) {
        failures += 1;
        wakeFailed(error, Math.min(60, 2 ** failures));
      }
      await disconnect();
      if (stopping.signal.aborted) break;
      const pause = failures > 0 ? Math.min(60, 2 ** failures) : opts.wakeEvery;
      if (pause === 0) continue;
      log('asleep', { seconds: pause });
      await sleep(pause * 1000, stopping.signal);
    }
  }

  if (!opts.brokerUrl && !opts.coap) throw new Error('a device host needs a broker URL or a CoAP port');
  let staticOscore;
  if (opts.coap?.oscore) {
    const context = deriveOscoreContext(opts.coap.oscore, nativeProvider);
    const state = OscoreState.open(context, deviceOscoreStorage(storage, oscoreStorageName(context, nativeProvider)));
    staticOscore = { context, state, provider: nativeProvider, handler: handlerFor(node.deviceId) };
  }
  const coap = opts.coap
    ? await startDeviceCoap({ node, logger: opts.logger, port: opts.coap.port, ...(opts.coap.host ? { host: opts.coap.host } : {}), ...(staticOscore ? { oscore: staticOscore } : {}) })
    : undefined;
  if (coap) log('coap_listening', { port: coap.port });
  log('started', { device: node.deviceId, audience: node.audience, wake_every: opts.wakeEvery, trust_seq: node.trust.seq, tokens: node.server.stats.tokens });
  const done = run().finally(() => disconnect());
  let stopped: Promise<void> | undefined;
  return {
    node,
    coapPort: coap?.port,
    done,
    stop() {
      stopped ??= (async () => {
        log('stopping', {});
        stopping.abort();
        await done.catch(() => undefined);
        await coap?.close();
        lock.release();
        log('stopped', { tokens: node.server.stats.tokens });
      })();
      return stopped;
    },
  };
}
