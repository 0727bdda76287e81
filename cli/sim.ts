/**
 * `keybound sim --scenario <name> --devices N --seed S [--report out.html] [--json out.json]
 * [--loss p] [--relay sim|broker] [--engine node|quickjs] [--progress] [--workers n] [--wake-interval s] [--listen-window s] [--temperature range]`: runs a simulated fleet and writes its report. A thin shell over
 * firmware-sim/'s runFleet.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SCENARIOS, LISTEN_WINDOW_S, TEMPERATURE_RANGES, WAKE_INTERVAL_S, MAX_DEVICES, MAX_BROKER_DEVICES, MAX_QUICKJS_DEVICES, MAX_WORKERS, checksSummary, createProgressBar, formatNumber as n, renderReportHtml, runFleet, scenarioChecks, type ScenarioName, type SimReport, type TemperatureRange } from '../firmware-sim/index.js';
import { EXIT, type CliIo } from './io.js';
import { commandSynopsis, parseCommandLine } from './command-line.js';
import { helpOrVersion } from './command-runner.js';
import { outputPathProblem } from './output-path.js';

export const SIM_SPEC = {
  name: 'sim',
  summary: 'Simulate a fleet of constrained devices against the real token code; write its report.',
  options: {
    scenario: { type: 'string', value: SCENARIOS.join('|'), default: 'mixed', help: 'which fleet and events to simulate' },
    devices: { type: 'string', value: 'N', default: '100', help: `fleet size (1 to ${MAX_DEVICES})` },
    seed: { type: 'string', value: 'S', default: '1', help: 'the same seed gives the same report byte for byte' },
    report: { type: 'string', value: 'out.html', help: 'write the HTML report here' },
    json: { type: 'string', value: 'out.json', help: 'write the report as JSON here' },
    loss: { type: 'string', value: 'P', help: 'radio frame loss probability in [0, 1)' },
    relay: { type: 'string', value: 'sim|broker', default: 'sim', help: 'broker: messages go through the real broker on 127.0.0.1 (small fleets)' },
    engine: { type: 'string', value: 'node|quickjs', default: 'node', help: `quickjs: each device's code runs in its own QuickJS engine (up to ${MAX_QUICKJS_DEVICES} devices; dev dependencies)` },
    progress: { type: 'boolean', help: 'show progress even when stderr is not a terminal' },
    workers: { type: 'string', value: 'N', help: `worker threads running the fleet's shards (1 to ${MAX_WORKERS}; default: the cores, 1 with --relay broker or --engine quickjs); the report is the same for any N` },
    'wake-interval': { type: 'string', value: 'S', default: String(WAKE_INTERVAL_S), help: 'seconds between a sleeping device\'s wakes (1 to 3600)' },
    'listen-window': { type: 'string', value: 'S', default: String(LISTEN_WINDOW_S), help: 'seconds a device listens after each wake (below the wake interval)' },
    temperature: { type: 'string', value: TEMPERATURE_RANGES.join('|'), default: 'indoor', help: 'temperatures the fleet lives in (sets clock drift)' },
  },
  examples: ['keybound sim --scenario mixed --devices 1000 --seed 7 --report fleet.html'],
} as const;

export const SIM_USAGE = commandSynopsis(SIM_SPEC);

export interface SimArgs {
  scenario: ScenarioName;
  devices: number;
  seed: string;
  report?: string;
  json?: string;
  loss?: number;
  /** `broker`: messages go through the real broker/ on 127.0.0.1 (small fleets). */
  relay: 'sim' | 'broker';
  /** `quickjs`: each device's code runs in its own QuickJS engine (small fleets; dev dependencies). */
  engine: 'node' | 'quickjs';
  progress: boolean;
  /** Worker threads (default: the cores for the in-simulator relay and Node engine, else 1). */
  workers?: number;
  wakeIntervalS?: number;
  listenWindowS?: number;
  temperature?: TemperatureRange;
}

