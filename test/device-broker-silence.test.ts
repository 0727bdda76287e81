/**
 * A broker that goes quiet halfway through a wake (carried from stop 39: a device in `device serve`
 * waited for its SUBACK without a bound). The "broker" here is a raw socket that speaks just enough
 * MQTT 3.1.1 to admit the device: a CONNACK for its CONNECT and a PINGRESP for each PINGREQ, so the
 * line looks alive, but no SUBACK, or no CONNACK at all. A sleeping device must fail that wake,
 * close the line and try again after its backoff, not stay awake on it for ever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogFields } from '../device/index.js';
import { startDeviceHost, type DeviceHost } from '../device/adapters/index.js';
import { createFixtureIssuer } from './support/device-issuer.js';

const clock = () => Math.floor(Date.now() / 1000);
const BROKER_TIMEOUT_MS = 600;

/** MQTT 3.1.1 §2.2: packet type in the high nibble of byte 0, then a variable-length remaining length. */
function* packets(buffer: { data: Buffer }): Generator<number> {
  for (;;) {
    const b = buffer.data;
    if (b.length < 2) return;
    let length = 0;
    let i = 1;
    for (let shift = 0; ; shift += 7, i += 1) {
      if (i >= b.length) return;
      length += (b[i]! & 0x7f) << shift;
      if ((b[i]! & 0x80) === 0) break;
    }
    if (b.length < i + 1 + length) return;
    buffer.data = b.subarray(i + 1 + length);
    yield b[0]! >> 4;
  }
}

interface SilentBroker {
  url: string;
  /** Packet types received, per connection, in order. */
  connections: { types: number[]; closed: boolean }[];
  close(): Promise<void>;
}

async function silentBroker(answersConnect: boolean): Promise<SilentBroker> {
  const connections: SilentBroker['connections'] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const seen = { types: [] as number[], closed: false };
    connections.push(seen);
    const buffer = { data: Buffer.alloc(0) };
    socket.on('data', (chunk: Buffer) => {
      buffer.data = Buffer.concat([buffer.data, chunk]);
      for (const type of packets(buffer)) {
        seen.types.push(type);
        if (type === 1 && answersConnect) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNACK, accepted
        if (type === 12) socket.write(Buffer.from([0xd0, 0x00])); // PINGRESP
        // SUBSCRIBE (8) is never answered.
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => ((seen.closed = true), sockets.delete(socket)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function deviceAgainst(broker: SilentBroker) {
  const dir = mkdtempSync(join(tmpdir(), 'kb-broker-silence-'));
  const events: LogFields[] = [];
  const record = (fields: LogFields) => void events.push(fields);
  const host: DeviceHost = await startDeviceHost({
    bundle: createFixtureIssuer(clock).bundleFor('tube-quiet'),
    dataDir: join(dir, 'data'),
    brokerUrl: broker.url,
    wakeEvery: 1,
    awakeMs: 100,
    brokerTimeoutMs: BROKER_TIMEOUT_MS,
    logger: { info: record, warn: record, error: record },
    clock,
  });
  cleanup.push(async () => {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const until = async (what: () => boolean, label: string, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!what()) {
      if (Date.now() > deadline) throw new Error(`${label}; device log: ${JSON.stringify(events.slice(-8))}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { host, events, until };
}

describe('a broker that goes quiet in the middle of a wake', () => {
  it('admitted but its SUBSCRIBE never answered: the wake fails within the bound, the line is closed, and the device tries again', async () => {
    const broker = await silentBroker(true);
    cleanup.push(() => broker.close());
    const { host, events, until } = await deviceAgainst(broker);
    const started = Date.now();
    await until(() => events.some((e) => e.event === 'wake_failed'), 'no wake_failed');
    const failed = events.find((e) => e.event === 'wake_failed')!;
    expect(String(failed.reason)).toContain('did not answer the SUBSCRIBE');
    expect(failed.retry_in_s).toBe(2);
    expect(Date.now() - started).toBeLessThan(BROKER_TIMEOUT_MS + 5_000);
    // It had been admitted and had asked: CONNECT (1) then SUBSCRIBE (8).
    expect(broker.connections[0]!.types.slice(0, 2)).toEqual([1, 8]);
    expect(events.some((e) => e.event === 'connected')).toBe(false);
    await until(() => broker.connections[0]!.closed, 'the device kept the line open');
    // After the backoff, a new wake on a new line.
    await until(() => broker.connections.length >= 2 && broker.connections[1]!.types.includes(8), 'no second wake');
    // And stop() is not held up by the wake in progress beyond the bound.
    const stopAt = Date.now();
    await host.stop();
    expect(Date.now() - stopAt).toBeLessThan(BROKER_TIMEOUT_MS + 5_000);
  }, 30_000);

  it('its CONNECT never answered: the wake fails after the same bound', async () => {
    const broker = await silentBroker(false);
    cleanup.push(() => broker.close());
    const { events, until } = await deviceAgainst(broker);
    await until(() => events.some((e) => e.event === 'wake_failed'), 'no wake_failed');
    expect(String(events.find((e) => e.event === 'wake_failed')!.reason)).toContain('connack timeout');
    expect(broker.connections[0]!.types).toEqual([1]);
    await until(() => broker.connections[0]!.closed, 'the device kept the line open');
  }, 30_000);
});
