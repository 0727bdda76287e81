/**
 * Review 37: `authz serve` with one file for --admin-token-file and --metrics-token-file. The
 * metrics token goes to a monitoring system (a Prometheus scrape config, often readable by
 * more people than the service's operators); the admin token registers clients and rotates the
 * signing key. One file for both (or two files holding the same token) made every scraper an
 * administrator, and a missing file was even created once and then read back for the other.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-review37-tokens-'));

async function run(args: string[], ms = 60_000): Promise<{ code: number | null; stderr: string; listened: boolean }> {
  const r = await runCli(args, { ms, servedWhen: /./ });
  return { code: r.code, stderr: r.stderr, listened: r.served };
}

const serve = (name: string, ...more: string[]) => ['authz', 'serve', '--data-dir', join(dir, name), '--init', '--port', '0', ...more];

describe('admin and metrics tokens must differ', () => {
  it('one missing file for both: refused, exit 2 (it was created, then read back as the admin token)', async () => {
    const file = join(dir, 'both.token');
    const r = await run(serve('d1', '--metrics-token-file', file, '--admin-token-file', file));
    expect(r.listened).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--admin-token-file.*--metrics-token-file|--metrics-token-file.*--admin-token-file/);
  }, 90_000);

  it('two files holding the same strong token: refused, exit 2, never printing it', async () => {
    const token = 'Xq7vR2mK9pL4sT8wZ1nB6cF3hJ5dG0yAeU';
    writeFileSync(join(dir, 'a.token'), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'm.token'), `${token}\n`, { mode: 0o600 });
    const r = await run(serve('d2', '--metrics-token-file', join(dir, 'm.token'), '--admin-token-file', join(dir, 'a.token')));
    expect(r.listened).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain(token);
  }, 90_000);
});
