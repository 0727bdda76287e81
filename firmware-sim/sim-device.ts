/**
 * One simulated device: the REAL device/ runtime (createResourceServer, serveAuthzInfo,
 * serveRequest) on modelled hardware: a metered crypto provider, a flash model that survives
 * reboots, a clock with drift (or only a counter since first boot), and an energy meter. A reboot
 * throws away everything in RAM and builds the runtime again from flash, as firmware would.
 */
import { utf8 } from '../cose/index.js';
import {
  DEFAULT_IAT_WINDOW,
  createResourceServer,
  loadProvisioningBundle,
  serveAuthzInfo,
  serveRequest,
  type DeviceHandler,
  type ResourceServer,
} from '../device/index.js';
import { clockDriftPpm, type TemperatureRange } from './clock-drift.js';
import { EnergyMeter } from './energy-meter.js';
import { FlashStorage } from './flash-storage.js';
import type { HardwareProfile } from './hardware-profiles.js';
import { MeteredProvider } from './metered-provider.js';
import { QuickJsDevice, type QuickJsEngine } from './quickjs-engine.js';
import type { DeviceBundle } from './device-bundle.js';
import { deviceBudgets } from './ram-budget.js';
import type { Prng } from './prng.js';
import { RADIO_LINKS, type RadioLink } from './radio-link.js';
import type { Simulator } from './simulator.js';

/** The sensor every simulated device serves. */
const sensor: DeviceHandler = (req) =>
  req.method === 'GET' && req.resource === '/temp' ? { code: 205, payload: utf8('36.6') } : { code: 404 };

export type DeviceTopic = 'authz-info' | 'req';

export interface SimDeviceOptions {
  id: string;
  hw: HardwareProfile;
  bundle: Uint8Array;
  prng: Prng;
  sim: Simulator;
  /** Seconds since the epoch at virtual time 0 (what an RTC would read). */
  epoch: number;
  /** Never sleeps (mains powered, connected flow). */
  alwaysOn?: boolean;
  /** Duty cycle: wakes every this many seconds. */
  wakeIntervalS?: number;
  /** Stays listening this long after each wake. */
  listenWindowS?: number;
  /** Temperatures the part lives in: sets its crystal's drift (clock-drift.ts). */
  temperature?: TemperatureRange;
  /** Run the device code in QuickJS (this built bundle) rather than in Node. */
  quickjs?: { engine: QuickJsEngine; bundle: DeviceBundle };
}

/**
 * The heap a QuickJS device may use: generous on purpose. The simulator reports what the engine
 * really used beside the RAM model (sim-report.ts); a device stopped for want of heap would only
 * hide that figure.
 */
export const QUICKJS_SIM_HEAP_BYTES = 16 * 1024 * 1024;

export class SimDevice {
  readonly id: string;
  readonly hw: HardwareProfile;
  readonly link: RadioLink;
  readonly meter: EnergyMeter;
  readonly flash: FlashStorage;
  readonly provider: MeteredProvider;
  readonly prng: Prng;
  readonly alwaysOn: boolean;
  readonly wakeIntervalS: number;
  readonly listenWindowS: number;
  readonly phaseS: number;
  boots = 0;
  /** Revocation list sequence seen per topic, so a retained list is fetched once. */
  trlSeen = 0;
  private rs!: ResourceServer;
  private qjs: QuickJsDevice | undefined;
  private readonly quickjs: SimDeviceOptions['quickjs'];
  /** The highest QuickJS heap over all boots (0 when the device runs in Node). */
  quickjsPeakHeapBytes = 0;
  private readonly sim: Simulator;
  private readonly bundle: Uint8Array;
  private readonly epoch: number;
  private readonly drift: number;
  /** The bound the crystal's error was drawn within, ppm. */
  readonly driftPpm: number;
  /** Seconds either side of the device's clock a PoP proof's iat may lie (see boot()). */
  readonly iatWindowS: number;

  constructor(opts: SimDeviceOptions) {
    this.id = opts.id;
    this.hw = opts.hw;
    this.link = RADIO_LINKS[opts.hw.radio];
    this.prng = opts.prng;
    this.sim = opts.sim;
    this.bundle = opts.bundle;
    this.epoch = opts.epoch;
    this.meter = new EnergyMeter(opts.hw);
    this.flash = new FlashStorage(opts.hw, this.meter);
    this.provider = new MeteredProvider(this.meter, opts.prng.fork('trng'));
    this.alwaysOn = opts.alwaysOn ?? false;
    this.wakeIntervalS = opts.wakeIntervalS ?? 300;
    this.listenWindowS = opts.listenWindowS ?? 1;
    this.phaseS = this.prng.float() * this.wakeIntervalS;
    // A crystal's error is fixed per part: draw it once, within its drift over the temperature range.
    this.driftPpm = clockDriftPpm(opts.hw, opts.temperature ?? 'indoor');
    this.drift = (this.prng.float() * 2 - 1) * this.driftPpm * 1e-6;
    // A proof made while the device sleeps waits in the broker until the next wake, and one lost
    // on air waits one wake more: device/'s 60 s default (DPoP-like, for an online server) would
    // refuse it as stale ('replay'). A duty-cycled device sizes its iat acceptance window to two
    // wake intervals plus the default (DESIGN.md "PoP proof": the window is the verifier's choice;
    // the jti cache holds entries for that long, so the profile's cache bound still applies).
    this.iatWindowS = this.alwaysOn ? DEFAULT_IAT_WINDOW : 2 * this.wakeIntervalS + DEFAULT_IAT_WINDOW;
    this.quickjs = opts.quickjs;
    this.boot();
  }

