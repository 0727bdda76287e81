/**
 * The README's "CoAP transport" section, first `sh` block, as a new user runs it: in an empty
 * directory beside a service with the `coap_oscore` device tube-7 (README "The ACE-OSCORE
 * profile"), with `keybound` this checkout's CLI and only the ports made ephemeral. It once named
 * a device of another profile and a `token.cbor` nothing in the README made.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function firstBlockOf(heading: string): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  const rest = readme.slice(start + 1);
  const section = rest.slice(0, rest.indexOf('\n## ', 1));
  return /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
}

let script: ChildProcess | undefined;
afterAll(() => {
  if (script?.pid) {
    try {
      process.kill(-script.pid, 'SIGKILL'); // the service and the device it started
    } catch {
      // already gone
    }
  }
});

describe("README 'CoAP transport'", () => {
  it('runs as written: token.cbor from the service (0600), /result read under OSCORE, the POST outside the scope refused', async () => {
    const block = firstBlockOf('CoAP transport');
    expect(block).toMatch(/--token-response token\.cbor/);
    const dir = mkdtempSync(join(tmpdir(), 'kb-readme-coap-'));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules')); // the block's cbor-x
    writeFileSync(join(dir, 'reading.cbor'), Uint8Array.of(0xa1, 0x01, 0x18, 0x2a));
    const [asPort, coapPort] = [await freePort(), await freePort()];
    const asWritten = block
      .replaceAll('npx keybound', 'keybound')
      .replaceAll('127.0.0.1:8080', `127.0.0.1:${asPort}`)
      .replaceAll('5683', String(coapPort))
      // The device runs in the background, as in a second terminal; on until CoAP listens.
      .replace(/(keybound device serve [^\n]*)\n/, `$1 > device.log &\nuntil grep -q coap_listening device.log; do sleep 0.2; done\n`);
    const file = join(dir, 'coap.sh');
    writeFileSync(
      file,
      [
        'set -uo pipefail',
        `keybound() { node ${JSON.stringify(join(root, 'bin/keybound.js'))} "$@"; }`,
        `keybound authz register-device tube-7 --data-dir ./as-data --init --profile coap_oscore --scope '[["/result",1]]'`,
        `keybound authz serve --data-dir ./as-data --port ${asPort} > as.out 2> as.log &`,
        'until grep -q listening as.out; do sleep 0.2; done',
        asWritten,
        'echo "LAST-EXIT $?"',
      ].join('\n'),
    );
    script = spawn('bash', [file], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    script.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    script.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((resolve) => script!.once('exit', resolve));
    expect(out).toMatch(/tube-7: result negative/);
    expect(out).toMatch(/^2\.05$/m);
    expect(out).not.toMatch(/warning|refused|does not exist|unknown/);
    // The token answer holds the Master Secret: written owner-only.
    expect(statSync(join(dir, 'token.cbor')).mode & 0o077).toBe(0);
    // ["/result",1] is GET only: the POST gets the device's protected 4.03, as the README says.
    expect(out).toMatch(/^4\.03$/m);
    expect(out).toMatch(/LAST-EXIT 1/);
  }, 90_000);
});
