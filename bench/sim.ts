/**
 * Fleet simulation benchmark (issues 6, 13): wall time, devices/s and peak memory for 10 000 and
 * 20 000 devices (KEYBOUND_BENCH_SIM_SIZES=10000,20000,100000 to add the full fleet), with the
 * workers the CLI uses (one per core); time should grow linearly and memory at most linearly
 * (shards bound it); and simulated energy per authorization for Sign1 vs Mac0 tokens on class-1
 * profiles. Not a test: prints figures and records them (figures.ts).
 *
 * Each fleet size runs in its own child process (this file, forked with ROLE_ENV set, as
 * bench/authz.ts does), so one run's peak RSS is not the other's heap left over: the growth ratio
 * compares two clean processes. The child samples RSS at every progress callback and reports
 * its own maximum resident set (process.resourceUsage().maxRSS, the kernel's figure) as well.
 */
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runFleet, HARDWARE_PROFILES, MAX_WORKERS, type SimReport } from '../firmware-sim/index.js';
import { recordFigure } from './figures.js';

const ROLE_ENV = 'KEYBOUND_SIM_BENCH_DEVICES';
const SIZES = (process.env.KEYBOUND_BENCH_SIM_SIZES ?? '10000,20000').split(',').map(Number);
/** Issue 13: 100 000 devices in at most 5 minutes and 2 GB, at most 16 KB of host memory per device. */
const FLEET_GOAL = { devices: 100_000, wallS: 300, rssBytes: 2e9, bytesPerDevice: 16 * 1024 };
const WORKERS = Math.min(MAX_WORKERS, availableParallelism());

interface RunResult {
  devices: number;
  wallS: number;
  /** Highest RSS sampled during the run, bytes. */
  sampledPeakRss: number;
  /** The kernel's maximum resident set size for the whole child process, bytes. */
  maxRss: number;
  /** RSS when the child started, before the run: the runtime's own floor. */
  baseRss: number;
  /** CPU seconds (user + system, every thread) the run took: what a shared machine does not distort. */
  cpuS: number;
  events: number;
  attempted: number;
  succeeded: number;
  theftAccepted: number;
  energy: SimReport['energyPerAuthorization'];
}

/** The child: one fleet, then its figures to the parent. */
async function child(devices: number): Promise<void> {
  const baseRss = process.memoryUsage().rss;
  let peak = baseRss;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const report = await runFleet({
    scenario: 'mixed',
    devices,
    seed: 'bench',
    workers: WORKERS,
    onProgress: () => void (peak = Math.max(peak, process.memoryUsage().rss)),
  });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  peak = Math.max(peak, process.memoryUsage().rss);
  const result: RunResult = {
    devices,
    wallS,
    sampledPeakRss: peak,
    maxRss: process.resourceUsage().maxRSS * 1024,
    baseRss,
    cpuS,
    events: report.events,
    attempted: report.authorizations.attempted,
    succeeded: report.authorizations.succeeded,
    theftAccepted: report.theft.accepted,
    energy: report.energyPerAuthorization,
  };
  process.send!(result, () => process.disconnect());
}

function runInChild(devices: number): Promise<RunResult> {
  const c = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, [ROLE_ENV]: String(devices) } });
  return new Promise((resolve, reject) => {
    let result: RunResult | undefined;
    c.once('message', (m) => (result = m as RunResult));
    c.once('exit', (code) => (result ? resolve(result) : reject(new Error(`sim bench child (${devices} devices) exited (${code}) without a result`))));
  });
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);

