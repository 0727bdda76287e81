/**
 * One simulated run: plans the fleet, provisions every device from the issuer, attaches them to
 * the relay, starts a client per device and runs the virtual clock to the end; returns the report.
 *
 * A fleet runs in shards of SHARD_DEVICES consecutive devices (by index). Each shard is a whole
 * simulation of its own (its clock, relay and air, gateway, the same AS signing keys) with PRNG
 * streams derived from the seed and the shard's index only; its devices are dropped once it ends
 * and only a row of figures per device is kept (device-figures.ts), so memory stays bounded by
 * the shards in flight. Shards run in worker threads when asked (fleet-workers.ts) and are merged
 * in index order: the report depends on the seed and the fleet, never on how many workers ran it.
 * A thief carries a stolen token to another device of its own shard (a site, in practice).
 */
import { GATEWAY_AUDIENCE, type FleetIssuer } from './fleet-issuer.js';
import { FlowTrace, storyTellers, type FlowName, type FlowRecord } from './flow-trace.js';
import { PhantomTokenCache } from '../gateway/index.js';
import { Prng } from './prng.js';
import { deviceScript, planFleet, registrations, DEFAULT_FRAME_LOSS, LISTEN_WINDOW_S, SIM_EPOCH, SIM_LIFETIME_S, WAKE_INTERVAL_S, type DevicePlan, type ScenarioName, type ScenarioContext } from './scenarios.js';
import { TEMPERATURE_RANGES, type TemperatureRange } from './clock-drift.js';
import { SimDevice } from './sim-device.js';
import { createSimIssuer } from './sim-issuer.js';
import { SimMetrics, type MetricsData } from './sim-metrics.js';
import { SimRelay, type FleetRelay, type RelayStats } from './sim-relay.js';
import { BrokerRelay } from './broker-relay.js';
import { Simulator } from './simulator.js';
import { buildReport, type SimReport } from './sim-report.js';
import { quickJsModule } from './quickjs-engine.js';
import { buildDeviceBundle } from './device-bundle.js';
import { DeviceFigureTable, type DeviceFigures } from './device-figures.js';
import { runShardsInWorkers } from './fleet-workers.js';

/** The most devices one run takes (issue 13: a real operator's fleet). */
export const MAX_DEVICES = 100_000;
/**
 * Devices per shard: a few hundred MB of live state in one thread at a time (~100 KB per live
 * device), and shards large enough that the theft, gateway and revocation stories play out in each.
 */
export const SHARD_DEVICES = 2000;
/** The most worker threads a run starts. */
export const MAX_WORKERS = 16;
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
  /**
   * Worker threads that run shards (default 1: all in this thread). The report is the same for
   * any count; more than one needs the in-simulator issuer and relay and the Node engine.
   */
  workers?: number;
  /** Devices per shard (default SHARD_DEVICES); part of what a report depends on, like the seed. */
  shardDevices?: number;
}

/** A shard: devices [from, to) of the fleet plan. */
export interface ShardSpec {
  index: number;
  from: number;
  to: number;
}

/** What a shard hands back: plain data, so a worker thread can post it. */
export interface ShardResult {
  index: number;
  issuer: string;
  relay: string;
  simulatedS: number;
  events: number;
  metrics: MetricsData;
  gateway: { hits: number; misses: number; expired: number; evictions: number };
  relayStats: RelayStats;
  flows: FlowRecord;
  /** DeviceFigureTable rows of the shard's devices, in plan order. */
  figures: Float64Array;
}

/** A run's options once checked, as a shard (or a worker thread) needs them. */
export interface ShardRun {
  scenario: ScenarioName;
  devices: number;
  seed: number | string;
  loss?: number;
  relay: 'sim' | 'broker';
  gatewayCacheEntries?: number;
  engine: 'node' | 'quickjs';
  duty: { wakeIntervalS: number; listenWindowS: number };
  temperature: TemperatureRange;
}

/** Powers off every QuickJS engine (devices that run in Node have none). */
function closeEngines(devices: Map<string, SimDevice>): void {
  for (const d of devices.values()) d.close();
}

export function shardsOf(devices: number, shardDevices: number): ShardSpec[] {
  const out: ShardSpec[] = [];
  for (let from = 0, index = 0; from < devices; from += shardDevices, index++) out.push({ index, from, to: Math.min(devices, from + shardDevices) });
  return out;
}

