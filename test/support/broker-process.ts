/**
 * `keybound broker serve` as deployed: bin/keybound.js in its own process, with the service's
 * public keys (the fixture issuer's) in a trust file. Stop it with processes.ts `stop`, or kill it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coseKeyToMap, encodeCbor, type CoseKey } from '../../cose/index.js';
import { AUDIENCE } from './broker-fixture.js';
import { waitForLine } from './processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface BrokerProcess {
  proc: ChildProcess;
  url: string;
  port: number;
  /** With --ws-port. */
  wsUrl: string | undefined;
  wsPort: number | undefined;
  /** With --metrics-port: the ops listener's base URL (/healthz, /readyz, /metrics). */
  metricsUrl: string | undefined;
  /** Everything the broker logged so far (JSON lines: admissions, refusals, drops, disconnects). */
  readonly stderr: string;
}


/** A trust file holding `keys` (the service's /keys shape), in a fresh temporary directory. */
export function trustFile(keys: readonly CoseKey[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kb-broker-trust-')), 'keys.cbor');
  writeFileSync(file, encodeCbor(keys.map(coseKeyToMap)));
  return file;
}

/** Starts `keybound broker serve --audience AUDIENCE --trust FILE --port 0 ...extra`; resolves once it listens. */
export async function serveBroker(trust: string, extra: string[] = [], opts: { cwd?: string } = {}): Promise<BrokerProcess> {
  const proc = spawn(process.execPath, [join(root, 'bin/keybound.js'), 'broker', 'serve', '--audience', AUDIENCE, '--trust', trust, '--port', '0', ...extra], {
    cwd: opts.cwd ?? root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [line, url, port, , wsUrl, wsPort] = await waitForLine(proc, /listening on (mqtt:\/\/127\.0\.0\.1:(\d+))( and (ws:\/\/127\.0\.0\.1:(\d+)))?.*\n/);
  const metricsUrl = /metrics on (http:\/\/[^ ]+)\/metrics/.exec(line ?? '')?.[1];
  return {
    proc,
    url: url!,
    port: Number(port),
    wsUrl,
    wsPort: wsPort === undefined ? undefined : Number(wsPort),
    metricsUrl,
    get stderr() {
      return stderr;
    },
  };
}
