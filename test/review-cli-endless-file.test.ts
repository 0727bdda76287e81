/**
 * Review (rev2), `keybound inspect --key` / `inspect @file`, and secret files, on a hostile file (issue 15: inspect
 * of /keys, /jwks.json and bundles). The size bound was checked with stat() and the file then read
 * to its end: stat says 0 bytes for a device or a pipe, so `--key /dev/zero` (or a jwks.json that
 * is a FIFO fed without end, or a file that grows after the stat) was read without bound. Attack,
 * on the real process: /dev/zero as the key and as the token file. It must fail at once with a
 * typed error, not read gigabytes.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function keybound(args: string[]): Promise<{ code: number | null; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    // A memory ceiling for the attack's process: an unbounded read dies or times out, never passes.
    execFile(process.execPath, [join(root, 'bin/keybound.js'), ...args], { timeout: 30_000, maxBuffer: 1 << 20 }, (error, _stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stderr, killed: error?.killed ?? false }),
    );
  });
}

describe.skipIf(!existsSync('/dev/zero'))('review: inspect on a file that never ends', () => {
  it('--key /dev/zero is refused at the bound (exit 1, KeyFileError), not read to its end', async () => {
    const r = await keybound(['inspect', '--sample', '--key', '/dev/zero']);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/key file "\/dev\/zero" is not a regular file/);
  }, 60_000);

  it('a token @/dev/zero is refused at the bound', async () => {
    const r = await keybound(['inspect', '@/dev/zero']);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/token file "\/dev\/zero" is not a regular file/);
  }, 60_000);

  it('a secret or password file that is /dev/zero is refused at the bound (token, register-user)', async () => {
    const data = join(mkdtempSync(join(tmpdir(), 'kb-review-endless-')), 'as-data');
    const user = await keybound(['authz', 'register-user', 'alice', '--password-file', '/dev/zero', '--data-dir', data, '--init']);
    expect(user.killed).toBe(false);
    expect(user.code).toBe(2); // a usage error: the option names something that is not a file
    expect(user.stderr).toMatch(/--password-file "\/dev\/zero" is not a regular file/);
    const token = await keybound(['token', '--as-url', 'http://127.0.0.1:9', '--client-id', 'app', '--secret-file', '/dev/zero', '--audience', 'tube-1', '--pop-key', join(dirname(data), 'pop.json')]);
    expect(token.killed).toBe(false);
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/--secret-file "\/dev\/zero" is not a regular file/);
  }, 60_000);
});
