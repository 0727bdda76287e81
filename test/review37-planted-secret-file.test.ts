/**
 * Review 37 (LOW): a secret the service will accept, read from a file another user could have made
 * first. In a shared directory (/tmp) anyone may create `admin.token` with a strong token they know
 * before the operator's `authz serve --admin-token-file /tmp/admin.token`, which then took it (and
 * only warned that others could read it): that user administers the service. The same for a
 * client's secret at `register-client --secret-file`. Refused now, exit 2, the secret never printed.
 */
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-review37-planted-'));
const TOKEN = 'Pl4ntedT0kenXq7vR2mK9pL4sT8wZ1nB6cF3hJ5';

async function run(args: string[], ms = 60_000): Promise<{ code: number | null; stderr: string; stdout: string; listened: boolean }> {
  const r = await runCli(args, { ms });
  return { code: r.code, stderr: r.stderr, stdout: r.stdout, listened: r.served };
}

const serve = (name: string, ...more: string[]) => ['authz', 'serve', '--data-dir', join(dir, name), '--init', '--port', '0', ...more];
const planted = (name: string, mode: number) => {
  const file = join(dir, name);
  writeFileSync(file, `${TOKEN}\n`, { mode });
  chmodSync(file, mode);
  return file;
};

describe('a secret file someone else could have planted is refused', () => {
  it('--admin-token-file writable by other users: exit 2, the token never printed', async () => {
    const r = await run(serve('d1', '--admin-token-file', planted('open.token', 0o666)));
    expect(r.listened).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--admin-token-file .*writable by other users/);
    expect(r.stderr).not.toContain(TOKEN);
  }, 90_000);

  it.runIf(process.getuid?.() === 0)('--admin-token-file and --metrics-token-file owned by another user: exit 2', async () => {
    for (const option of ['--admin-token-file', '--metrics-token-file']) {
      const file = planted(`other${option}`, 0o600);
      chownSync(file, 12345, 12345);
      const r = await run(serve(`d2${option}`, option, file));
      expect(r.listened, option).toBe(false);
      expect(r.code, option).toBe(2);
      expect(r.stderr).toMatch(/owned by another user \(uid 12345\)/);
      expect(r.stderr).not.toContain(TOKEN);
    }
  }, 90_000);

  it('register-client --secret-file writable by other users: exit 2, nothing registered', async () => {
    const data = join(dir, 'd3');
    const file = planted('client.secret', 0o646);
    expect((await run(['authz', 'register-device', 'dev', '--data-dir', data, '--init', '--scope', 'read'])).code).toBe(0);
    const r = await run(['authz', 'register-client', 'app', '--data-dir', data, '--audience', 'dev', '--scope', 'read', '--secret-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--secret-file .*writable by other users/);
    expect(r.stderr).not.toContain(TOKEN);
    const list = await run(['authz', 'list', '--data-dir', data]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('dev');
    expect(list.stdout).not.toMatch(/\bapp\b/);
  }, 90_000);

  it('a token file of ours (0600) still serves', async () => {
    const r = await run(serve('d4', '--admin-token-file', planted('mine.token', 0o600)));
    expect(r.listened).toBe(true);
  }, 90_000);
});
