/**
 * Review (issue 15, the CLI's --config and secret-file options), attacked as deployed: the real
 * `bin/keybound.js` process is pointed at files that are not what an option expects. A config
 * file or a secret file named by a (possibly shared, possibly attacker-edited) config or
 * environment must never hang the service (a FIFO nobody writes), never read without end
 * (/dev/zero has size 0 to stat, and never ends), never bloat memory (a huge file), and never
 * start a service whose token silently came out empty (the admin API off, /metrics falling back
 * to loopback without the operator knowing). Each is refused at start, exit 2, one line naming
 * the option's file, within the test's generous timeout (a hang fails it).
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jsonLines, runCli, stop, waitForLine } from './support/processes.js';

const BIN = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kb-review-cli-files-'));
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);

/** Runs the CLI to its exit: a service that got as far as listening, or a hang, is `hung` (the test then fails). */
async function run(args: string[], env: Record<string, string> = {}, ms = 60_000): Promise<{ code: number | null; stderr: string; hung: boolean }> {
  const r = await runCli(args, { env, ms, servedWhen: /./ });
  return { code: r.code, stderr: r.stderr, hung: r.served || r.timedOut };
}

const serve = (...more: string[]) => ['authz', 'serve', '--data-dir', join(dir, 'data'), '--init', '--port', '0', ...more];

describe('--config FILE that is not a regular file of bounded size', () => {
  it.each([
    ['/dev/zero (stat size 0, endless)', '/dev/zero'],
    ['a FIFO nobody writes (open blocks)', fifo],
    ['a directory', dir],
  ])('%s: refused at once, exit 2', async (_what, file) => {
    const r = await run(serve('--config', file));
    expect(r.hung).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config file .* (is not a regular file|cannot be read)/);
  }, 90_000);

  it('a config option pointed at a secret file that is not JSON: the refusal never quotes the file', async () => {
    const key = join(dir, 'id_key');
    writeFileSync(key, 'SUPERSECRETKEYMATERIAL-do-not-print\n');
    const r = await run(serve('--config', key));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config file .* is not JSON/);
    expect(r.stderr).not.toMatch(/SUPERSECRET|do-not-print/);
  }, 90_000);

  it('a symlink to a regular config file is read as that file (operators link configs)', async () => {
    const real = join(dir, 'real.json');
    writeFileSync(real, JSON.stringify({ port: 'not-a-port' }));
    const link = join(dir, 'link.json');
    symlinkSync(real, link);
    const r = await run(serve('--config', link).filter((a) => a !== '--port' && a !== '0'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad --port "not-a-port"/);
  }, 90_000);
});

describe('secret files (--metrics-token-file, --admin-token-file) that are not a regular file of bounded size', () => {
  it.each([
    ['/dev/zero', '/dev/zero'],
    ['a FIFO', fifo],
  ])('--metrics-token-file %s: refused at once, exit 2', async (_what, file) => {
    const r = await run(serve('--metrics-token-file', file));
    expect(r.hung).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/metrics-token-file .* is not a regular file/);
  }, 90_000);

  it('the same file named by the environment variable (KEYBOUND_ADMIN_TOKEN_FILE=/dev/zero): refused', async () => {
    const r = await run(serve(), { KEYBOUND_ADMIN_TOKEN_FILE: '/dev/zero' });
    expect(r.hung).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/admin-token-file .* is not a regular file/);
  }, 90_000);

  it('a 64 MiB token file: refused by its size, not read into memory', async () => {
    const big = join(dir, 'big-token');
    writeFileSync(big, Buffer.alloc(64 * 1024 * 1024, 0x61));
    const r = await run(serve('--admin-token-file', big));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/admin-token-file .* is larger than \d+ bytes/);
  }, 90_000);

  it('an empty (or whitespace-only) token file: refused, not a service with its admin API silently off', async () => {
    const empty = join(dir, 'empty-token');
    writeFileSync(empty, ' \n');
    const r = await run(serve('--admin-token-file', empty));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/admin-token-file .* is empty/);
    const m = await run(serve('--metrics-token-file', empty));
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/metrics-token-file .* is empty/);
  }, 90_000);

  it('the refusal never prints the file content', async () => {
    const secretish = join(dir, 'huge-secret');
    writeFileSync(secretish, `s3cr3t-${'x'.repeat(70_000)}`);
    const r = await run(serve('--metrics-token-file', secretish));
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('s3cr3t');
  }, 90_000);
});

