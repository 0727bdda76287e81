/**
 * `keybound sim --scenario <name> --devices N --seed S [--report out.html] [--json out.json]
 * [--loss p] [--relay sim|broker] [--progress]`: runs a simulated fleet and writes its report. A thin shell over
 * firmware-sim/'s runFleet.
 */
import { writeFileSync } from 'node:fs';
import { SCENARIOS, MAX_DEVICES, MAX_BROKER_DEVICES, MAX_QUICKJS_DEVICES, createProgressBar, renderReportHtml, runFleet, type ScenarioName, type SimReport } from '../firmware-sim/index.js';
import { EXIT, type CliIo } from './io.js';

export const SIM_USAGE = `keybound sim [--scenario ${SCENARIOS.join('|')}] [--devices N] [--seed S] [--report out.html] [--json out.json] [--loss p] [--relay sim|broker] [--engine node|quickjs] [--progress]`;

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
}

export function parseSimArgs(args: string[]): SimArgs | string {
  const out: SimArgs = { scenario: 'mixed', devices: 100, seed: '1', relay: 'sim', engine: 'node', progress: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => args[++i];
    switch (a) {
      case '--scenario': {
        const v = value();
        if (!SCENARIOS.includes(v as ScenarioName)) return `--scenario must be one of ${SCENARIOS.join(', ')}`;
        out.scenario = v as ScenarioName;
        break;
      }
      case '--devices': {
        const n = Number(value());
        if (!Number.isSafeInteger(n) || n < 1 || n > MAX_DEVICES) return `--devices must be an integer from 1 to ${MAX_DEVICES}`;
        out.devices = n;
        break;
      }
      case '--seed': {
        const v = value();
        if (!v || v.length > 64) return '--seed needs a value (at most 64 characters)';
        out.seed = v;
        break;
      }
      case '--report':
      case '--json': {
        const v = value();
        if (!v) return `${a} needs a file name`;
        out[a === '--report' ? 'report' : 'json'] = v;
        break;
      }
      case '--loss': {
        const p = Number(value());
        if (!(p >= 0 && p < 1)) return '--loss must be a probability in [0, 1)';
        out.loss = p;
        break;
      }
      case '--relay': {
        const v = value();
        if (v !== 'sim' && v !== 'broker') return '--relay must be sim or broker';
        out.relay = v;
        break;
      }
      case '--engine': {
        const v = value();
        if (v !== 'node' && v !== 'quickjs') return '--engine must be node or quickjs';
        out.engine = v;
        break;
      }
      case '--progress':
        out.progress = true;
        break;
      default:
        return `unknown option ${JSON.stringify(a.slice(0, 40))}`;
    }
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
  const parts = [...byReason].map(([reason, m]) => `${[...m.values()].reduce((a, b) => a + b, 0)} ${reason} (${[...m].map(([p, n]) => `${p} ${n}`).join(', ')})`);
  return parts.join('; ') || 'none';
}

export function summarize(r: SimReport): string {
  const lines = [
    `scenario ${r.scenario}: ${r.devices} devices, seed ${r.seed}, ${r.simulatedHours} simulated hours`,
    `authorizations: ${r.authorizations.succeeded}/${r.authorizations.attempted}; time to first authorized request p50 ${r.timeToFirstAuthorizedRequest.p50S} s`,
    `theft: ${r.theft.accepted} accepted out of ${r.theft.tries} tries`,
    `revocation: ${r.revocation.devicesApplied}/${r.revocation.revoked} sleeping devices applied the list; ${r.revocation.acceptedAfter} requests accepted after`,
    `reboots: ${r.reboots.reboots}, AEAD nonce reuse ${r.reboots.nonceReuse}; clock-less: ${r.clockless.acceptedAfterExpiry} accepted after exi`,
    `not authorized: ${whyNot(r)}`,
    `refusals: ${Object.entries(r.refusals).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
  ];
  if (r.engine === 'quickjs') {
    const kb = (n: number) => `${Math.round(n / 1024)} KB`;
    lines.push(`QuickJS heap per device (real) vs RAM model: ${r.profiles.map((p) => `${p.profile} ${kb(p.quickjsPeakHeapBytes ?? 0)} vs ${kb(p.keyboundRamBytes)} (part ${kb(p.partRamBytes)})`).join('; ')}`);
  }
  return lines.join('\n') + '\n';
}

export async function simCommand(args: string[], io: CliIo & { stderr: { isTTY?: boolean } }): Promise<number> {
  const parsed = parseSimArgs(args);
  if (typeof parsed === 'string') {
    io.stderr.write(`keybound sim: ${parsed}\nusage: ${SIM_USAGE}\n`);
    return EXIT.usage;
  }
  const bar = createProgressBar(io.stderr, { force: parsed.progress, label: parsed.scenario });
  const report = await runFleet({
    scenario: parsed.scenario,
    devices: parsed.devices,
    seed: parsed.seed,
    ...(parsed.loss !== undefined ? { loss: parsed.loss } : {}),
    relay: parsed.relay,
    engine: parsed.engine,
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