/**
 * One shard, start to end. Shard 0 draws its streams from the seed exactly as an unsharded run
 * did (so a fleet that fits one shard reports what it always has); shard k > 0 from
 * `seed.fork("shard:k")`. Every shard's AS signs with the keys of `seed.fork("issuer")`.
 */
export async function runShard(
  run: ShardRun,
  plans: readonly DevicePlan[],
  tellers: ReadonlyMap<string, FlowName>,
  shard: ShardSpec,
  hooks: { issuer?: RunOptions['issuer']; onProgress?: (finished: number) => void } = {},
): Promise<ShardResult> {
  // Loaded before any device boots, so that a device (re)boots synchronously, as firmware does.
  const quickjs = run.engine === 'quickjs' ? { engine: await quickJsModule(), bundle: await buildDeviceBundle('full') } : undefined;
  const sim = new Simulator();
  const root = shard.index === 0 ? new Prng(run.seed) : new Prng(run.seed).fork(`shard:${shard.index}`);
  const clock = () => SIM_EPOCH + sim.now / 1000;
  const issuerPrng = root.fork('issuer');
  const issuer = hooks.issuer
    ? await hooks.issuer(issuerPrng, clock)
    : createSimIssuer(issuerPrng, clock, { lifetime: SIM_LIFETIME_S, ...(shard.index > 0 ? { signingKeys: new Prng(run.seed).fork('issuer') } : {}) });
  const mine = plans.slice(shard.from, shard.to);
  const metrics = new SimMetrics();
  const devices = new Map<string, SimDevice>();
  const gateway = new PhantomTokenCache(clock, run.gatewayCacheEntries !== undefined ? { maxEntries: run.gatewayCacheEntries } : {});
  const trace = new FlowTrace(tellers, () => sim.now / 1000);
  let finished = 0;
  let relay: FleetRelay | undefined;
  try {
    if (run.relay === 'broker') {
      if (mine.length > MAX_BROKER_DEVICES) throw new RangeError(`the real broker relay takes at most ${MAX_BROKER_DEVICES} devices`);
      relay = await BrokerRelay.start({ ...(process.env.KB_SIM_BROKER_LOG ? { logger: (l: string) => console.error(l) } : {}), sim, prng: root.fork('air'), loss: run.loss ?? DEFAULT_FRAME_LOSS, horizonMs: HORIZON_MS, clock, access: await issuer.brokerAccess(BROKER_AUDIENCE) });
    } else relay = new SimRelay(sim, root.fork('air'), run.loss ?? DEFAULT_FRAME_LOSS, HORIZON_MS);
    await issuer.register(registrations(mine));
    for (const plan of mine) {
      const dev = new SimDevice({
        id: plan.id,
        hw: plan.hw,
        bundle: await issuer.bundleFor(plan.id),
        prng: root.fork(`device:${plan.id}`),
        sim,
        epoch: SIM_EPOCH,
        alwaysOn: plan.alwaysOn,
        ...run.duty,
        temperature: run.temperature,
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
    const ctx: ScenarioContext = { sim, relay, issuer, metrics, prng: root.fork('clients'), devices, plans: mine, gateway, clock, io: (p) => sim.external(p), trace, wakeIntervalS: run.duty.wakeIntervalS };
    for (const plan of mine) {
      sim.spawn(async () => {
        await deviceScript(ctx, plan);
        finished++;
      });
    }
    hooks.onProgress?.(0);
    await sim.run({ onProgress: () => hooks.onProgress?.(finished), progressEvery: 2000 });
  } finally {
    closeEngines(devices);
    await relay?.close();
    await issuer.close();
  }
  const figures = new DeviceFigureTable(mine.length);
  mine.forEach((plan, i) => figures.record(i, devices.get(plan.id)!));
  return {
    index: shard.index,
    issuer: issuer.name,
    relay: relay.name,
    simulatedS: sim.now / 1000,
    events: sim.events,
    metrics,
    // With the real gateway in front of the connected flow, its own cache's counters; else the model's.
    gateway: issuer.connectedGateway ? issuer.connectedGateway.stats() : { hits: gateway.hits, misses: gateway.misses, expired: gateway.expired, evictions: gateway.evictions },
    relayStats: relay.stats,
    flows: trace.result(),
    figures: figures.rows,
  };
}

/** Shards' results, merged in index order (whatever order they finished in). */
function mergeShards(results: readonly ShardResult[], plans: readonly DevicePlan[]) {
  const ordered = [...results].sort((a, b) => a.index - b.index);
  const metrics = new SimMetrics();
  const gateway = { hits: 0, misses: 0, expired: 0, evictions: 0 };
  const relayStats: RelayStats = { messages: 0, lostOnAir: 0, linkAttempts: 0, frames: 0, trlDeliveries: 0, wakes: 0 };
  const flows: FlowRecord = { events: [], dropped: { connected: 0, disconnected: 0, theft: 0 } };
  const table = new DeviceFigureTable(plans.length);
  let simulatedS = 0;
  let events = 0;
  let at = 0;
  for (const r of ordered) {
    metrics.absorb(r.metrics);
    for (const k of Object.keys(gateway) as Array<keyof typeof gateway>) gateway[k] += r.gateway[k];
    for (const k of Object.keys(relayStats) as Array<keyof RelayStats>) relayStats[k] += r.relayStats[k];
    for (const e of r.flows.events) flows.events.push(e);
    for (const k of Object.keys(flows.dropped) as FlowName[]) flows.dropped[k] += r.flows.dropped[k];
    const rows = DeviceFigureTable.fromRows(r.figures);
    table.place(at, rows);
    at += rows.count;
    simulatedS = Math.max(simulatedS, r.simulatedS);
    events += r.events;
  }
  if (at !== plans.length) throw new RangeError(`shards returned ${at} devices of ${plans.length}`);
  const indexOf = new Map(plans.map((p, i) => [p.id, i]));
  const devices = {
    get: (id: string): DeviceFigures | undefined => {
      const i = indexOf.get(id);
      return i === undefined ? undefined : table.at(i, plans[i]!.hw);
    },
    *values(): Iterable<DeviceFigures> {
      for (let i = 0; i < plans.length; i++) yield table.at(i, plans[i]!.hw);
    },
  };
  return { first: ordered[0]!, metrics, gateway, relayStats, flows, devices, simulatedS, events };
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
  if (opts.relay === 'broker' && opts.devices > MAX_BROKER_DEVICES) throw new RangeError(`the real broker relay takes at most ${MAX_BROKER_DEVICES} devices`);
  const shardDevices = opts.shardDevices ?? SHARD_DEVICES;
  if (!Number.isSafeInteger(shardDevices) || shardDevices < 1) throw new RangeError('shardDevices must be a positive integer');
  const workers = opts.workers ?? 1;
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS) throw new RangeError(`workers must be an integer from 1 to ${MAX_WORKERS}`);
  const run: ShardRun = {
    scenario: opts.scenario,
    devices: opts.devices,
    seed: opts.seed,
    ...(opts.loss !== undefined ? { loss: opts.loss } : {}),
    relay: opts.relay ?? 'sim',
    ...(opts.gatewayCacheEntries !== undefined ? { gatewayCacheEntries: opts.gatewayCacheEntries } : {}),
    engine,
    duty,
    temperature,
  };
  const plans = planFleet(opts.scenario, opts.devices);
  const tellers = storyTellers(plans);
  const shards = shardsOf(opts.devices, shardDevices);
  // Devices finished per shard, summed for the caller's progress.
  const finished = new Array<number>(shards.length).fill(0);
  const progress = (shard: number, done: number) => {
    finished[shard] = done;
    opts.onProgress?.(finished.reduce((a, b) => a + b, 0), plans.length);
  };
  opts.onProgress?.(0, plans.length);
  let results: ShardResult[];
  const threads = Math.min(workers, shards.length);
  if (threads > 1) {
    if (opts.issuer || run.relay !== 'sim' || engine !== 'node') throw new RangeError('worker threads run the in-simulator issuer and relay with the Node engine only');
    results = await runShardsInWorkers(run, shards, threads, progress);
  } else {
    results = [];
    for (const shard of shards) results.push(await runShard(run, plans, tellers, shard, { ...(opts.issuer ? { issuer: opts.issuer } : {}), onProgress: (d) => progress(shard.index, d) }));
  }
  const merged = mergeShards(results, plans);
  return buildReport({
    scenario: opts.scenario,
    seed: String(opts.seed),
    issuer: merged.first.issuer,
    relay: merged.first.relay,
    engine,
    gateway: GATEWAY_AUDIENCE,
    gatewayCache: merged.gateway,
    simulatedS: merged.simulatedS,
    events: merged.events,
    plans,
    devices: merged.devices,
    metrics: merged.metrics,
    flows: merged.flows,
    relayStats: merged.relayStats,
    generatedAt: (opts.now ?? (() => new Date()))().toISOString(),
    duty,
    temperature,
  });
}
