/**
 * One simulated run: plans the fleet, provisions every device from the issuer, attaches them to
 * the relay, starts a client per device and runs the virtual clock to the end; returns the report.
 */
import { GATEWAY_AUDIENCE, type FleetIssuer } from './fleet-issuer.js';
import { FlowTrace, storyTellers } from './flow-trace.js';
import { PhantomTokenCache } from '../gateway/index.js';
import { Prng } from './prng.js';
import { deviceScript, planFleet, registrations, DEFAULT_FRAME_LOSS, LISTEN_WINDOW_S, SIM_EPOCH, SIM_LIFETIME_S, WAKE_INTERVAL_S, type ScenarioName, type ScenarioContext } from './scenarios.js';
import { TEMPERATURE_RANGES, type TemperatureRange } from './clock-drift.js';
import { SimDevice } from './sim-device.js';
import { createSimIssuer } from './sim-issuer.js';
import { SimMetrics } from './sim-metrics.js';
import { SimRelay, type FleetRelay } from './sim-relay.js';
import { BrokerRelay } from './broker-relay.js';
import { Simulator } from './simulator.js';
import { buildReport, type SimReport } from './sim-report.js';
import { quickJsModule } from './quickjs-engine.js';
import { buildDeviceBundle } from './device-bundle.js';

/** The most devices one run takes: 10x the target, still well inside memory. */
export const MAX_DEVICES = 100_000;
/** The real broker relay holds two MQTT connections per awake device on loopback: small fleets only. */
export const MAX_BROKER_DEVICES = 200;
/**
 * `--engine quickjs` runs each device's code in its own QuickJS engine (~1 MB of heap and ~20x the
 * CPU time of Node per verification, bench/quickjs.ts): small fleets only.
 */
export const MAX_QUICKJS_DEVICES = 16;
/** The broker's audience at the service. */
export const BROKER_AUDIENCE = 'sim-broker';
/** Virtual time after which no device loop continues: 6 hours is far past every script. */
const HORIZON_MS = 6 * 3600 * 1000;

export interface RunOptions {
  scenario: ScenarioName;
  devices: number;
  seed: number | string;
  /** Frame loss probability on device links. */
  loss?: number;
  /** Defaults to the in-simulator issuer; pass `(prng, clock) => issuer` for the real authz/ service. */
  issuer?: (prng: Prng, clock: () => number) => Promise<FleetIssuer>;
  /**
   * What carries messages to devices: the in-simulator relay (default; 10 000 devices, byte-exact
   * reports), or the real broker/ on 127.0.0.1 with devices on connectDeviceMqtt (small fleets).
   */
  relay?: 'sim' | 'broker';
  /** Entries in the gateway's phantom-token cache (default PHANTOM_CACHE_ENTRIES). */
  gatewayCacheEntries?: number;
  /** Where device code runs: Node (default), or QuickJS on the full device bundle (small fleets). */
  engine?: 'node' | 'quickjs';
  /** Called with (devices finished, devices) now and then. */
  onProgress?: (done: number, total: number) => void;
  /** The report's timestamp (the only field that may differ between two runs of a seed). */
  now?: () => Date;
  /** Duty cycle of the sleeping devices (defaults WAKE_INTERVAL_S, LISTEN_WINDOW_S). */
  wakeIntervalS?: number;
  listenWindowS?: number;
  /** Temperatures the fleet lives in (default 'indoor'): sets clock drift. */
  temperature?: TemperatureRange;
}

/** Powers off every QuickJS engine (devices that run in Node have none). */
function closeEngines(devices: Map<string, SimDevice>): void {
  for (const d of devices.values()) d.close();
}

