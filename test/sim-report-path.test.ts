/**
 * README walkthrough: `keybound sim --report <a directory>` ran the whole simulation and then
 * failed with EISDIR. The output paths are checked before the run: a directory (or a name ending
 * in "/"), or a file in a directory that does not exist, is a usage error in one line, exit 2,
 * and nothing runs (no summary on stdout).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kb-sim-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sim(extra: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin/keybound.js'), 'sim', '--scenario', 'mixed', '--devices', '4', '--seed', '1', ...extra], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (e.signal ?? e.code ?? 'error') : 0, stdout, stderr });
    });
  });
}

describe('keybound sim: an output path that cannot be written is refused before the run', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['--report', 'a directory', dir, /: EISDIR \(a directory: name a file in it\)/],
    ['--json', 'a directory', dir, /: EISDIR \(a directory: name a file in it\)/],
    ['--report', 'a name ending in /', join(dir, 'new-dir') + '/', /: EISDIR \(a directory: name a file in it\)/],
    ['--report', 'a file in a missing directory', join(dir, 'missing', 'out.html'), /: ENOENT \(its directory must exist\)/],
  ];
  it.each(cases)('%s %s: exit 2, one line', async (option, _what, path, reason) => {
    const out = await sim([option, path]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(new RegExp(`^keybound sim: cannot write ${option} ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
    expect(out.stderr).toMatch(reason);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stdout).toBe(''); // no summary: nothing ran
    expect(readdirSync(dir)).toEqual([]);
  }, 90_000);
});
