/**
 * The REAL broker as the fleet's relay (small fleets, the demo, the integration test): a
 * broker/ `createBroker` on 127.0.0.1:0 on the simulator's clock; every device connects with
 * device/adapters' `connectDeviceMqtt` (persistent session, a fresh CONNECT proof per connect)
 * when it wakes and disconnects when it sleeps, so what clients publish to
 * `ace/<device>/authz-info` and `ace/<device>/req` meanwhile waits in the broker (QoS 1) and is
 * delivered at the next wake. The app and the thief are MQTT clients with their own broker tokens;
 * answers come back on `ace/<device>/res/<client>`; revocation lists are published retained on
 * `ace/trl/<audience>`. Broker tokens come from the fleet's issuer (the real authz/ service or
 * the in-simulator one), for the broker's audience, with AIF-MQTT scopes.
 *
 * Virtual time: each step's broker I/O is declared with `sim.external`, so the clock waits for it
 * and only one step talks to the broker at a time; radio time and energy are then charged from
 * the link model as in SimRelay. Loss on air costs retries here but never drops a message: the
 * broker already holds it (QoS 1) and the link layer retries until it lands.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { safeAudienceName, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { ACE_USERNAME, createConnectPassword, encodeEnvelope } from '../device/index.js';
import { connectDeviceMqtt, deviceTopics, type DeviceMqttConnection } from '../device/adapters/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { BROKER_CLIENT_SCOPE, SIM_CLIENT_ID, SIM_THIEF_ID, brokerDeviceScope, type BrokerAccess } from './fleet-issuer.js';
import { seededKeyPair } from './metered-provider.js';
import type { Prng } from './prng.js';
import { listenUntilQuiet } from './listen-window.js';
import { POLL_BYTES, transmit, type Transmission } from './radio-link.js';
import type { DeviceTopic, SimDevice } from './sim-device.js';
import type { Exchange, FleetRelay, RelayStats, Sender, TapEvent } from './sim-relay.js';
import { SimulationError, type Simulator } from './simulator.js';

/** Wall-clock limit on one step's broker I/O on loopback: far above what it takes, so only a fault trips it. */
const BROKER_IO_TIMEOUT_MS = 15_000;
/** Link-layer attempts per message before the model gives up (a fault, not loss: 2% loss never gets there). */
const MAX_LINK_ROUNDS = 50;
/** The relay's own broker: one token bucket per client is far above what a scenario sends. */
const SIM_RELAY_RATE = { burst: 10_000, perSecond: 10_000 };

interface Pending {
  topic: DeviceTopic;
  body: Uint8Array;
  sender: Sender;
  answer: Promise<Uint8Array>;
  resolve(x: Exchange): void;
}

export interface BrokerRelayOptions {
  sim: Simulator;
  prng: Prng;
  loss: number;
  horizonMs: number;
  /** Seconds since the epoch: the broker's clock and the CONNECT proofs' iat. */
  clock: () => number;
  access: BrokerAccess;
  audience?: string;
  /** The broker's log (refusals, disconnects); never carries tokens or keys. */
  logger?: (line: string) => void;
}

const withTimeout = <T>(p: Promise<T>, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new SimulationError(`broker relay: ${what} took over ${BROKER_IO_TIMEOUT_MS} ms`)), BROKER_IO_TIMEOUT_MS);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });

export class BrokerRelay implements FleetRelay {
  readonly stats: RelayStats = { messages: 0, lostOnAir: 0, linkAttempts: 0, frames: 0, trlDeliveries: 0, wakes: 0 };
  readonly taps: Array<(ev: TapEvent) => void> = [];
  onTrlApplied: ((dev: SimDevice, delayMs: number, revoked: number) => void) | undefined;
  /** CONNECTs the broker refused (the thief's), by CONNACK code. */
  readonly refusedConnects = new Map<number, number>();
  private readonly queues = new Map<SimDevice, Pending[]>();
  private readonly served = new Map<SimDevice, Array<{ joules: number; busyS: number }>>();
  /** Tokens a device's runtime revoked from lists not yet accounted, and devices that got a list this wake. */
  private readonly revokedPending = new Map<SimDevice, number>();
  private readonly listThisWake = new Set<SimDevice>();
  private readonly conns = new Map<SimDevice, DeviceMqttConnection>();
  private readonly creds = new Map<SimDevice, { token: Uint8Array; key: CoseKey; lastPassword?: Uint8Array }>();
  private readonly retired = new Set<SimDevice>();
  private readonly waiters = new Map<string, Array<(answer: Uint8Array) => void>>();
  private readonly trl = new Map<string, { seq: number; publishedAt: number; bytes: number }>();
  private readonly locks = new Map<SimDevice, Promise<void>>();
  /** Virtual time each device last finished serving a message (its listen window restarts then). */
  private readonly lastActive = new Map<SimDevice, number>();