export async function runFleet(opts: RunOptions): Promise<SimReport> {
  if (!Number.isSafeInteger(opts.devices) || opts.devices < 1 || opts.devices > MAX_DEVICES) {
    throw new RangeError(`devices must be an integer from 1 to ${MAX_DEVICES}`);
  }
  const duty = { wakeIntervalS: opts.wakeIntervalS ?? WAKE_INTERVAL_S, listenWindowS: opts.listenWindowS ?? LISTEN_WINDOW_S };
  if (!(duty.wakeIntervalS >= 1 && duty.wakeIntervalS <= 3600) || !(duty.listenWindowS >= 0 && duty.listenWindowS < duty.wakeIntervalS)) {
    throw new RangeError('wakeIntervalS must be 1 to 3600 s and listenWindowS from 0 to below it');
  }
  const temperature = opts.temperature ?? 'indoor';
  if (!TEMPERATURE_RANGES.includes(temperature)) throw new RangeError(`temperature must be one of ${TEMPERATURE_RANGES.join(', ')}`);
  const engine = opts.engine ?? 'node';
  if (engine === 'quickjs') {
    if (opts.devices > MAX_QUICKJS_DEVICES) throw new RangeError(`--engine quickjs takes at most ${MAX_QUICKJS_DEVICES} devices (each runs its own QuickJS engine)`);
    if (opts.relay === 'broker') throw new RangeError('--engine quickjs runs with the in-simulator relay only (its devices speak bytes, not device/ calls)');
  }
  // Loaded before any device boots, so that a device (re)boots synchronously, as firmware does.
  const quickjs = engine === 'quickjs' ? { engine: await quickJsModule(), bundle: await buildDeviceBundle('full') } : undefined;
  const sim = new Simulator();
  const root = new Prng(opts.seed);
  const clock = () => SIM_EPOCH + sim.now / 1000;
  const issuer = opts.issuer ? await opts.issuer(root.fork('issuer'), clock) : createSimIssuer(root.fork('issuer'), clock, { lifetime: SIM_LIFETIME_S });
  const plans = planFleet(opts.scenario, opts.devices);
  const metrics = new SimMetrics();
  const devices = new Map<string, SimDevice>();
  const gateway = new PhantomTokenCache(clock, opts.gatewayCacheEntries !== undefined ? { maxEntries: opts.gatewayCacheEntries } : {});
  const trace = new FlowTrace(storyTellers(plans), () => sim.now / 1000);
  let finished = 0;
  let relay: FleetRelay | undefined;
  try {
    if (opts.relay === 'broker') {
      if (opts.devices > MAX_BROKER_DEVICES) throw new RangeError(`the real broker relay takes at most ${MAX_BROKER_DEVICES} devices`);
      relay = await BrokerRelay.start({ ...(process.env.KB_SIM_BROKER_LOG ? { logger: (l: string) => console.error(l) } : {}), sim, prng: root.fork('air'), loss: opts.loss ?? DEFAULT_FRAME_LOSS, horizonMs: HORIZON_MS, clock, access: await issuer.brokerAccess(BROKER_AUDIENCE) });
    } else relay = new SimRelay(sim, root.fork('air'), opts.loss ?? DEFAULT_FRAME_LOSS, HORIZON_MS);
    await issuer.register(registrations(plans));
    for (const plan of plans) {
      const dev = new SimDevice({
        id: plan.id,
        hw: plan.hw,
        bundle: await issuer.bundleFor(plan.id),
        prng: root.fork(`device:${plan.id}`),
        sim,
        epoch: SIM_EPOCH,
        alwaysOn: plan.alwaysOn,
        ...duty,
        temperature,
        ...(quickjs ? { quickjs } : {}),
      });
      devices.set(plan.id, dev);
      relay.attach(dev);
    }
    relay.onTrlApplied = (_dev, delayMs, revoked) => {
      if (revoked > 0) {
        metrics.revocation.applied++;
        metrics.revocation.delaysS.push(delayMs / 1000);
      }
    };
    const ctx: ScenarioContext = { sim, relay, issuer, metrics, prng: root.fork('clients'), devices, plans, gateway, clock, io: (p) => sim.external(p), trace, wakeIntervalS: duty.wakeIntervalS };
    for (const plan of plans) {
      sim.spawn(async () => {
        await deviceScript(ctx, plan);
        finished++;
      });
    }
    opts.onProgress?.(0, plans.length);
    await sim.run({ onProgress: () => opts.onProgress?.(finished, plans.length), progressEvery: 2000 });
  } finally {
    closeEngines(devices);
    await relay?.close();
    await issuer.close();
  }
  return buildReport({
    scenario: opts.scenario,
    seed: String(opts.seed),
    issuer: issuer.name,
    relay: relay.name,
    engine,
    gateway: GATEWAY_AUDIENCE,
    gatewayCache: gateway,
    simulatedS: sim.now / 1000,
    events: sim.events,
    plans,
    devices,
    metrics,
    flows: trace.result(),
    relayStats: relay.stats,
    generatedAt: (opts.now ?? (() => new Date()))().toISOString(),
    duty,
    temperature,
  });
}
