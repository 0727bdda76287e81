/**
 * Fleet simulation benchmark (issue 6): wall time and peak memory for 1 000 and 10 000 devices
 * (growth should be close to linear), and simulated energy per authorization for Sign1 vs Mac0
 * tokens on class-1 profiles. Not a test: prints figures.
 *
 * Each fleet size runs in its own child process (this file, forked with ROLE_ENV set, as
 * bench/authz.ts does), so one run's peak RSS is not the other's heap left over: the growth ratio
 * compares two clean processes. The child samples RSS at every progress callback and reports
 * its own maximum resident set (process.resourceUsage().maxRSS, the kernel's figure) as well.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { recordFigure } from './figures.js';
import { runFleet, HARDWARE_PROFILES, type SimReport } from '../firmware-sim/index.js';

const ROLE_ENV = 'KEYBOUND_SIM_BENCH_DEVICES';
const SIZES = [1000, 10000] as const;

interface RunResult {
  devices: number;
  wallS: number;
  /** Highest RSS sampled during the run, bytes. */
  sampledPeakRss: number;
  /** The kernel's maximum resident set size for the whole child process, bytes. */
  maxRss: number;
  /** RSS when the child started, before the run: the runtime's own floor. */
  baseRss: number;
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
  const report = await runFleet({
    scenario: 'mixed',
    devices,
    seed: 'bench',
    onProgress: () => void (peak = Math.max(peak, process.memoryUsage().rss)),
  });
  const wallS = (performance.now() - t0) / 1000;
  peak = Math.max(peak, process.memoryUsage().rss);
  const result: RunResult = {
    devices,
    wallS,
    sampledPeakRss: peak,
    maxRss: process.resourceUsage().maxRSS * 1024,
    baseRss,
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
  console.log('mixed scenario, the real device/ runtime on modelled hardware, in-simulator relay; each size in its own process:');
  const rows: RunResult[] = [];
  for (const devices of SIZES) {
    const r = await runInChild(devices);
    rows.push(r);
    recordFigure({ name: `sim.wall_s.${devices}`, value: Number(r.wallS.toFixed(2)), unit: 's' });
    recordFigure({ name: `sim.peak_rss_bytes.${devices}`, value: r.maxRss, unit: 'bytes' });
    recordFigure({ name: `sim.host_bytes_per_device.${devices}`, value: Math.round((r.maxRss - r.baseRss) / devices), unit: 'bytes', goal: '<= 16 KB', met: (r.maxRss - r.baseRss) / devices <= 16 * 1024 });
    console.log(
      `${String(devices).padStart(6)} devices: ${r.wallS.toFixed(1)} s wall, peak RSS ${mb(r.maxRss)} MB (sampled ${mb(r.sampledPeakRss)} MB, process floor ${mb(r.baseRss)} MB), ${r.events} events, ${r.succeeded}/${r.attempted} authorized, theft accepted ${r.theftAccepted}`,
    );
  }
  const [a, b] = rows as [RunResult, RunResult];
  const over = (r: RunResult) => r.maxRss - r.baseRss;
  recordFigure({ name: 'sim.growth_1k_to_10k.rss_above_floor', value: over(b) / over(a), unit: 'x (10x devices)', baseline: 10, ratio: over(b) / over(a) / 10, goal: 'linear' });
  console.log(
    `growth 1k -> 10k (10x devices): time x${(b.wallS / a.wallS).toFixed(1)}, peak RSS x${(b.maxRss / a.maxRss).toFixed(1)}, peak RSS above the process floor x${(over(b) / over(a)).toFixed(1)}`,
  );
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
