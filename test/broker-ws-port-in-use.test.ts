/**
 * README walkthrough: `keybound broker serve --ws-port P` with P in use died of an unhandled
 * 'error' event (ws re-emits its HTTP server's errors, and nothing listened), a stack trace
 * instead of the one line and exit 1 that an MQTT port in use gives. Both are checked here, on
 * real ports, in a real process.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUDIENCE } from './support/broker-fixture.js';
import { trustFile } from './support/broker-process.js';
import { signingKey } from './support/keys.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function brokerServe(extra: string[]): Promise<{ code: number | string; stderr: string }> {
  const args = ['broker', 'serve', '--audience', AUDIENCE, '--trust', trustFile([signingKey().pub]), ...extra];
  return new Promise((resolve) => {
    // A broker that starts anyway is killed after 30 s (and the test fails on its exit).
    execFile(process.execPath, [join(root, 'bin/keybound.js'), ...args], { cwd: root, timeout: 30_000 }, (error, _stdout, stderr) => {
      const e = error as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (e.signal ?? e.code ?? 'error') : 0, stderr });
    });
  });
}

async function takePort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

describe('keybound broker serve: a port in use is a failed start in one line, exit 1', () => {
  for (const option of ['--port', '--ws-port'] as const) {
    it(`${option} in use`, async () => {
      const taken = await takePort();
      try {
        const out = await brokerServe(option === '--port' ? ['--port', String(taken.port)] : ['--port', '0', '--ws-port', String(taken.port)]);
        expect(out.code).toBe(1);
        expect(out.stderr).toContain(`keybound broker serve: listen EADDRINUSE: address already in use 127.0.0.1:${taken.port} (EADDRINUSE)\n`);
        expect(out.stderr).not.toMatch(/^\s+at /m); // no stack trace
      } finally {
        taken.server.close();
      }
    }, 60_000);
  }
});
