/**
 * The report of a run, as plain JSON: energy per authorization by profile and token type, bytes
 * on air CWT vs JWT, time to first authorized request, refusals by reason, and the scenario
 * checks (theft, revocation, reboots, clock-less expiry, introspection). Keys are emitted in a
 * fixed order and numbers rounded, so that one seed gives the same bytes (bar `generatedAt`).
 */
import { batteryLife, type DutyCycle } from './battery-life.js';
import { clockDriftPpm, type TemperatureRange } from './clock-drift.js';
import type { FlowRecord } from './flow-trace.js';
import { modelSources } from './model-figures.js';
import type { PhantomTokenCache } from '../gateway/index.js';
import { deviceBudgets, keyboundRamBytes } from './ram-budget.js';
import type { DevicePlan } from './scenarios.js';
import type { DeviceFigures } from './device-figures.js';
import { quantile, round, type SimMetrics } from './sim-metrics.js';
import type { RelayStats } from './sim-relay.js';

export interface SimReport {
  generatedAt: string;
  tool: string;
  scenario: string;
  seed: string;
  devices: number;
  issuer: string;
  relay: string;
  /** Where the device code ran: Node, or QuickJS (each device in its own engine). */
  engine: 'node' | 'quickjs';
  simulatedHours: number;
  events: number;
  authorizations: { attempted: number; succeeded: number };
  energyPerAuthorization: Array<{ profile: string; tokenType: string; count: number; meanMilliJoule: number; p95MilliJoule: number }>;
  bytesOnAir: Array<{ tokenType: string; count: number; tokenCwt: number; tokenJwt: number; airCwt: number; airJwt: number }>;
  timeToFirstAuthorizedRequest: { p50S: number; p90S: number; maxS: number; histogram: Array<{ upToS: number; count: number }> };
  refusals: Record<string, number>;
  /** Why each device that was not authorized failed: its refusal code, by profile and token type. */
  unauthorized: Array<{ reason: string; profile: string; tokenType: string; devices: number }>;
  theft: { tries: number; accepted: number; byAttack: Record<string, { tries: number; accepted: number }> };
  revocation: { revoked: number; devicesApplied: number; p50DelayS: number; maxDelayS: number; requestsAfter: number; acceptedAfter: number };
  reboots: SimMetrics['reboots'] & { nonceReuse: number; flashWrites: number; flashBytes: number };
  clockless: SimMetrics['clockless'];
  /** The gateway's phantom-token cache: hits and introspections are its own hits and misses. */
  connected: SimMetrics['connected'] & { introspections: number; cacheHits: number; cacheExpired: number; cacheEvictions: number };
  /** Flash over all devices: wear is erase cycles per page of keybound's region, as a fraction of the rated endurance. */
  flash: { writes: number; bytes: number; refusedWrites: number; maxEraseCyclesPerPage: number; maxWearFraction: number };
  profiles: Array<{
    profile: string;
    part: string;
    rfc7228Class: number;
    devices: number;
    /** keybound's RAM share and the budgets derived from it (ram-budget.ts). */
    keyboundRamBytes: number;
    tokenBudgetBytes: number;
    maxSessions: number;
    flashRegionBytes: number;
    maxFlashWearFraction: number;
    meanActiveMilliJoule: number;
    meanBatteryPctPerDay: number;
    cryptoVerifies: number;
    /** AEAD operations on the devices: OSCORE unprotects each request and protects each answer (RFC 8613 §8.2-8.3). */
    cryptoAeads: number;
    /**
     * Under --engine quickjs: the most heap one device's QuickJS engine used (its own count of live
     * bytes, engine and code included), beside the RAM model's keyboundRamBytes and the part's RAM.
     */
    quickjsPeakHeapBytes?: number;
    partRamBytes: number;
  }>;
  radio: RelayStats;
  /** What the battery-life table assumes: the run's duty cycle and temperature range. */
  assumptions: { wakeIntervalS: number; listenWindowS: number; temperature: string };
  /**
   * Per part: expected battery life of the idle duty cycle (battery-life.ts), and with the listen
   * window halved. Authorizations and requests come on top (energyPerAuthorization).
   */
  batteryLife: Array<{
    profile: string;
    battery: string;
    supply: string;
    cutoffV: number;
    limitedBy: string;
    clockDriftPpm: number;
    averageMicroAmp: number;
    peakMilliAmp: number;
    aboveRating: boolean;
    usableMah: number;
    lifeDays: number;
    lifeDaysHalfListen: number;
    changePct: number;
  }>;
  /** Every document the models of this run's parts, radios and batteries cite. */
  sources: Array<{ id: string; document: string }>;
  /** The messages of one device per flow, as they happened: the demo report's sequence chart. */
  flows: FlowRecord;
}

