/**
 * Review (rev2), `keybound device serve --client-secret-file` against a hostile or hijacked token
 * endpoint (issue 10: the device asks the service for its broker token with its client secret in
 * the body). Attacks, on the real device process: a 308 redirect to another server (fetch would
 * re-POST the body, secret included, to wherever Location points, http:// too); an answer that
 * never ends (the device must not buffer it until the timeout). In both the device fails the wake
 * (and retries with its backoff); it neither leaks the secret nor dies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFixtureIssuer } from './support/device-issuer.js';
import { serveDevice, type DeviceProcess } from './support/device-process.js';

const SECRET = 'device-secret-that-is-long-enough-0123456789';
let dir: string;
let bundle: string;
let secretFile: string;
const servers: http.Server[] = [];
const devices: DeviceProcess[] = [];

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

function start(tokenUrl: string): DeviceProcess {
  const d = serveDevice([
    '--bundle', bundle, '--data-dir', join(dir, `data-${devices.length}`), '--broker', 'mqtt://127.0.0.1:9',
    '--client-secret-file', secretFile, '--broker-audience', 'broker-1', '--token-url', tokenUrl, '--wake-every', '0',
  ]);
  devices.push(d);
  return d;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kb-review-token-endpoint-'));
  bundle = join(dir, 'bundle.cbor');
  writeFileSync(bundle, createFixtureIssuer(() => Math.floor(Date.now() / 1000)).bundleFor('tube-te'));
  secretFile = join(dir, 'device.secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
});

afterAll(async () => {
  for (const d of devices) d.proc.kill('SIGKILL');
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  rmSync(dir, { recursive: true, force: true });
});

describe('review: the device against a hostile token endpoint', () => {
  it('a 308 redirect is not followed: the secret goes to no other server', async () => {
    const elsewhere: Buffer[] = [];
    const thief = await listen((req, res) => {
      req.on('data', (c: Buffer) => elsewhere.push(c));
      req.on('end', () => res.writeHead(400).end());
    });
    const service = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(308, { location: `${thief}/token` }).end());
    });
    const d = start(`${service}/token`);
    expect(await d.waitFor((e) => e.event === 'wake_failed')).toBeDefined();
    expect(Buffer.concat(elsewhere).includes(SECRET)).toBe(false);
    expect(elsewhere).toEqual([]);
    expect(d.proc.exitCode).toBeNull();
  }, 60_000);

  it('an answer that never ends is abandoned at its bound, not buffered until the timeout', async () => {
    let sent = 0;
    let closedAfter = -1;
    const service = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/ace+cbor' });
        const chunk = Buffer.alloc(64 * 1024, 0x41);
        const pump = () => {
          while (!res.destroyed && sent < 2 ** 30 && res.write(chunk)) sent += chunk.length;
          if (!res.destroyed && sent < 2 ** 30) res.once('drain', () => ((sent += chunk.length), pump()));
        };
        res.on('close', () => (closedAfter = sent));
        pump();
      });
    });
    const d = start(`${service}/token`);
    expect(await d.waitFor((e) => e.event === 'wake_failed')).toBeDefined();
    // Abandoned at 16 KiB plus what the sockets had buffered, long before the 15 s timeout.
    await new Promise((r) => setTimeout(r, 200));
    expect(closedAfter).toBeGreaterThanOrEqual(0);
    expect(closedAfter).toBeLessThan(16 * 1024 * 1024);
    expect(d.proc.exitCode).toBeNull();
  }, 60_000);
});
