/**
 * Fleet simulation benchmark (issue 6): wall time and peak memory for 1 000 and 10 000 devices
 * (growth should be close to linear), and simulated energy per authorization for Sign1 vs Mac0
 * tokens on class-1 profiles. Not a test: prints figures.
 */
import { runFleet, HARDWARE_PROFILES, type SimReport } from '../firmware-sim/index.js';

async function timed(devices: number): Promise<{ wallS: number; peakRssMb: number; report: SimReport }> {
  let peak = process.memoryUsage().rss;
  const t0 = performance.now();
  const report = await runFleet({
    scenario: 'mixed',
    devices,
    seed: 'bench',
    onProgress: () => void (peak = Math.max(peak, process.memoryUsage().rss)),
  });
  peak = Math.max(peak, process.memoryUsage().rss);
  return { wallS: (performance.now() - t0) / 1000, peakRssMb: peak / 1e6, report };
}

export async function benchSim(): Promise<void> {
  console.log('mixed scenario, the real device/ runtime on modelled hardware, in-simulator relay:');
  const rows: Array<{ devices: number; wallS: number; peakRssMb: number; report: SimReport }> = [];
  for (const devices of [1000, 10000]) {
    const r = await timed(devices);
    rows.push({ devices, ...r });
    console.log(`${String(devices).padStart(6)} devices: ${r.wallS.toFixed(1)} s wall, peak RSS ${r.peakRssMb.toFixed(0)} MB, ${r.report.events} events, ${r.report.authorizations.succeeded}/${r.report.authorizations.attempted} authorized, theft accepted ${r.report.theft.accepted}`);
  }
  const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
  console.log(`growth 1k -> 10k: time x${(b.wallS / a.wallS).toFixed(1)}, peak memory x${(b.peakRssMb / a.peakRssMb).toFixed(1)} (10x devices)`);
  console.log('simulated energy per authorization on class-1 parts (token + session setup + first request, device side):');
  for (const e of b.report.energyPerAuthorization) {
    if (HARDWARE_PROFILES[e.profile]?.rfc7228Class !== 1) continue;
    if (!/^(Sign1 Ed25519|Mac0) \+ session$/.test(e.tokenType)) continue;
    console.log(`  ${e.profile.padEnd(8)} ${e.tokenType.padEnd(24)} ${e.meanMilliJoule.toFixed(3)} mJ (n=${e.count})`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchSim();