/** The simulation's arguments, or what is wrong with them. */
export function parseSimArgs(args: string[]): SimArgs | string {
  let parsed;
  try {
    parsed = parseCommandLine(SIM_SPEC, args, {});
  } catch (e) {
    return (e as Error).message;
  }
  if (parsed.kind !== 'run') return `${parsed.kind} is not a simulation`;
  const v = parsed.values;
  const out: SimArgs = { scenario: 'mixed', devices: 100, seed: '1', relay: 'sim', engine: 'node', progress: v.progress === true };
  if (v.scenario !== undefined) {
    if (!SCENARIOS.includes(v.scenario as ScenarioName)) return `--scenario must be one of ${SCENARIOS.join(', ')}`;
    out.scenario = v.scenario as ScenarioName;
  }
  if (v.devices !== undefined) {
    const n = Number(v.devices);
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_DEVICES) return `--devices must be an integer from 1 to ${MAX_DEVICES}`;
    out.devices = n;
  }
  if (v.seed !== undefined) {
    if (!v.seed || v.seed.length > 64) return '--seed needs a value (at most 64 characters)';
    out.seed = v.seed;
  }
  if (v.report !== undefined) out.report = v.report;
  if (v.json !== undefined) out.json = v.json;
  if (v.loss !== undefined) {
    const p = Number(v.loss);
    if (!(p >= 0 && p < 1)) return '--loss must be a probability in [0, 1)';
    out.loss = p;
  }
  if (v.relay !== undefined) {
    if (v.relay !== 'sim' && v.relay !== 'broker') return '--relay must be sim or broker';
    out.relay = v.relay;
  }
  const wake = v['wake-interval'] !== undefined ? Number(v['wake-interval']) : WAKE_INTERVAL_S;
  if (!(wake >= 1 && wake <= 3600)) return '--wake-interval must be 1 to 3600 seconds';
  if (v['wake-interval'] !== undefined) out.wakeIntervalS = wake;
  if (v['listen-window'] !== undefined) {
    const w = Number(v['listen-window']);
    if (!(w >= 0 && w < wake)) return '--listen-window must be from 0 to below the wake interval (seconds)';
    out.listenWindowS = w;
  }
  if (v.temperature !== undefined) {
    if (!TEMPERATURE_RANGES.includes(v.temperature as TemperatureRange)) return `--temperature must be one of ${TEMPERATURE_RANGES.join(', ')}`;
    out.temperature = v.temperature as TemperatureRange;
  }
  if (v.engine !== undefined) {
    if (v.engine !== 'node' && v.engine !== 'quickjs') return '--engine must be node or quickjs';
    out.engine = v.engine;
  }
  if (v.workers !== undefined) {
    const w = Number(v.workers);
    if (!Number.isSafeInteger(w) || w < 1 || w > MAX_WORKERS) return `--workers must be an integer from 1 to ${MAX_WORKERS}`;
    if (w > 1 && (out.engine !== 'node' || out.relay !== 'sim')) return '--workers above 1 runs with --relay sim and --engine node only';
    out.workers = w;
  }
  if (out.engine === 'quickjs' && out.devices > MAX_QUICKJS_DEVICES) return `--engine quickjs takes at most ${MAX_QUICKJS_DEVICES} devices (each runs its own QuickJS engine, ~1 MB of heap)`;
  if (out.engine === 'quickjs' && out.relay === 'broker') return '--engine quickjs runs with --relay sim only';
  if (out.relay === 'broker' && out.devices > MAX_BROKER_DEVICES) return `--relay broker takes at most ${MAX_BROKER_DEVICES} devices (two loopback MQTT connections per awake device)`;
  return out;
}

/** "33 token_store_full (class0-avr 33)" per reason: why the devices that failed did. */
function whyNot(r: SimReport): string {
  const byReason = new Map<string, Map<string, number>>();
  for (const u of r.unauthorized) {
    const m = byReason.get(u.reason) ?? new Map<string, number>();
    m.set(u.profile, (m.get(u.profile) ?? 0) + u.devices);
    byReason.set(u.reason, m);
  }
  const parts = [...byReason].map(([reason, m]) => `${n([...m.values()].reduce((a, b) => a + b, 0))} ${reason} (${[...m].map(([p, k]) => `${p} ${n(k)}`).join(', ')})`);
  return parts.join('; ') || 'none';
}