  private constructor(
    private readonly opts: BrokerRelayOptions,
    private readonly broker: KeyboundBroker,
    readonly url: string,
    private readonly senders: Record<Sender, MqttClient>,
  ) {
    for (const [sender, client] of Object.entries(senders) as Array<[Sender, MqttClient]>) {
      const id = sender === 'client' ? SIM_CLIENT_ID : SIM_THIEF_ID;
      client.on('message', (topic, payload) => {
        const device = /^ace\/([^/]+)\/res\//.exec(topic)?.[1];
        if (!device) return;
        this.waiters.get(`${device}\u0000${id}`)?.shift()?.(new Uint8Array(payload));
      });
    }
  }

  get name(): string {
    return `keybound broker (aedes) at ${this.url}, devices on connectDeviceMqtt`;
  }

  static async start(opts: BrokerRelayOptions): Promise<BrokerRelay> {
    const audience = opts.audience ?? 'sim-broker';
    const broker = await createBroker({ audience, trust: opts.access.trust, clock: opts.clock, relayRate: SIM_RELAY_RATE, ...(opts.logger ? { logger: opts.logger } : {}) });
    try {
      const { url } = await broker.listen({ port: 0, host: '127.0.0.1' });
      const senders = {} as Record<Sender, MqttClient>;
      for (const [sender, id] of [['client', SIM_CLIENT_ID], ['thief', SIM_THIEF_ID]] as const) {
        const key = ed25519(opts.prng, `${id}-broker`);
        const token = await opts.access.issue({ clientId: id, scope: BROKER_CLIENT_SCOPE, key });
        const client = await connectAsync(url, {
          clientId: id,
          username: ACE_USERNAME,
          password: Buffer.from(createConnectPassword(token, key, { audience, clientId: id, clock: opts.clock, provider: nativeProvider })),
          protocolVersion: 4,
          reconnectPeriod: 0,
        });
        // RFC 9431-style implicit grant: a client whose token sub is its client id reads its answers.
        await client.subscribeAsync(`ace/+/res/${id}`, { qos: 1 });
        senders[sender] = client;
      }
      return new BrokerRelay({ ...opts, audience }, broker, url, senders);
    } catch (e) {
      await broker.close();
      throw e;
    }
  }

  private get audience(): string {
    return this.opts.audience!;
  }

  attach(dev: SimDevice): void {
    this.queues.set(dev, []);
    this.served.set(dev, []);
    const { sim } = this.opts;
    if (dev.alwaysOn) sim.spawn(() => sim.external(this.connect(dev)));
    else {
      sim.spawn(async () => {
        // First boot: the device opens its persistent session (QoS 1 subscriptions) once, so that
        // the broker queues what arrives while it sleeps; a client id never seen would get nothing.
        await sim.external(withTimeout(this.connect(dev).then(() => this.disconnect(dev)), `first boot of ${dev.id}`));
        await this.dutyCycle(dev);
      });
    }
  }

  retire(dev: SimDevice): void {
    this.retired.add(dev);
  }

  async publishTrl(audience: string, list: Uint8Array): Promise<void> {
    const prev = this.trl.get(audience);
    this.trl.set(audience, { seq: (prev?.seq ?? 0) + 1, publishedAt: this.opts.sim.now, bytes: list.length });
    // Any admitted client may publish a list; the broker keeps it (retained) only if it verifies.
    await this.opts.sim.external(withTimeout(this.senders.client.publishAsync(`ace/trl/${safeAudienceName(audience)}`, Buffer.from(list), { qos: 1, retain: true }).then(() => undefined), 'publishing a revocation list'));
  }

  send(dev: SimDevice, topic: DeviceTopic, body: Uint8Array, sender: Sender = 'client'): Promise<Exchange> {
    const { sim } = this.opts;
    return new Promise((resolve) => {
      const id = sender === 'client' ? SIM_CLIENT_ID : SIM_THIEF_ID;
      const key = `${dev.id}\u0000${id}`;
      const answer = new Promise<Uint8Array>((r) => this.waiters.set(key, [...(this.waiters.get(key) ?? []), r]));
      const item: Pending = { topic, body, sender, answer, resolve };
      this.queues.get(dev)!.push(item);
      this.stats.messages++;
      const live = this.conns.has(dev);
      sim.spawn(async () => {
        const t = deviceTopics(dev.id);
        const publish = this.senders[sender].publishAsync(topic === 'authz-info' ? t.authzInfo : t.req, Buffer.from(encodeEnvelope(id, body)), { qos: 1 });
        // Asleep: the broker queues it for the device's session. Awake: it is served right away.
        await sim.external(withTimeout<unknown>(live ? publish.then(() => answer) : publish, live ? 'a request to an awake device' : 'a publish'));
        if (live) {
          await sim.sleep(dev.link.latencyS * 1000);
          await this.withLock(dev, () => this.account(dev, [item]));
        }
      });
    });
  }

