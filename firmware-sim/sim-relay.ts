/**
 * The radio and the broker, inside the simulator: messages for a device wait in its queue (as
 * QoS 1 messages on `ace/<device>/authz-info` and `ace/<device>/req` wait in the broker for a
 * sleeping client) until it wakes; each one is sent over the device's radio link with loss,
 * fragmentation and retries, handled by the real device runtime, and answered. Signed revocation
 * lists are retained per audience (`ace/trl/<audience>`) and picked up at the next wake.
 * Taps see every message on air: the thief in the theft scenario listens through one.
 */
import type { Prng } from './prng.js';
import { listenUntilQuiet } from './listen-window.js';
import { POLL_BYTES, transmit } from './radio-link.js';
import type { Simulator } from './simulator.js';
import type { DeviceTopic, SimDevice } from './sim-device.js';

/** What one request-answer exchange with a device cost and carried. */
export interface Exchange {
  answer: Uint8Array;
  /** Joules the device spent receiving, handling and answering it. */
  deviceJ: number;
  /** Bytes on air both ways, including frame overhead and retries. */
  airBytes: number;
  frames: number;
  /** Bytes of the message the device received. */
  sentBytes: number;
}

interface Pending {
  topic: DeviceTopic;
  body: Uint8Array;
  resolve(x: Exchange): void;
  /** Set when the answer was computed but lost on the way back: resent at the next wake. */
  answer?: Uint8Array;
  deviceJ: number;
  airBytes: number;
  frames: number;
}

export interface TapEvent {
  device: SimDevice;
  topic: DeviceTopic;
  body: Uint8Array;
  answer: Uint8Array;
}

export interface RelayStats {
  messages: number;
  lostOnAir: number;
  linkAttempts: number;
  frames: number;
  trlDeliveries: number;
  wakes: number;
}

/** Who sends a message to a device: the scenario's client, or the thief (a different MQTT client with the broker). */
export type Sender = 'client' | 'thief';

/** What scenarios need from whatever carries messages to devices: the in-simulator relay or the real broker. */
export interface FleetRelay {
  readonly name: string;
  readonly stats: RelayStats;
  readonly taps: Array<(ev: TapEvent) => void>;
  onTrlApplied: ((dev: SimDevice, delayMs: number, revoked: number) => void) | undefined;
  attach(dev: SimDevice): void;
  retire(dev: SimDevice): void;
  publishTrl(audience: string, list: Uint8Array): void | Promise<void>;
  send(dev: SimDevice, topic: DeviceTopic, body: Uint8Array, sender?: Sender): Promise<Exchange>;
  /** Attacks on the broker itself with what the thief overheard (only where there is a broker). */
  attackBroker?(dev: SimDevice): Promise<Array<{ attack: string; accepted: boolean; reason?: string }>>;
  close(): Promise<void>;
}


export class SimRelay implements FleetRelay {
  readonly name = 'in-simulator radio + broker relay';
  readonly stats: RelayStats = { messages: 0, lostOnAir: 0, linkAttempts: 0, frames: 0, trlDeliveries: 0, wakes: 0 };
  readonly taps: Array<(ev: TapEvent) => void> = [];
  private readonly queues = new Map<SimDevice, Pending[]>();
  private readonly awake = new Set<SimDevice>();
  private readonly retired = new Set<SimDevice>();
  private readonly locks = new Map<SimDevice, Promise<void>>();
  /** Virtual time each device last finished serving a message (its listen window restarts then). */
  private readonly lastActive = new Map<SimDevice, number>();
  private readonly trl = new Map<string, { list: Uint8Array; seq: number; publishedAt: number }>();
  onTrlApplied: ((dev: SimDevice, delayMs: number, revoked: number) => void) | undefined;

  constructor(
    private readonly sim: Simulator,
    private readonly prng: Prng,
    private readonly loss: number,
    /** No device loop runs past this virtual time (a safety net for scenarios). */
    private readonly horizonMs: number,
  ) {}

  /** Connects a device: a sleeping one starts its duty cycle. */
  attach(dev: SimDevice): void {
    this.queues.set(dev, []);
    if (!dev.alwaysOn) this.sim.spawn(() => this.dutyCycle(dev));
  }

  /** The device's script is done: its loop ends once nothing waits for it. */
  retire(dev: SimDevice): void {
    this.retired.add(dev);
  }

  /** Publishes a signed revocation list for `audience`, retained for devices that wake later. */
  publishTrl(audience: string, list: Uint8Array): void {
    const prev = this.trl.get(audience);
    this.trl.set(audience, { list, seq: (prev?.seq ?? 0) + 1, publishedAt: this.sim.now });
  }

  async close(): Promise<void> {}

