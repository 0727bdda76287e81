/**
 * README walkthrough finding (stop 35): `keybound authz serve --host 0.0.0.0` took its issuer from
 * the listening URL, http://0.0.0.0:PORT, a host no client elsewhere can reach, and wrote it into
 * every token's iss and the metadata's endpoints without a word. It now warns (issuer_unroutable)
 * unless --issuer names the URL clients use. The real CLI process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jsonLines, stop, waitForLine } from './support/processes.js';

const BIN = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kb-serve-issuer-'));

/** Starts the service with `more`, waits for it to listen, stops it: its URL and log lines. */
async function startLines(more: string[]): Promise<{ url: string; lines: Array<Record<string, unknown>> }> {
  const child = spawn(process.execPath, [BIN, 'authz', 'serve', '--data-dir', join(dir, 'data'), '--init', '--port', '0', ...more], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise((r) => child.once('close', r));
  const url = (await waitForLine(child, /listening on (\S+)/, 60_000))[1]!;
  // The warnings follow the listening line; under load their pipe may lag the stdout one.
  for (let i = 0; i < 40 && !stderr.includes('"plain_http"'); i++) await new Promise((r) => setTimeout(r, 50));
  await stop(child);
  await closed;
  return { url, lines: jsonLines(stderr) };
}

describe('authz serve on every interface', () => {
  it('--host 0.0.0.0 without --issuer: warns issuer_unroutable, naming the URL', async () => {
    const { url, lines } = await startLines(['--host', '0.0.0.0']);
    expect(url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    expect(lines.find((l) => l.event === 'issuer_unroutable')).toMatchObject({ level: 40, issuer: url, msg: expect.stringContaining('--issuer') });
  }, 90_000);

  it('with --issuer, or on loopback: no such warning', async () => {
    const named = await startLines(['--host', '0.0.0.0', '--issuer', 'http://as.example:8080']);
    expect(named.lines.filter((l) => l.event === 'issuer_unroutable')).toEqual([]);
    expect(named.lines.some((l) => l.event === 'plain_http')).toBe(true);
    const loopback = await startLines([]);
    expect(loopback.lines.filter((l) => l.event === 'issuer_unroutable')).toEqual([]);
    // SIGTERM: a clean stop is logged as one, last (walkthrough, stop 36: nothing was logged).
    expect(loopback.lines.slice(-2).map((l) => [l.event, l.signal])).toEqual([['stopping', 'SIGTERM'], ['stopped', undefined]]);
  }, 90_000);
});