  /** The thief's attacks on the broker: the device's overheard CONNECT, and its broker token with another key. */
  async attackBroker(dev: SimDevice): Promise<Array<{ attack: string; accepted: boolean; reason?: string }>> {
    const creds = this.creds.get(dev);
    if (!creds?.lastPassword) return [];
    const clientId = `device-${dev.id}`;
    const tries: Array<[string, Uint8Array]> = [
      ['broker: replayed CONNECT', creds.lastPassword],
      ['broker: stolen broker token, own key', createConnectPassword(creds.token, ed25519(this.opts.prng, 'thief'), { audience: this.audience, clientId, clock: this.opts.clock, provider: nativeProvider })],
    ];
    const out: Array<{ attack: string; accepted: boolean; reason?: string }> = [];
    for (const [attack, password] of tries) {
      const code = await this.opts.sim.external(withTimeout(this.tryConnect(clientId, password), 'a thief CONNECT'));
      out.push({ attack, accepted: code === 0, ...(code ? { reason: `connack_${code}` } : {}) });
    }
    return out;
  }

  private async tryConnect(clientId: string, password: Uint8Array): Promise<number> {
    try {
      const c = await connectAsync(this.url, { clientId, username: ACE_USERNAME, password: Buffer.from(password), protocolVersion: 4, reconnectPeriod: 0, clean: true });
      await c.endAsync();
      return 0;
    } catch (e) {
      const code = (e as { code?: number }).code;
      return typeof code === 'number' ? code : -1;
    }
  }

  async close(): Promise<void> {
    for (const c of this.conns.values()) await c.close().catch(() => undefined);
    this.conns.clear();
    await Promise.all(Object.values(this.senders).map((c) => c.endAsync().catch(() => undefined)));
    await this.broker.close();
  }

  private withLock(dev: SimDevice, fn: () => Promise<void>): Promise<void> {
    const next = (this.locks.get(dev) ?? Promise.resolve()).then(fn);
    this.locks.set(dev, next);
    return next;
  }

  /** Connects the device (its persistent session gets what waited) with a fresh CONNECT proof. */
  private async connect(dev: SimDevice): Promise<void> {
    const clientId = `device-${dev.id}`;
    let creds = this.creds.get(dev);
    if (!creds) {
      const key = ed25519(dev.prng.fork('broker-key'), clientId);
      creds = { key, token: await this.opts.access.issue({ clientId, scope: brokerDeviceScope(dev.id), key }) };
      this.creds.set(dev, creds);
    }
    const c = creds;
    const conn = await connectDeviceMqtt({
      url: this.url,
      deviceId: dev.id,
      clientId,
      device: dev.runtimeFor({
        served: (joules, busyS) => this.served.get(dev)!.push({ joules, busyS }),
        // The list arrives queued (the session's QoS 1 subscription) and again retained on every
        // subscribe; the device refuses the repeat (not newer), so the first copy counts.
        revocationList: (revoked) => {
          this.listThisWake.add(dev);
          if (revoked > 0) this.revokedPending.set(dev, (this.revokedPending.get(dev) ?? 0) + revoked);
        },
      }),
      // A proof per connect: the CONNECT carries the time of the simulated world (the broker's
      // clock). A clock-less part would need a broker nonce, which MQTT 3.1.1 cannot carry.
      password: () => (c.lastPassword = createConnectPassword(c.token, c.key, { audience: this.audience, clientId, clock: this.opts.clock, provider: nativeProvider })),
      connectOptions: { reconnectPeriod: 0 },
    });
    this.conns.set(dev, conn);
  }

  private async disconnect(dev: SimDevice): Promise<void> {
    const conn = this.conns.get(dev);
    this.conns.delete(dev);
    await conn?.close();
  }