export async function benchSim(): Promise<void> {
  if (SIZES.length < 2 || SIZES.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new RangeError('KEYBOUND_BENCH_SIM_SIZES: at least two fleet sizes');
  console.log(`mixed scenario, the real device/ runtime on modelled hardware, in-simulator relay, ${WORKERS} worker threads; each size in its own process:`);
  const rows: RunResult[] = [];
  for (const devices of SIZES) {
    const r = await runInChild(devices);
    rows.push(r);
    const k = `${devices / 1000}k`;
    const perS = recordFigure({ name: `sim.devices_per_s.${k}`, value: Math.round(devices / r.wallS), unit: 'devices/s' });
    recordFigure({ name: `sim.peak_rss.${k}`, value: r.maxRss, unit: 'bytes', goal: '≤ 2 GB at 100k', met: r.maxRss <= FLEET_GOAL.rssBytes });
    // Host memory per simulated device: the peak above the runtime's own floor, over the fleet.
    const perDevice = recordFigure({ name: `sim.bytes_per_device.${k}`, value: Math.round((r.maxRss - r.baseRss) / devices), unit: 'bytes', goal: '≤ 16 KB at 100k', ...(devices === FLEET_GOAL.devices ? { met: (r.maxRss - r.baseRss) / devices <= FLEET_GOAL.bytesPerDevice } : {}) });
    console.log(
      `${String(devices).padStart(6)} devices: ${r.wallS.toFixed(1)} s wall (${perS.value} devices/s), peak RSS ${mb(r.maxRss)} MB (sampled ${mb(r.sampledPeakRss)} MB, process floor ${mb(r.baseRss)} MB; ${(perDevice.value / 1024).toFixed(1)} KB/device above it), ${r.events} events, ${r.succeeded}/${r.attempted} authorized, theft accepted ${r.theftAccepted}`,
    );
  }
  const a = rows[0]!;
  const b = rows.at(-1)!;
  const scale = b.devices / a.devices;
  const over = (r: RunResult) => r.maxRss - r.baseRss;
  // Linear growth: time and memory grow by at most the fleet's factor (the smaller run is the baseline).
  const time = recordFigure({ name: 'sim.time_growth', value: b.wallS / a.wallS, unit: 'x', baseline: scale, ratio: b.wallS / a.wallS / scale, goal: `≤ ${(scale * 1.1).toFixed(1)}x (linear)`, met: b.wallS / a.wallS <= scale * 1.1 });
  const mem = recordFigure({ name: 'sim.rss_growth_above_floor', value: over(b) / over(a), unit: 'x', baseline: scale, ratio: over(b) / over(a) / scale, goal: `≤ ${scale.toFixed(1)}x (at most linear)`, met: over(b) / over(a) <= scale });
  // What one more device costs in memory: the slope between the two sizes (shards keep it near 0).
  const marginal = recordFigure({ name: 'sim.marginal_bytes_per_device', value: Math.round((over(b) - over(a)) / (b.devices - a.devices)), unit: 'bytes', goal: '≤ 16 KB', met: (over(b) - over(a)) / (b.devices - a.devices) <= FLEET_GOAL.bytesPerDevice });
  console.log(`memory per additional device ${a.devices / 1000}k -> ${b.devices / 1000}k: ${(marginal.value / 1024).toFixed(1)} KB (goal ≤ 16 KB)`);
  console.log(`growth ${a.devices / 1000}k -> ${b.devices / 1000}k (${scale}x devices): time x${time.value.toFixed(2)}, peak RSS above the process floor x${mem.value.toFixed(2)}`);
  const full = rows.find((r) => r.devices === FLEET_GOAL.devices);
  const wall100k = full ? full.wallS : (FLEET_GOAL.devices / b.devices) * b.wallS;
  const f = recordFigure({ name: full ? 'sim.wall_s.100k' : 'sim.projected_wall_s.100k', value: Math.round(wall100k), unit: 's', baseline: FLEET_GOAL.wallS, ratio: wall100k / FLEET_GOAL.wallS, goal: '≤ 300 s', met: wall100k <= FLEET_GOAL.wallS });
  console.log(`100k devices: ${full ? 'measured' : `projected from ${b.devices / 1000}k`} ${f.value} s wall (goal ≤ ${FLEET_GOAL.wallS} s)`);
  // On a shared machine wall time follows the other load; CPU time over the cores does not.
  const cpu100k = (FLEET_GOAL.devices / b.devices) * b.cpuS;
  const c = recordFigure({ name: 'sim.projected_cpu_s_per_core.100k', value: Math.round(cpu100k / WORKERS), unit: 's', baseline: FLEET_GOAL.wallS, ratio: cpu100k / WORKERS / FLEET_GOAL.wallS, goal: '≤ 300 s (idle cores)', met: cpu100k / WORKERS <= FLEET_GOAL.wallS });
  console.log(`100k devices: ${Math.round(cpu100k)} CPU s projected from ${b.devices / 1000}k (${b.cpuS.toFixed(0)} CPU s), ${c.value} s per core on ${WORKERS} idle cores`);
  console.log('simulated energy per authorization on class-1 parts (token + OSCORE context setup + first request, device side):');
  for (const e of b.energy) {
    if (HARDWARE_PROFILES[e.profile]?.rfc7228Class !== 1) continue;
    if (!/^(Sign1 Ed25519|Mac0) \+ OSCORE$/.test(e.tokenType)) continue;
    console.log(`  ${e.profile.padEnd(8)} ${e.tokenType.padEnd(24)} ${e.meanMilliJoule.toFixed(3)} mJ (n=${e.count})`);
  }
}

if (process.env[ROLE_ENV]) {
  await child(Number(process.env[ROLE_ENV]));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await benchSim();
}