  /**
   * Seconds. With an RTC: time of day with the crystal's drift. Without: a counter since first
   * boot that a low-power timer keeps across resets (device/ expects it monotonic), also drifting.
   */
  readonly clock = (): number => {
    const elapsed = (this.sim.now / 1000) * (1 + this.drift);
    return Math.floor(this.hw.rtc ? this.epoch + elapsed : 1 + elapsed);
  };

  private boot(): void {
    this.boots++;
    // The budgets come from the part's RAM (ram-budget.ts): what does not fit is refused.
    const profile = { iatWindow: this.iatWindowS, ...deviceBudgets(this.hw) };
    if (this.quickjs) {
      this.close();
      this.qjs = QuickJsDevice.start(this.quickjs.engine, {
        bundle: this.quickjs.bundle,
        memoryLimit: QUICKJS_SIM_HEAP_BYTES,
        provisioning: this.bundle,
        profile,
        // No Ed25519 base-point table: the least heap (device/host.ts).
        ed25519BaseWindow: 1,
        host: {
          randomBytes: (n) => this.provider.randomBytes(n),
          clock: this.clock,
          storage: this.flash,
          handle: (method, resource, payload) => sensor({ method, resource, payload, subject: undefined }),
          meter: (op) => this.provider.charge(op),
        },
      });
      return;
    }
    this.rs = createResourceServer({
      trust: loadProvisioningBundle(this.bundle, this.clock()),
      storage: this.flash,
      clock: this.clock,
      handler: sensor,
      provider: this.provider,
      profile,
      // An OSCORE refusal on the wire is a bare CoAP code (5.03 for a full token store and a full
      // context table alike); the report says why from the device's own log, as a field engineer would.
      logger: { info: () => {}, warn: (f) => this.noteRefusal(f['code']), error: (f) => this.noteRefusal(f['code']) },
    });
  }

  /** The refusal code of the device's last warning (its log), for the report; undefined on QuickJS devices. */
  lastRefusal: string | undefined;
  private noteRefusal(code: unknown): void {
    if (typeof code === 'string') this.lastRefusal = code;
  }

  /** Powers a QuickJS device's engine off (its heap figure is kept). */
  close(): void {
    if (!this.qjs) return;
    this.quickjsPeakHeapBytes = Math.max(this.quickjsPeakHeapBytes, this.qjs.peakHeapBytes);
    this.qjs.dispose();
    this.qjs = undefined;
  }

  /** Power loss: RAM (tokens, OSCORE contexts, nonces) is gone; flash stays. */
  reboot(): void {
    this.boot();
  }

  /** Handles one message on one of the device's endpoints; never throws (device/endpoint.ts). */
  handle(topic: DeviceTopic, body: Uint8Array): Uint8Array {
    this.meter.cpuCycles(this.hw.cycles.messageOverhead);
    if (this.qjs) return topic === 'authz-info' ? this.qjs.authzInfo(body) : this.qjs.request(body);
    return topic === 'authz-info' ? serveAuthzInfo(this.rs, body) : serveRequest(this.rs, body);
  }

  /** Applies a signed revocation list; returns how many tokens it revoked (0 if refused). */
  applyRevocationList(list: Uint8Array): number {
    this.meter.cpuCycles(this.hw.cycles.messageOverhead);
    try {
      return this.qjs ? this.qjs.applyRevocationList(list) : this.rs.applyRevocationList(list);
    } catch {
      return 0;
    }
  }

  /**
   * The runtime as a ResourceServer for a transport that calls device/ itself (the MQTT adapter):
   * always the current one (a reboot replaces it), metered like handle(), and each served message
   * reported with the energy and CPU time it cost, in the order served.
   */
  runtimeFor(hooks: { served(joules: number, busyS: number): void; revocationList(revoked: number): void }): ResourceServer {
    if (this.quickjs) throw new RangeError('a QuickJS device speaks bytes only: use the in-simulator relay');
    const metered = <T>(fn: () => T): T => {
      const j0 = this.meter.activeJoules();
      const busy0 = this.meter.cpuS + this.meter.flashS;
      this.meter.cpuCycles(this.hw.cycles.messageOverhead);
      try {
        return fn();
      } finally {
        hooks.served(this.meter.activeJoules() - j0, this.meter.cpuS + this.meter.flashS - busy0);
      }
    };
    const dev = this;
    return {
      get audience() {
        return dev.rs.audience;
      },
      get stats() {
        return dev.rs.stats;
      },
      authzInfo: (req) => metered(() => this.rs.authzInfo(req)),
      authzInfoExchange: (payload, contentFormat) => metered(() => this.rs.authzInfoExchange(payload, contentFormat)),
      get oscoreContexts() {
        return dev.rs.oscoreContexts;
      },
      handleCoap: (message) => metered(() => this.rs.handleCoap(message)),
      serveCoap: (bytes) => metered(() => this.rs.serveCoap(bytes)),
      issueNonce: () => this.rs.issueNonce(),
      handlePopRequest: (req) => metered(() => this.rs.handlePopRequest(req)),
      applyRevocationList: (list) => {
        const revoked = this.applyRevocationList(list);
        hooks.revocationList(revoked);
        return revoked;
      },
      hints: (scope) => this.rs.hints(scope),
    };
  }

  issueNonce(): Uint8Array {
    return this.qjs ? this.qjs.issueNonce() : this.rs.issueNonce();
  }

  get stats(): ResourceServer['stats'] {
    return this.qjs ? this.qjs.stats : this.rs.stats;
  }
}