const HISTOGRAM_EDGES_S = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1200];

/** Four significant digits: wear fractions are tiny, fixed decimals would round them to 0. */
const sig = (x: number): number => Number(x.toPrecision(4));

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

export function buildReport(input: {
  scenario: string;
  seed: string;
  issuer: string;
  relay: string;
  engine: 'node' | 'quickjs';
  gateway: string;
  gatewayCache: Pick<PhantomTokenCache, 'hits' | 'misses' | 'expired' | 'evictions'>;
  simulatedS: number;
  events: number;
  plans: readonly DevicePlan[];
  /** Each device's figures by id: live SimDevices, or the rows their shards kept (device-figures.ts). */
  devices: { get(id: string): DeviceFigures | undefined; values(): Iterable<DeviceFigures> };
  metrics: SimMetrics;
  flows: FlowRecord;
  relayStats: RelayStats;
  generatedAt: string;
  duty: DutyCycle;
  temperature: TemperatureRange;
}): SimReport {
  const { metrics: m, plans, devices } = input;
  const byKey = <T>(items: readonly T[], key: (t: T) => string) => {
    const out = new Map<string, T[]>();
    // Appends in place: copying the group on each item was quadratic (100k devices: minutes).
    for (const it of items) {
      const k = key(it);
      const group = out.get(k);
      if (group) group.push(it);
      else out.set(k, [it]);
    }
    return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  };
  const energy = byKey(m.authorizations, (a) => `${a.profile}\u0000${a.tokenType}`).map(([k, rs]) => {
    const [profile, tokenType] = k.split('\u0000') as [string, string];
    const mj = rs.map((r) => r.energyJ * 1000).sort((a, b) => a - b);
    return { profile, tokenType, count: rs.length, meanMilliJoule: round(mean(mj), 4), p95MilliJoule: round(quantile(mj, 0.95), 4) };
  });
  const bytes = byKey(m.authorizations, (a) => a.tokenType).map(([tokenType, rs]) => ({
    tokenType,
    count: rs.length,
    tokenCwt: round(mean(rs.map((r) => r.tokenBytes)), 1),
    tokenJwt: round(mean(rs.map((r) => r.jwtBytes)), 1),
    airCwt: round(mean(rs.map((r) => r.airBytesCwt)), 1),
    airJwt: round(mean(rs.map((r) => r.airBytesJwt)), 1),
  }));
  const unauthorized = byKey(m.unauthorized, (u) => `${u.reason}\u0000${u.profile}\u0000${u.tokenType}`).map(([k, us]) => {
    const [reason, profile, tokenType] = k.split('\u0000') as [string, string, string];
    return { reason, profile, tokenType, devices: us.length };
  });
  const ttf = m.authorizations.map((a) => a.timeToFirstS).sort((a, b) => a - b);
  const histogram = HISTOGRAM_EDGES_S.map((upToS, i) => ({
    upToS,
    count: ttf.filter((t) => t <= upToS && (i === 0 || t > HISTOGRAM_EDGES_S[i - 1]!)).length,
  }));
  histogram.push({ upToS: Number.MAX_SAFE_INTEGER, count: ttf.filter((t) => t > HISTOGRAM_EDGES_S.at(-1)!).length });
  const delays = [...m.revocation.delaysS].sort((a, b) => a - b);
  let nonceReuse = 0;
  let flashWrites = 0;
  let flashBytes = 0;
  let refusedWrites = 0;
  let maxCycles = 0;
  let maxWear = 0;
  for (const d of devices.values()) {
    nonceReuse += d.provider.nonceReuse;
    flashWrites += d.flash.writes;
    flashBytes += d.flash.bytesWritten;
    refusedWrites += d.flash.refusedWrites;
    maxCycles = Math.max(maxCycles, d.flash.eraseCyclesPerPage);
    maxWear = Math.max(maxWear, d.flash.wearFraction);
  }
  const profiles = byKey(plans, (p) => p.hw.name).map(([name, ps]) => {
    const devs = ps.map((p) => devices.get(p.id)!);
    const days = Math.max(input.simulatedS, 1) / 86400;
    const hw = ps[0]!.hw;
    const budgets = deviceBudgets(hw);
    return {
      profile: name,
      part: hw.part,
      rfc7228Class: hw.rfc7228Class,
      devices: ps.length,
      keyboundRamBytes: keyboundRamBytes(hw),
      tokenBudgetBytes: budgets.tokenBudgetBytes,
      maxSessions: budgets.maxSessions,
      flashRegionBytes: devs[0]!.flash.regionBytes,
      maxFlashWearFraction: sig(devs.reduce((a, d) => Math.max(a, d.flash.wearFraction), -Infinity)),
      meanActiveMilliJoule: round(mean(devs.map((d) => d.meter.activeJoules() * 1000)), 3),
      meanBatteryPctPerDay: round(mean(devs.map((d) => (d.meter.batteryFraction(input.simulatedS) * 100) / days)), 5),
      cryptoVerifies: devs.reduce((a, d) => a + d.provider.counts.verify, 0),
      cryptoAeads: devs.reduce((a, d) => a + d.provider.counts.aead, 0),
      partRamBytes: hw.ramBytes,
      ...(input.engine === 'quickjs' ? { quickjsPeakHeapBytes: devs.reduce((a, d) => Math.max(a, d.quickjsPeakHeapBytes), -Infinity) } : {}),
    };
  });
  const parts = byKey(plans, (p) => p.hw.name).map(([, ps]) => ps[0]!.hw);
  const batteryLifeRows = parts.map((hw) => {
    const life = batteryLife(hw, input.duty);
    const half = batteryLife(hw, { ...input.duty, listenWindowS: input.duty.listenWindowS / 2 });
    return {
      profile: hw.name,
      battery: life.battery,
      supply: life.supply,
      cutoffV: life.cutoffV,
      limitedBy: life.limitedBy,
      clockDriftPpm: round(clockDriftPpm(hw, input.temperature), 1),
      averageMicroAmp: sig(life.averageA * 1e6),
      peakMilliAmp: sig(life.peakA * 1e3),
      aboveRating: life.aboveRating,
      usableMah: round(life.usableMah, 1),
      lifeDays: round(life.days, 1),
      lifeDaysHalfListen: round(half.days, 1),
      changePct: round(((half.days - life.days) / life.days) * 100, 1),
    };
  });
  const sortedRecord = <V>(map: Map<string, V>): Record<string, V> => Object.fromEntries([...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    generatedAt: input.generatedAt,
    tool: 'keybound sim',
    scenario: input.scenario,
    seed: input.seed,
    devices: plans.length,
    issuer: input.issuer,
    relay: input.relay,
    engine: input.engine,
    simulatedHours: round(input.simulatedS / 3600, 4),
    events: input.events,
    authorizations: { attempted: m.attempted, succeeded: m.authorizations.length },
    energyPerAuthorization: energy,
    bytesOnAir: bytes,
    timeToFirstAuthorizedRequest: { p50S: round(quantile(ttf, 0.5), 3), p90S: round(quantile(ttf, 0.9), 3), maxS: round(ttf.at(-1) ?? 0, 3), histogram },
    refusals: sortedRecord(m.refusals),
    unauthorized,
    theft: { tries: m.theft.tries, accepted: m.theft.accepted, byAttack: sortedRecord(m.theft.byAttack) },
    revocation: {
      revoked: m.revocation.revoked,
      devicesApplied: m.revocation.applied,
      p50DelayS: round(quantile(delays, 0.5), 3),
      maxDelayS: round(delays.at(-1) ?? 0, 3),
      requestsAfter: m.revocation.requestsAfter,
      acceptedAfter: m.revocation.acceptedAfter,
    },
    reboots: { ...m.reboots, nonceReuse, flashWrites, flashBytes },
    clockless: { ...m.clockless },
    connected: {
      ...m.connected,
      maxServedAfterRevocationS: round(m.connected.maxServedAfterRevocationS, 3),
      introspections: input.gatewayCache.misses,
      cacheHits: input.gatewayCache.hits,
      cacheExpired: input.gatewayCache.expired,
      cacheEvictions: input.gatewayCache.evictions,
    },
    flash: { writes: flashWrites, bytes: flashBytes, refusedWrites, maxEraseCyclesPerPage: sig(maxCycles), maxWearFraction: sig(maxWear) },
    profiles,
    radio: { ...input.relayStats },
    assumptions: { ...input.duty, temperature: input.temperature },
    batteryLife: batteryLifeRows,
    sources: modelSources(parts, input.temperature),
    flows: input.flows,
  };
}
