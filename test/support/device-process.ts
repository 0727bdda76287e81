/**
 * `keybound device serve` as deployed: bin/keybound.js in its own process. Its stdout is JSON
 * lines (one event each); `waitFor` resolves on the first event, from the start, that matches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeProvisioningBundle, type ProvisioningBundle } from '../../cose/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type DeviceEvent = Record<string, unknown> & { event: string };

export interface DeviceProcess {
  proc: ChildProcess;
  readonly events: DeviceEvent[];
  /** Everything written to stderr (usage errors, crashes). */
  readonly stderr: string;
  /** The first event (from index `from`) for which `pick` holds. */
  waitFor(pick: (e: DeviceEvent) => boolean, opts?: { from?: number; ms?: number }): Promise<DeviceEvent>;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

export function serveDevice(args: string[]): DeviceProcess {
  const proc = spawn(process.execPath, [join(root, 'bin/keybound.js'), 'device', 'serve', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: DeviceEvent[] = [];
  let stderr = '';
  let partial = '';
  const listeners = new Set<() => void>();
  proc.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as DeviceEvent);
    for (const l of listeners) l();
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    proc,
    events,
    get stderr() {
      return stderr;
    },
    exited,
    waitFor(pick, { from = 0, ms = 30_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.slice(from).find(pick);
          if (!hit) return false;
          done();
          resolve(hit);
          return true;
        };
        const t = setTimeout(() => (done(), reject(new Error(`no such device event in ${ms} ms; last: ${JSON.stringify(events.slice(-5))} ${stderr.slice(-400)}`))), ms);
        const onExit = () => (done(), reject(new Error(`device exited: ${JSON.stringify(events.slice(-5))} ${stderr.slice(-400)}`)));
        const done = () => {
          clearTimeout(t);
          listeners.delete(listener);
          proc.off('exit', onExit);
        };
        const listener = () => void check();
        if (check()) return;
        listeners.add(listener);
        proc.once('exit', onExit);
      });
    },
  };
}

/**
 * `keybound device serve --coap-port 0 --coap-only` on a provisioning bundle written (0600) into
 * `dir`, its data under `dir/data`: the process and the UDP port it listens on.
 */
export async function serveCoapOnly(bundle: ProvisioningBundle, dir: string): Promise<{ device: DeviceProcess; port: number }> {
  const bundleFile = join(dir, 'bundle.cbor');
  writeFileSync(bundleFile, encodeProvisioningBundle(bundle), { mode: 0o600 });
  const device = serveDevice(['--bundle', bundleFile, '--data-dir', join(dir, 'data'), '--coap-port', '0', '--coap-only', '--log-level', 'info']);
  const port = Number((await device.waitFor((e) => e.event === 'coap_listening')).port);
  return { device, port };
}
