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
import { connectAsync, type IClientPublishOptions, type MqttClient } from 'mqtt';
import {
  ALG,
  coseKeyFromMap,
  coseKeyToMap,
  decodeCbor,
  encodeCbor,
  fromBase64Url,
  asSafeInteger,
  type CborValue,
  type CoseKey,
} from '../../cose/index.js';
import { nativeProvider } from '../../cose/adapters/index.js';
import {
  createConnectPassword,
  createDeviceNode,
  demoResources,
  requestToken,
  resourceHandler,
  ACE_USERNAME,
  type DeviceLog,
  type DeviceNode,
  type ResourceModule,
} from '../index.js';
import { fileStorage } from './file-storage.js';

const DEVICE_KEY = 'device-key';
const BROKER_TOKEN = 'broker-token';
/** Ask for a new broker token when the held one has less than this left (seconds). */
const TOKEN_RENEW_MARGIN_S = 120;
/** A wake's window when nothing at all arrives (a message resets the quiet timer). */
export const DEFAULT_AWAKE_MS = 1500;
const TOKEN_ENDPOINT_TIMEOUT_MS = 15_000;

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
  brokerUrl: string;
  /** The resources to serve; the demo resources by default. */
  module?: ResourceModule;
  /** Seconds asleep between wakes; 0 stays connected. */
  wakeEvery: number;
  awakeMs?: number;
  access?: BrokerAccessOptions;
  log: DeviceLog;
  clock?: () => number;
}

export interface DeviceHost {
  readonly node: DeviceNode;
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
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const key: CoseKey = { kty: 'OKP', crv: 'Ed25519', alg: ALG.EdDSA, x: fromBase64Url(jwk.x!), d: fromBase64Url(jwk.d!) };
  storage.put(DEVICE_KEY, encodeCbor(coseKeyToMap(key)));
  return key;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export async function startDeviceHost(opts: DeviceHostOptions): Promise<DeviceHost> {
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const { log } = opts;
  const storage = fileStorage(opts.dataDir);
  const node = createDeviceNode({
    bundle: opts.bundle,
    storage,
    clock,
    provider: nativeProvider,
    handler: (deviceId) => resourceHandler(opts.module ?? demoResources(deviceId, clock), (what, error) => log('handler_failed', { resource: what, error: (error as Error)?.name ?? 'error' })),
    log,
  });
  const clientId = `device-${node.deviceId}`;
  const key = opts.access ? ownKey(storage, node.trust.trust.deviceKey) : undefined;
  const awakeMs = opts.awakeMs ?? DEFAULT_AWAKE_MS;

  async function brokerToken(): Promise<Uint8Array> {
    const access = opts.access!;
    const saved = storage.get(BROKER_TOKEN);
    if (saved) {
      const v = decodeCbor(saved, { maxBytes: 16_384, maxDepth: 2 });
      const exp = Array.isArray(v) ? asSafeInteger(v[1]) : undefined;
      if (Array.isArray(v) && v[0] instanceof Uint8Array && exp !== undefined && exp - clock() > TOKEN_RENEW_MARGIN_S) return v[0];
    }
    const res = await requestToken(
      async (body) => {
        const r = await fetch(access.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/ace+cbor' },
          body: Buffer.from(body),
          signal: AbortSignal.timeout(TOKEN_ENDPOINT_TIMEOUT_MS),
        });
        return new Uint8Array(await r.arrayBuffer());
      },
      { grant: 'client_credentials', auth: { clientId: access.clientId, clientSecret: access.clientSecret }, audience: access.audience, scope: deviceBrokerScope(node.deviceId), popKey: key! },
    );
    const exp = clock() + (res.expiresIn ?? 3600);
    storage.put(BROKER_TOKEN, encodeCbor([res.accessToken, exp]));
    log('broker_token', { expires_in: res.expiresIn ?? 3600 });
    return res.accessToken;
  }

  let token: Uint8Array | undefined;
  const password = (): Buffer | undefined =>
    opts.access && token ? Buffer.from(createConnectPassword(token, key!, { audience: opts.access.audience, clientId, clock, provider: nativeProvider })) : undefined;

  const stopping = new AbortController();
  let client: MqttClient | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let lastActivity = Date.now();

  /** Handles one message, then lets mqtt.js PUBACK it (see the header: nothing acknowledged is lost). */
  function onPacket(c: MqttClient, topic: string, payload: Uint8Array, ack: (error?: Error) => void): void {
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
    const c = await connectAsync(opts.brokerUrl, {
      clientId,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: opts.wakeEvery === 0 ? 1000 : 0,
      connectTimeout: 15_000,
      ...(pw ? { username: ACE_USERNAME, password: pw } : {}),
    });
    // A proof is single-use: every reconnect gets a new one.
    c.on('reconnect', () => void (c.options.password = password()));
    c.on('error', (error) => log('mqtt_error', { error: error.name, code: (error as { code?: string | number }).code }));
    c.handleMessage = (packet, callback) => {
      const bytes = new Uint8Array(packet.payload as Buffer).slice();
      onPacket(c, packet.topic, bytes, callback as (error?: Error) => void);
    };
    const topics = node.topics;
    const granted = await c.subscribeAsync({ [topics.authzInfo]: { qos: 1 }, [topics.req]: { qos: 1 }, [topics.trl]: { qos: 1 }, [topics.trust]: { qos: 1 } });
    for (const g of granted) if (g.qos > 2) log('subscribe_refused', { topic: g.topic });
    if (granted.filter((g) => g.qos <= 2).length < 2) throw new Error('the broker refused the device its own request topics');
    log('connected', { broker: new URL(opts.brokerUrl).host });
    return c;
  }

  async function disconnect(): Promise<void> {
    const c = client;
    client = undefined;
    if (!c) return;
    await inFlight;
    await c.endAsync();
  }

  /** One wake: connect, take what waited until the line is quiet, and (sleeping devices) disconnect. */
  async function wake(): Promise<void> {
    client = await connect();
    log('awake', {});
    lastActivity = Date.now();
    while (!stopping.signal.aborted && Date.now() - lastActivity < awakeMs) await sleep(Math.max(50, awakeMs - (Date.now() - lastActivity)), stopping.signal);
    await inFlight;
  }

  async function run(): Promise<void> {
    if (opts.wakeEvery === 0) {
      await wake();
      await new Promise<void>((resolve) => stopping.signal.addEventListener('abort', () => resolve(), { once: true }));
      return;
    }
    while (!stopping.signal.aborted) {
      try {
        await wake();
      } catch (error) {
        log('wake_failed', { error: (error as Error)?.name ?? 'error', message: (error as { code?: string }).code });
      }
      await disconnect();
      if (stopping.signal.aborted) break;
      log('asleep', { seconds: opts.wakeEvery });
      await sleep(opts.wakeEvery * 1000, stopping.signal);
    }
  }

  log('started', { device: node.deviceId, audience: node.audience, wake_every: opts.wakeEvery, trust_seq: node.trust.seq, tokens: node.server.stats.tokens });
  const done = run().finally(() => disconnect());
  return {
    node,
    done,
    async stop() {
      stopping.abort();
      await done.catch(() => undefined);
      log('stopped', { tokens: node.server.stats.tokens });
    },
  };
}
