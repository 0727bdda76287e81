/**
 * Adversarial review 36b, one device process per data directory (device/adapters/data-dir-lock.ts).
 * A lock left by a process that is gone (a crash, a power cut) is taken over: read its pid, see
 * that it no longer runs, remove the file, create it anew. Two device processes started together
 * on such a directory (systemd restarting the unit while an operator starts it by hand, two
 * containers on one volume) both read the dead pid; the first removes the stale file and creates
 * its own, and the second then removes that fresh lock and creates its own: both "hold" the
 * directory, which is what the lock is there to prevent (each keeps replay windows, the token
 * store and the trust set in memory and overwrites the other's files).
 * Real processes (node with tsx, the real module) racing on a real directory.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = mkdtempSync(join(tmpdir(), 'review36b-lock-'));
const script = join(root, 'start.ts');
writeFileSync(
  script,
  `import { lockDataDir } from ${JSON.stringify(pathToFileURL(resolve('device/adapters/data-dir-lock.ts')).href)};
const dir = process.argv[2]!;
const at = Number(process.argv[3]);
while (Date.now() < at) { /* all processes start together */ }
let taken = false;
try { lockDataDir(dir); taken = true; } catch { taken = false; }
process.stdout.write(taken ? 'held\\n' : 'refused\\n');
setTimeout(() => process.exit(0), 400);
`,
);

function start(dir: string, at: number): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, dir, String(at)], { cwd: resolve('.'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', rej);
    p.on('close', () => (out.trim() ? res(out.trim()) : rej(new Error(err))));
  });
}

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('review 36b: taking over a stale data directory lock', () => {
  it('of three processes started together on a directory with a dead process\'s lock, at most one holds it', async () => {
    const doubles: string[][] = [];
    for (let round = 0; round < 12; round++) {
      const dir = mkdtempSync(join(root, 'data-'));
      writeFileSync(join(dir, '.lock'), '999999999\n'); // a pid no process has
      const at = Date.now() + 1200;
      const outcomes = await Promise.all([0, 1, 2].map(() => start(dir, at)));
      expect(outcomes.filter((o) => o === 'held').length).toBeGreaterThanOrEqual(1);
      if (outcomes.filter((o) => o === 'held').length > 1) doubles.push(outcomes);
    }
    expect(doubles).toEqual([]);
  }, 60_000);
});
