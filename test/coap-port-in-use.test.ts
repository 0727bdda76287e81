/**
 * README walkthrough: a second `keybound device serve --coap-port 5683` on a port another device
 * already served started silently (node-coap binds with SO_REUSEADDR unless told not to), so two
 * device processes shared one UDP port and each got a share of the requests. A CoAP port in use
 * is now a failed start: a typed error (ERR_COAP_PORT_IN_USE) naming the port, one line and
 * exit 1 from the CLI, never a stack trace.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoapListenError, startCoapTransport } from '../device/adapters/index.js';
import { createFixtureIssuer } from './support/device-issuer.js';
import { serveDevice } from './support/device-process.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-coap-port-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a CoAP port in use', () => {
  it('startCoapTransport on a port another transport holds rejects with ERR_COAP_PORT_IN_USE naming the port', async () => {
    const first = await startCoapTransport({ handler: () => ({ code: '2.05' }) });
    try {
      const second = startCoapTransport({ handler: () => ({ code: '2.05' }), port: first.port });
      await expect(second).rejects.toBeInstanceOf(CoapListenError);
      await expect(second).rejects.toMatchObject({ code: 'ERR_COAP_PORT_IN_USE', message: expect.stringContaining(`127.0.0.1:${first.port}`) });
    } finally {
      await first.close();
    }
  });

  it('a second device serve on the same --coap-port exits 1 with one line, while the first keeps serving', async () => {
    const bundle = join(dir, 'bundle.cbor');
    const issuer = createFixtureIssuer(() => Math.floor(Date.now() / 1000));
    writeFileSync(bundle, issuer.bundleFor('tube-port'), { mode: 0o600 });
    const dataDir = (name: string) => {
      const d = join(dir, name);
      mkdirSync(d, { mode: 0o700 });
      return d;
    };
    const first = serveDevice(['--bundle', bundle, '--data-dir', dataDir('first'), '--coap-port', '0', '--coap-only', '--log-level', 'info']);
    try {
      const { port } = (await first.waitFor((e) => e.event === 'coap_listening')) as unknown as { port: number };
      const second = serveDevice(['--bundle', bundle, '--data-dir', dataDir('second'), '--coap-port', String(port), '--coap-only']);
      const outcome = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r('still running after 20 s'), 20_000))]);
      if (outcome === 'still running after 20 s') second.proc.kill('SIGTERM');
      expect(outcome).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`^keybound device serve: CoAP port 127\\.0\\.0\\.1:${port} is in use by another process.*\\(ERR_COAP_PORT_IN_USE\\)\\n$`));
      expect(first.proc.exitCode).toBeNull();
    } finally {
      first.proc.kill('SIGTERM');
      await first.exited;
    }
  }, 60_000);
});