  private async dutyCycle(dev: SimDevice): Promise<void> {
    const { sim } = this.opts;
    await sim.sleep(dev.phaseS * 1000);
    for (;;) {
      const queue = this.queues.get(dev)!;
      const t = this.trl.get(dev.id);
      const trlDue = t !== undefined && t.seq > dev.trlSeen;
      if (this.retired.has(dev) && queue.length === 0 && !trlDue) return;
      if (sim.now > this.opts.horizonMs) return;
      const wokeAt = sim.now;
      this.stats.wakes++;
      await sim.sleep(dev.meter.wake() * 1000);
      const poll = transmit(dev.link, POLL_BYTES, this.opts.loss, this.opts.prng);
      dev.meter.sent(poll);
      await sim.sleep(poll.durationS * 1000);
      const waiting = [...queue];
      this.listThisWake.delete(dev);
      // Connect: the broker hands over what waited; wait until every answer reached its client.
      // A revocation list due comes retained with the subscription: wait until the device applied it.
      const woken = async () => {
        await this.connect(dev);
        await Promise.all(waiting.map((w) => w.answer));
        while (trlDue && !this.listThisWake.has(dev)) await new Promise((r) => setTimeout(r, 2));
        await this.conns.get(dev)!.idle();
      };
      await sim.external(withTimeout(woken(), `waking ${dev.id}`));
      await this.withLock(dev, async () => {
        await this.account(dev, waiting);
        if (trlDue) await this.accountTrl(dev, t);
      });
      dev.meter.rxS += await listenUntilQuiet(sim, dev.listenWindowS, () => this.withLock(dev, async () => undefined), () => this.lastActive.get(dev) ?? 0);
      await sim.external(withTimeout(this.disconnect(dev), `${dev.id} going to sleep`));
      await sim.sleep(Math.max(0, dev.wakeIntervalS * 1000 - (sim.now - wokeAt)));
    }
  }

  private async accountTrl(dev: SimDevice, entry: { seq: number; publishedAt: number; bytes: number }): Promise<void> {
    const { sim } = this.opts;
    // The retained list came with the subscription at connect (connectDeviceMqtt subscribes ace/trl/<audience>).
    const down = this.link(dev, entry.bytes, 'rx');
    await sim.sleep(down.durationS * 1000);
    dev.trlSeen = entry.seq;
    this.stats.trlDeliveries++;
    this.onTrlApplied?.(dev, sim.now - entry.publishedAt, this.revokedPending.get(dev) ?? 0);
    this.revokedPending.delete(dev);
  }

  /** Charges the link model until the message lands (the broker already holds it: QoS 1). */
  private link(dev: SimDevice, bytes: number, direction: 'rx' | 'tx'): { durationS: number; airBytes: number; frames: number } {
    let durationS = 0;
    let airBytes = 0;
    let frames = 0;
    for (let round = 0; round < MAX_LINK_ROUNDS; round++) {
      const t: Transmission = transmit(dev.link, bytes, this.opts.loss, this.opts.prng);
      this.stats.linkAttempts += t.attempts;
      this.stats.frames += t.frames;
      if (direction === 'rx') dev.meter.received(t);
      else dev.meter.sent(t);
      durationS += t.durationS;
      airBytes += t.airBytes;
      frames += t.frames;
      if (t.delivered) return { durationS, airBytes, frames };
      this.stats.lostOnAir++;
    }
    throw new SimulationError(`the link model lost a message ${MAX_LINK_ROUNDS} times in a row`);
  }

  /** Radio and CPU time for messages the device served (in the order it served them), then the answers. */
  private async account(dev: SimDevice, items: Pending[]): Promise<void> {
    const { sim } = this.opts;
    const served = this.served.get(dev)!;
    const queue = this.queues.get(dev)!;
    for (const item of items) {
      const answer = await item.answer;
      const j0 = dev.meter.activeJoules();
      const down = this.link(dev, item.body.length, 'rx');
      await sim.sleep(down.durationS * 1000);
      // A message device/ refused before reaching the runtime (undecodable) cost no metered work.
      const cost = served.shift() ?? { joules: 0, busyS: 0 };
      await sim.sleep(cost.busyS * 1000);
      const up = this.link(dev, answer.length, 'tx');
      await sim.sleep(up.durationS * 1000);
      queue.splice(queue.indexOf(item), 1);
      this.lastActive.set(dev, sim.now);
      for (const tap of this.taps) tap({ device: dev, topic: item.topic, body: item.body, answer });
      item.resolve({
        answer,
        deviceJ: dev.meter.activeJoules() - j0 + cost.joules,
        airBytes: down.airBytes + up.airBytes,
        frames: down.frames + up.frames,
        sentBytes: item.body.length,
      });
    }
  }
}

function ed25519(prng: Prng, kid: string): CoseKey {
  const kp = seededKeyPair('Ed25519', prng);
  return { kty: 'OKP', crv: 'Ed25519', x: kp.x, d: kp.d, kid: new TextEncoder().encode(kid) };
}