export function summarize(r: SimReport): string {
  const lines = [
    `scenario ${r.scenario}: ${n(r.devices)} devices, seed ${r.seed}, ${n(r.simulatedHours, 'simulated hours')}`,
    `authorizations: ${n(r.authorizations.succeeded)}/${n(r.authorizations.attempted)}; time to first authorized request p50 ${n(r.timeToFirstAuthorizedRequest.p50S, 's')}`,
    `theft: ${n(r.theft.accepted)} accepted out of ${n(r.theft.tries)} tries`,
    `revocation: ${n(r.revocation.devicesApplied)}/${n(r.revocation.revoked)} sleeping devices applied the list; ${n(r.revocation.acceptedAfter)} requests accepted after`,
    `reboots: ${n(r.reboots.reboots)}, AEAD nonce reuse ${n(r.reboots.nonceReuse)}; clock-less: ${n(r.clockless.acceptedAfterExpiry)} accepted after exi`,
    `not authorized: ${whyNot(r)}`,
    `refusals: ${Object.entries(r.refusals).map(([k, v]) => `${k} ${n(v)}`).join(', ') || 'none'}`,
    `battery life (wake ${n(r.assumptions.wakeIntervalS, 's')}, listen ${n(r.assumptions.listenWindowS, 's')}; days, then with the listen window halved): ${r.batteryLife.map((b) => `${b.profile} ${n(b.lifeDays)} -> ${n(b.lifeDaysHalfListen)}`).join(', ')}`,
    `checks: ${checksSummary(scenarioChecks(r))}`,
  ];
  if (r.engine === 'quickjs') {
    const kb = (x: number) => `${Math.round(x / 1024)} KB`;
    lines.push(`QuickJS heap per device (real) vs RAM model: ${r.profiles.map((p) => `${p.profile} ${kb(p.quickjsPeakHeapBytes ?? 0)} vs ${kb(p.keyboundRamBytes)} (part ${kb(p.partRamBytes)})`).join('; ')}`);
  }
  return lines.join('\n') + '\n';
}

export async function simCommand(args: string[], io: CliIo & { stderr: { isTTY?: boolean } }): Promise<number> {
  const early = helpOrVersion(SIM_SPEC, args, io);
  if (early !== undefined) return early;
  const parsed = parseSimArgs(args);
  if (typeof parsed === 'string') {
    io.stderr.write(`keybound sim: ${parsed} (see keybound sim --help)\n`);
    return EXIT.usage;
  }
  // The output paths are checked before the run, not after it (output-path.ts).
  for (const [option, path] of [['--json', parsed.json], ['--report', parsed.report]] as const) {
    if (path === undefined) continue;
    const problem = outputPathProblem(path);
    if (problem) {
      io.stderr.write(`keybound sim: cannot write ${option} ${path}: ${problem}\n`);
      return EXIT.usage;
    }
  }
  const bar = createProgressBar(io.stderr, { force: parsed.progress, label: parsed.scenario });
  const report = await runFleet({
    scenario: parsed.scenario,
    devices: parsed.devices,
    seed: parsed.seed,
    ...(parsed.loss !== undefined ? { loss: parsed.loss } : {}),
    relay: parsed.relay,
    ...(parsed.wakeIntervalS !== undefined ? { wakeIntervalS: parsed.wakeIntervalS } : {}),
    ...(parsed.listenWindowS !== undefined ? { listenWindowS: parsed.listenWindowS } : {}),
    ...(parsed.temperature !== undefined ? { temperature: parsed.temperature } : {}),
    engine: parsed.engine,
    workers: parsed.workers ?? (parsed.engine === 'node' && parsed.relay === 'sim' ? Math.min(MAX_WORKERS, availableParallelism()) : 1),
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.finish();
  io.stdout.write(summarize(report));
  if (parsed.json) writeFileSync(parsed.json, JSON.stringify(report, null, 2) + '\n');
  if (parsed.report) {
    writeFileSync(parsed.report, renderReportHtml(report));
    io.stdout.write(`report: ${parsed.report}\n`);
  }
  return report.theft.accepted === 0 && report.revocation.acceptedAfter === 0 && report.reboots.nonceReuse === 0 ? EXIT.ok : EXIT.failed;
}