describe('the broker\'s files (--trust, --client-secret-file)', () => {
  it.each([
    ['--trust /dev/zero', ['--trust', '/dev/zero'], /--trust .* is not a regular file/],
    ['--trust FIFO', ['--trust', fifo], /--trust .* is not a regular file/],
  ])('%s: refused at once, exit 2', async (_what, args, expected) => {
    const r = await run(['broker', 'serve', '--audience', 'broker-1', '--port', '0', ...args]);
    expect(r.hung).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(expected);
  }, 90_000);
});

describe('a secret file other users can read', () => {
  /** Starts the service, waits for it to listen, stops it; its log lines. */
  async function startLines(tokenFile: string): Promise<Array<Record<string, unknown>>> {
    const child = spawn(process.execPath, [BIN, ...serve('--admin-token-file', tokenFile)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise((r) => child.once('close', r));
    await waitForLine(child, /listening on/, 60_000);
    // The warning follows the listening line; under load its pipe may lag the stdout one.
    for (let i = 0; i < 40 && !stderr.includes('secret_file_readable'); i++) await new Promise((r) => setTimeout(r, 50));
    await stop(child);
    // 'close': stderr fully read (the warning is written right after the listening line).
    await closed;
    return jsonLines(stderr);
  }

  it('mode 0644: the service starts and warns (secret_file_readable, naming the option, never the token); mode 0600: no warning', async () => {
    const loose = join(dir, 'loose-token');
    writeFileSync(loose, 'loose-admin-token-0123456789\n');
    chmodSync(loose, 0o644);
    const warned = await startLines(loose);
    expect(warned.filter((l) => l.event === 'secret_file_readable').map((l) => [l.option, l.level]), JSON.stringify(warned).slice(0, 1500)).toEqual([['admin-token-file', 40]]);
    expect(JSON.stringify(warned)).not.toContain('loose-admin-token');
    chmodSync(loose, 0o600);
    expect((await startLines(loose)).filter((l) => l.event === 'secret_file_readable')).toEqual([]);
  }, 120_000);
});

describe('admin and metrics tokens (walkthrough, stop 36)', () => {
  it.each(['admin-token-file', 'metrics-token-file'])('--%s holding a guessable token: refused at start, exit 2, never printing it', async (option) => {
    const weak = join(dir, `weak-${option}`);
    writeFileSync(weak, 'hunter2hunter2\n', { mode: 0o600 });
    const r = await run(serve(`--${option}`, weak));
    expect(r.hung).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`--${option}: the bearer token has 14 characters`));
    expect(r.stderr).not.toContain('hunter2');
  }, 90_000);

  it('a token file that does not exist gets a strong random token (mode 0600), and /metrics answers it', async () => {
    const file = join(dir, 'new-metrics.token');
    expect(existsSync(file)).toBe(false);
    const child = spawn(process.execPath, [BIN, ...serve('--metrics-token-file', file)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise((r) => child.once('close', r));
    try {
      const url = (await waitForLine(child, /listening on (\S+)/, 60_000))[1]!;
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer not-it' } })).status).toBe(401);
    } finally {
      await stop(child);
      await closed;
    }
    const created = jsonLines(stderr).find((l) => l.event === 'token_file_created');
    expect(created).toMatchObject({ option: 'metrics-token-file', level: 30 });
    expect(stderr).not.toContain(readFileSync(file, 'utf8').trim());
  }, 120_000);
});
