/**
 * The README's "Deployment" section is exactly what runs (issue 10): its `sh` blocks, in order, as
 * one bash script in an empty directory, with `keybound` this checkout's CLI and the ports from the
 * environment variables the README documents. Every process it starts (`&`) is in the script's own
 * process group, which the test ends. Then the test checks what the section promises.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The `sh` blocks of the "## Deployment" section, in order. */
function deploymentBlocks(text: string): string[] {
  const start = text.indexOf('\n## Deployment\n');
  if (start < 0) return [];
  const rest = text.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

let script: ChildProcess | undefined;

afterAll(() => {
  // The script's process group: the service, broker and device it started in the background.
  if (script?.pid) {
    try {
      process.kill(-script.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe("README 'Deployment'", () => {
  it('has the commands', () => {
    const blocks = deploymentBlocks(readme);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks.join('\n')).toMatch(/authz revoke[\s\S]*authz rotate-key/);
  });

  it('runs as written: the service, a broker and a device as processes; revoke and rotate-key while they run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-readme-deploy-'));
    const file = join(dir, 'deployment.sh');
    writeFileSync(
      file,
      [
        'set -euo pipefail',
        `keybound() { node ${JSON.stringify(join(root, 'bin/keybound.js'))} "$@"; }`,
        ...deploymentBlocks(readme),
        // Let the device take one more wake with what the operator did, then end the script.
        'sleep 12',
        'echo DEPLOYMENT-DONE',
      ].join('\n'),
    );
    const env = { ...process.env, KB_AUTHZ_PORT: String(await freePort()), KB_MQTT_PORT: String(await freePort()) };
    script = spawn('bash', [file], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    script.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    script.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => script!.once('exit', resolve));
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toContain('DEPLOYMENT-DONE');
    expect(out).toMatch(/keybound broker for broker-1 listening/);
    expect(out).toMatch(/"event":"connected","device":"tube-1"/);
    expect(out).toMatch(/revoked \d+ tokens?; revocation lists changed: broker-1/);
    expect(out).toMatch(/new signing key [0-9a-f]+/);
    // The device took the trust update signed by the key it was provisioned with.
    expect(out).toMatch(/"event":"trust_updated","device":"tube-1","seq":2,"anchors":2/);
  }, 240_000);
});