  /** Sends `body` to the device's endpoint; resolves with the answer once it has been delivered. */
  send(dev: SimDevice, topic: DeviceTopic, body: Uint8Array, _sender: Sender = 'client'): Promise<Exchange> {
    return new Promise((resolve) => {
      const item: Pending = { topic, body, resolve, deviceJ: 0, airBytes: 0, frames: 0 };
      this.queues.get(dev)!.push(item);
      this.stats.messages++;
      if (dev.alwaysOn || this.awake.has(dev)) {
        this.sim.spawn(async () => {
          await this.sim.sleep(dev.link.latencyS * 1000);
          await this.withLock(dev, () => this.drain(dev));
        });
      }
    });
  }

  private withLock(dev: SimDevice, fn: () => Promise<void>): Promise<void> {
    const next = (this.locks.get(dev) ?? Promise.resolve()).then(fn);
    this.locks.set(dev, next);
    return next;
  }

  private async dutyCycle(dev: SimDevice): Promise<void> {
    await this.sim.sleep(dev.phaseS * 1000);
    for (;;) {
      const queue = this.queues.get(dev)!;
      const audienceTrl = this.trl.get(dev.id);
      const trlDue = audienceTrl !== undefined && audienceTrl.seq > dev.trlSeen;
      if (this.retired.has(dev) && queue.length === 0 && !trlDue) return;
      if (this.sim.now > this.horizonMs) return;
      const wokeAt = this.sim.now;
      this.stats.wakes++;
      this.awake.add(dev);
      await this.withLock(dev, async () => {
        // Crystal and radio start-up (and Wi-Fi re-association) come before the first frame.
        await this.sim.sleep(dev.meter.wake() * 1000);
        const poll = transmit(dev.link, POLL_BYTES, this.loss, this.prng);
        dev.meter.sent(poll);
        await this.sim.sleep(poll.durationS * 1000);
        await this.drain(dev);
        await this.deliverTrl(dev);
      });
      // Idle listening for late arrivals (the client's next step of a handshake).
      dev.meter.rxS += await listenUntilQuiet(this.sim, dev.listenWindowS, () => this.withLock(dev, async () => undefined), () => this.lastActive.get(dev) ?? 0);
      this.awake.delete(dev);
      const elapsed = this.sim.now - wokeAt;
      await this.sim.sleep(Math.max(0, dev.wakeIntervalS * 1000 - elapsed));
    }
  }

  private async deliverTrl(dev: SimDevice): Promise<void> {
    const entry = this.trl.get(dev.id);
    if (!entry || entry.seq <= dev.trlSeen) return;
    const down = transmit(dev.link, entry.list.length, this.loss, this.prng);
    this.account(dev, down, 'rx');
    await this.sim.sleep(down.durationS * 1000);
    if (!down.delivered) return;
    const cpu0 = dev.meter.cpuS;
    const revoked = dev.applyRevocationList(entry.list);
    await this.sim.sleep((dev.meter.cpuS - cpu0) * 1000);
    dev.trlSeen = entry.seq;
    this.stats.trlDeliveries++;
    this.onTrlApplied?.(dev, this.sim.now - entry.publishedAt, revoked);
  }

  private account(dev: SimDevice, t: ReturnType<typeof transmit>, direction: 'rx' | 'tx'): void {
    this.stats.linkAttempts += t.attempts;
    this.stats.frames += t.frames;
    if (!t.delivered) this.stats.lostOnAir++;
    if (direction === 'rx') dev.meter.received(t);
    else dev.meter.sent(t);
  }

  /** Delivers everything queued for `dev`, in order; what the air loses stays queued. */
  private async drain(dev: SimDevice): Promise<void> {
    const queue = this.queues.get(dev)!;
    while (queue.length > 0) {
      const item = queue[0]!;
      const j0 = dev.meter.activeJoules();
      if (!item.answer) {
        const down = transmit(dev.link, item.body.length, this.loss, this.prng);
        this.account(dev, down, 'rx');
        item.airBytes += down.airBytes;
        item.frames += down.frames;
        await this.sim.sleep(down.durationS * 1000);
        if (!down.delivered) {
          item.deviceJ += dev.meter.activeJoules() - j0;
          return;
        }
        const cpu0 = dev.meter.cpuS + dev.meter.flashS;
        item.answer = dev.handle(item.topic, item.body);
        await this.sim.sleep((dev.meter.cpuS + dev.meter.flashS - cpu0) * 1000);
      }
      const up = transmit(dev.link, item.answer.length, this.loss, this.prng);
      this.account(dev, up, 'tx');
      item.airBytes += up.airBytes;
      item.frames += up.frames;
      await this.sim.sleep(up.durationS * 1000);
      item.deviceJ += dev.meter.activeJoules() - j0;
      if (!up.delivered) return;
      queue.shift();
      this.lastActive.set(dev, this.sim.now);
      for (const tap of this.taps) tap({ device: dev, topic: item.topic, body: item.body, answer: item.answer });
      item.resolve({ answer: item.answer, deviceJ: item.deviceJ, airBytes: item.airBytes, frames: item.frames, sentBytes: item.body.length });
    }
  }
}
