/**
 * `keybound demo` (what `npm start` runs): starts the authorization service (SQLite in a temp data
 * dir) on 127.0.0.1, provisions a small simulated fleet from it, and runs both flows (connected,
 * through the real gateway/ in front of the EKG's HTTP API: DPoP proofs, phantom tokens introspected
 * once and cached; disconnected, tokens relayed to sleeping devices), a theft
 * attempt, a revocation, a reboot storm and clock-less expiry; prints what happened and where the
 * report is. Messages to devices go through the real broker/ (aedes on 127.0.0.1): each device
 * connects with a fresh PoP CONNECT when it wakes, and what waited for it is delivered from its
 * persistent session; a thief also tries the broker with what it overheard.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNumber as n, renderDemoReportHtml, runFleet, startAuthzIssuer, SIM_LIFETIME_S } from '../firmware-sim/index.js';
import { summarize } from './sim.js';
import { EXIT, type CliIo } from './io.js';
import { commandSynopsis, parseCommandLine } from './command-line.js';
import { helpOrVersion, reportFailure } from './command-runner.js';

/**
 * Marks a directory the demo made its own. The demo registers clients and devices and signs with
 * the keys it finds, so a directory without it (a running service's --data-dir, say) is refused:
 * the demo would write its fleet into that service's store.
 */
const DEMO_MARKER = '.keybound-demo';

/** Six devices per scenario: every flow runs, and the demo stays well under a minute. */
const DEFAULT_DEMO_DEVICES = 24;

export const DEMO_SPEC = {
  name: 'demo',
  summary: 'Run the whole story in one process: service, broker, a simulated fleet, a thief; print what happened.',
  options: {
    devices: { type: 'string', value: 'N', default: String(DEFAULT_DEMO_DEVICES), help: 'simulated devices (1 to 200)' },
    seed: { type: 'string', value: 'S', default: 'demo', help: 'the same seed gives the same story' },
    out: { type: 'string', value: 'DIR', default: 'a new temporary directory', help: 'where the service data and the report go' },
  },
} as const;

export const DEMO_USAGE = commandSynopsis(DEMO_SPEC);

export async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const early = helpOrVersion(DEMO_SPEC, args, io);
  if (early !== undefined) return early;
  let parsed;
  try {
    parsed = parseCommandLine(DEMO_SPEC, args, {});
  } catch (e) {
    return reportFailure('demo', e, io);
  }
  const values = parsed.kind === 'run' ? parsed.values : {};
  const devices = values.devices !== undefined ? Number(values.devices) : DEFAULT_DEMO_DEVICES;
  const seed = values.seed ?? 'demo';
  const out = values.out;
  if (!Number.isSafeInteger(devices) || devices < 1 || devices > 200 || !seed) {
    io.stderr.write('keybound demo: --devices from 1 to 200, --seed non-empty (see keybound demo --help)\n');
    return EXIT.usage;
  }
  if (out !== undefined) {
    // --out names where the data go: made if missing (owner only: it holds the service's keys).
    let entries: string[];
    try {
      mkdirSync(out, { recursive: true, mode: 0o700 });
      entries = readdirSync(out);
    } catch (e) {
      io.stderr.write(`keybound demo: cannot use --out ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return EXIT.failed;
    }
    if (entries.length > 0 && !entries.includes(DEMO_MARKER)) {
      const service = entries.includes('authz.sqlite') || entries.includes('keys') ? ' (it holds a service\'s data: authz.sqlite or keys/)' : '';
      io.stderr.write(`keybound demo: --out ${out} is not empty and not an earlier demo's${service}: the demo registers a fleet there and signs with its keys; give a new or empty directory\n`);
      return EXIT.usage;
    }
  }
  const dir = out ?? mkdtempSync(join(tmpdir(), 'keybound-demo-'));
  // Created exclusively, never written through: a marker already there is left as it is, and a
  // symlink by that name (someone else's, in a shared --out) is refused rather than followed to
  // overwrite whatever it points at (review 37).
  const marker = join(dir, DEMO_MARKER);
  const markerStat = lstatSync(marker, { throwIfNoEntry: false });
  if (markerStat && !markerStat.isFile()) {
    io.stderr.write(`keybound demo: --out ${out}: ${DEMO_MARKER} is not a regular file (a link?), so not an earlier demo's; give a new or empty directory\n`);
    return EXIT.usage;
  }
  if (!markerStat) writeFileSync(marker, 'written by keybound demo: its data may be replaced by the next demo run\n', { mode: 0o600, flag: 'wx' });
  // Interrupted, a demo of our own making leaves no signing keys behind in the temporary
  // directory (walkthrough, stop 36); an --out directory is the user's and stays.
  const interrupted = () => {
    if (out === undefined) rmSync(dir, { recursive: true, force: true });
    io.stderr.write(`keybound demo: interrupted${out === undefined ? `; removed ${dir}` : ''}\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const started = performance.now();
  let asUrl = '';
  let gatewayUrl = '';
  io.stdout.write(`keybound demo: authorization service with SQLite in ${dir}\n`);
  const report = await runFleet({
    scenario: 'mixed',
    devices,
    seed,
    relay: 'broker',
    issuer: async (_prng, clock) => {
      const issuer = await startAuthzIssuer({ dataDir: dir, clock, lifetime: SIM_LIFETIME_S });
      asUrl = issuer.url;
      gatewayUrl = issuer.connectedGateway?.url ?? '';
      return issuer;
    },
  }).finally(() => {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  });
  const html = join(dir, 'report.html');
  writeFileSync(html, renderDemoReportHtml(report));
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  const secs = n((performance.now() - started) / 1000, 's');
  io.stdout.write(
    [
      `authorization service: ${asUrl} (stopped now); relay: ${report.relay}`,
      `connected flow: ${n(report.connected.gatewayRequests)} DPoP requests through keybound gateway at ${gatewayUrl} (stopped now), ${n(report.connected.introspections)} introspections, ${n(report.connected.cacheHits)} answered from its cache`,
      `disconnected flow: tokens relayed to sleeping devices (they wake every 5 min), verified offline with the provisioned key`,
      summarize(report).trimEnd(),
      `report: ${html} (and report.json); ${secs}`,
      '',
    ].join('\n'),
  );
  return report.theft.accepted === 0 && report.authorizations.succeeded > 0 ? EXIT.ok : EXIT.failed;
}
