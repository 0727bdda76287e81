/**
 * README walkthrough: `keybound broker serve --trl-poll 3000000` (or `--keys-refresh 9999999`)
 * handed setInterval more than its 2^31-1 ms, which Node fires after 1 ms: the broker polled the
 * service hundreds of times a second. `--trl-poll 0.001` was taken as well. The CLI refuses a
 * period out of its bounds, and the pollers themselves never wait less than asked for a period
 * past Node's longest timer (a library caller passes options straight to createBroker).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTrlPoller, startTrustRefresh, type RefreshableTrust } from '../broker/index.js';
import { AUDIENCE } from './support/broker-fixture.js';
import { trustFile } from './support/broker-process.js';
import { signingKey } from './support/keys.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kb-poll-bounds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `keybound broker serve` in its own process; a broker that starts instead of refusing is killed after 30 s. */
function brokerServe(extra: string[]): Promise<{ code: number | string; stderr: string }> {
  const secret = join(dir, 'secret');
  writeFileSync(secret, 'not-a-real-secret\n', { mode: 0o600 });
  const args = ['broker', 'serve', '--audience', AUDIENCE, '--trust', trustFile([signingKey().pub]), '--port', '0'];
  args.push('--authz-url', 'http://127.0.0.1:9', '--client-id', 'broker', '--client-secret-file', secret, ...extra);
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(root, 'bin/keybound.js'), ...args], { cwd: root, timeout: 30_000 }, (error, _stdout, stderr) => {
      const e = error as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (e.signal ?? e.code ?? 'error') : 0, stderr });
    });
    child.stdin?.end();
  });
}

describe('keybound broker serve: polling periods out of bounds are usage errors', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['--trl-poll', '3000000', /--trl-poll takes whole seconds from 1 to 86400 \(0: off\)/],
    ['--trl-poll', '0.001', /--trl-poll takes whole seconds from 1 to 86400 \(0: off\)/],
    ['--keys-refresh', '9999999', /--keys-refresh takes whole seconds from 1 to 604800 \(0: off\)/],
  ];
  it.each(cases)('%s %s: exit 2, one line naming the bounds', async (option, value, message) => {
    const out = await brokerServe([option, value]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(message);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('--help states the bounds', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [join(root, 'bin/keybound.js'), 'broker', 'serve', '--help'], { cwd: root }, (e, stdout) => (e ? reject(e) : resolve(stdout))),
    );
    expect(out).toMatch(/--trl-poll SECONDS\s+poll the revocation lists this often, 1 to 86400/);
    expect(out).toMatch(/--keys-refresh SECONDS\s+re-read the service's \/keys this often, 1 to 604800/);
  }, 60_000);
});

describe('the pollers: a period past the longest timer does not poll again at once', () => {
  it('startTrlPoller with a month between polls fetches once (at start) in the next 500 ms, from a real service', async () => {
    let fetches = 0;
    const server: Server = createServer((_req, res) => {
      fetches++;
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const stop = await startTrlPoller({ authzUrl: `http://127.0.0.1:${port}`, audiences: [AUDIENCE], intervalS: 3_000_000, apply: async () => undefined, log: () => undefined });
    try {
      expect(fetches).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
      expect(fetches).toBeLessThanOrEqual(1);
    } finally {
      stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('startTrustRefresh with 9999999 s between refreshes refreshes once (at start) in the next 500 ms', async () => {
    const reasons: string[] = [];
    const trust = { refresh: async (reason?: string) => (reasons.push(reason ?? ''), true) } as unknown as RefreshableTrust;
    const stop = await startTrustRefresh(trust, 9_999_999);
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(reasons).toEqual(['periodic']);
    } finally {
      stop();
    }
  });
});
