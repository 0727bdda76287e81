/**
 * Issue 9, finding 4: bounded before authentication. Raw node:net sockets announce huge packets
 * before CONNACK and stream them; admitted mqtt.js clients send oversized packets and relay
 * payloads and flood a sleeping device's persistent session. Real brokers on real ports.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerCommand, brokerServe } from '../cli/index.js';
import { coseKeyToMap, encodeCbor } from '../cose/index.js';
import { createBroker, createPacketMeter, DEVICE_SENDER_SHARES, MAX_CONNECT_BYTES, MAX_RELAY_PAYLOAD_BYTES, MAX_SUBSCRIPTIONS_PER_CONNECTION, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, closedWithin, connect, createIssuer, ed25519, inbox, password, sleep, subackCodes } from './support/broker-fixture.js';

const issuer = createIssuer();
const log: string[] = [];
let broker: KeyboundBroker;
let url: string;
let port: number;
/** Small budgets, to show where they bite. */
let tight: KeyboundBroker;
let tightUrl: string;
const TIGHT_PACKET = 4096;
const TIGHT_CLIENT_BURST = 32 * 1024;
const open: MqttClient[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l) });
  ({ url, port } = await broker.listen(0));
  tight = await createBroker({
    audience: AUDIENCE,
    trust: issuer.trust,
    logger: (l) => log.push(`tight ${l}`),
    maxPacketBytes: TIGHT_PACKET,
    clientQueueRate: { burst: TIGHT_CLIENT_BURST, perSecond: 0 },
  });
  tightUrl = (await tight.listen(0)).url;
});

afterAll(async () => {
  for (const c of open) c.end(true);
  await broker.close();
  await tight.close();
});

/** MQTT 3.1.1 §2.2.3: Remaining Length, 7 bits a byte, low first. */
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Opens a raw socket, sends `header`, then streams up to `total` bytes; resolves with what happened. */
async function stream(header: number[], total: number): Promise<{ closed: boolean; sent: number; ms: number }> {
  const socket: Socket = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  socket.on('error', () => {});
  let closed = false;
  socket.once('close', () => (closed = true));
  const started = Date.now();
  socket.write(Buffer.from(header));
  const chunk = Buffer.alloc(1024 * 1024, 0x41);
  let sent = 0;
  while (!closed && sent < total && Date.now() - started < 10_000) {
    const ok = socket.write(chunk);
    sent += chunk.length;
    if (!ok) await new Promise<void>((r) => { socket.once('drain', r); socket.once('close', r); });
  }
  const ms = Date.now() - started;
  socket.destroy();
  return { closed, sent, ms };
}

describe('the packet meter reads MQTT framing as it arrives (MQTT 3.1.1 §2.2)', () => {
  const packet = (first: number, size: number) => [first, ...remainingLength(size), ...new Array<number>(size).fill(first)];
  // A CONNECT, a PUBLISH whose length takes 2 bytes, a PINGREQ, a PUBLISH whose length takes 3.
  const wire = Uint8Array.from([...packet(0x10, 300), ...packet(0x30, 200), ...packet(0xc0, 0), ...packet(0x32, 20_000)]);

  it('frames a stream split at every byte the same as in one piece', () => {
    for (let cut = 1; cut < 700; cut++) {
      const meter = createPacketMeter(20_000);
      expect(meter.feed(wire.subarray(0, cut), true), `cut at ${cut}`).toBeUndefined();
      expect(meter.feed(wire.subarray(cut), true), `cut at ${cut}`).toBeUndefined();
    }
  });

  it('refuses the packet one byte over the limit, where its length ends, even split mid-length', () => {
    const meter = createPacketMeter(19_999);
    expect(meter.feed(wire.subarray(0, 510), true)).toBeUndefined(); // 303 + 203 + 2 bytes, then the last PUBLISH's type and first length byte
    expect(meter.feed(wire.subarray(510), true)).toBe('packet of 20000 bytes over 19999');
  });

  it('refuses a Remaining Length of five bytes, and counts every byte before admission', () => {
    expect(createPacketMeter().feed(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), true)).toBe('Remaining Length longer than four bytes');
    const meter = createPacketMeter();
    for (let i = 0; i < MAX_CONNECT_BYTES / 2; i++) expect(meter.feed(Uint8Array.from([0xc0, 0x00]), false)).toBeUndefined();
    expect(meter.feed(Uint8Array.from([0xc0, 0x00]), false)).toBe(`more than ${MAX_CONNECT_BYTES} bytes before CONNACK`);
    expect(() => createPacketMeter(1)).toThrow(RangeError);
  });
});

describe('before CONNACK: a few KB, then the socket is closed', () => {
  it('a CONNECT announcing 256 MB and streaming 200 MB is cut off early; memory does not grow', async () => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const r = await stream([0x10, ...remainingLength(268_435_455)], 200 * 1024 * 1024);
    const grown = process.memoryUsage().rss - before;
    expect(r.closed).toBe(true);
    expect(r.sent).toBeLessThan(32 * 1024 * 1024); // what the kernel took before the close was seen
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    // Whichever comes first in the socket's first read: the announced length, or the bytes so far.
    expect(log.some((l) => l.includes(`packet of 268435455 bytes over ${MAX_CONNECT_BYTES}`) || l.includes(`more than ${MAX_CONNECT_BYTES} bytes before CONNACK`))).toBe(true);
  });

  it('a CONNECT just over the cap is refused at its header; many small packets before CONNACK too', async () => {
    const over = await stream([0x10, ...remainingLength(MAX_CONNECT_BYTES + 1)], 8 * 1024 * 1024);
    expect(over.closed).toBe(true);
    // PINGREQs (2 bytes each) pipelined before any CONNECT is answered: the bytes add up.
    const socket = tcpConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', r));
    const closed = new Promise<boolean>((r) => { socket.once('close', () => r(true)); setTimeout(() => r(false), 3000); });
    socket.write(Buffer.from([0x10, ...remainingLength(2000), ...Buffer.alloc(2000)]));
    socket.write(Buffer.alloc(MAX_CONNECT_BYTES, 0xc0)); // 0xc0 = PINGREQ's first byte; 0xc0 0xc0 … also frames as packets
    expect(await closed).toBe(true);
    expect(log.some((l) => l.includes(`more than ${MAX_CONNECT_BYTES} bytes before CONNACK`))).toBe(true);
  });

  it('a real client’s CONNECT (token, proof, Will) still fits (the positive case)', async () => {
    const { token, key } = issuer.token({ scope: [['meter/#', ['pub']]] });
    const c = await connect(url, 'meter-ok', password(token, key, 'meter-ok'), { will: { topic: 'meter/ok', payload: Buffer.alloc(1024), qos: 0, retain: false } });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});

describe('after CONNACK: packets up to maxPacketBytes (--max-packet)', () => {
  it('closes an admitted client that sends a bigger packet; smaller ones are routed', async () => {
    const w = issuer.token({ scope: [['meter/#', ['sub']]] });
    const watcher = await connect(tightUrl, 'meter-w', password(w.token, w.key, 'meter-w'));
    open.push(watcher);
    const box = inbox(watcher);
    await watcher.subscribeAsync('meter/#', { qos: 0 });
    const { token, key } = issuer.token({ scope: [['meter/#', ['pub']]] });
    const c = await connect(tightUrl, 'meter-big', password(token, key, 'meter-big'));
    await c.publishAsync('meter/1', Buffer.alloc(TIGHT_PACKET - 100), { qos: 0 });
    await box.next(1);
    c.publish('meter/1', Buffer.alloc(TIGHT_PACKET + 1), { qos: 0 });
    expect(await closedWithin(c, 2000)).toBe(true);
    await sleep(200);
    expect(box.got.map((m) => m.payload.length)).toEqual([TIGHT_PACKET - 100]);
    expect(log.some((l) => l.startsWith('tight ') && l.includes(`over ${TIGHT_PACKET}`))).toBe(true);
  });
});

describe('keybound broker serve --max-packet BYTES', () => {
  const io = () => {
    const out = { stdout: '', stderr: '' };
    return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
  };
  const dir = mkdtempSync(join(tmpdir(), 'kb-max-packet-'));
  writeFileSync(join(dir, 'keys.cbor'), encodeCbor(issuer.trust.map(coseKeyToMap)));
  const base = ['--audience', AUDIENCE, '--trust', join(dir, 'keys.cbor'), '--port', '0'];

  it('refuses a value that is not a byte count from 2 to 268435455 (exit 2)', async () => {
    for (const bad of ['abc', '1', '-5', '268435456', '1e6']) {
      const a = io();
      expect(await brokerCommand(['serve', ...base, '--max-packet', bad], a.io)).toBe(2);
      expect(a.out.stderr).toContain('--max-packet');
    }
  });

  it('closes an admitted client past the value given', async () => {
    const a = io();
    const served = await brokerServe([...base, '--max-packet', '2048'], a.io);
    try {
      const cliUrl = /listening on (mqtt:\/\/[\d.:]+)/.exec(a.out.stdout)![1]!;
      const { token, key } = issuer.token({ scope: [['meter/#', ['pub']]] });
      const c = await connect(cliUrl, 'cli-big', password(token, key, 'cli-big'));
      await c.publishAsync('meter/1', Buffer.alloc(1500), { qos: 1 });
      c.publish('meter/1', Buffer.alloc(2100), { qos: 0 });
      expect(await closedWithin(c, 2000)).toBe(true);
      expect(a.out.stderr).toContain('over 2048');
    } finally {
      await served.close();
    }
  });
});

describe('relay payloads and queued bytes are bounded', () => {
  it('a token envelope over MAX_RELAY_PAYLOAD_BYTES is dropped; one under it reaches the device', async () => {
    const d = issuer.token({ scope: [['ace/tube-7/authz-info', ['sub']]] });
    const dev = await connect(url, 'tube-7', password(d.token, d.key, 'tube-7'));
    open.push(dev);
    const box = inbox(dev);
    await dev.subscribeAsync('ace/tube-7/authz-info', { qos: 1 });
    const { token, key } = issuer.token({ scope: [['meter/#', ['pub']]] });
    const c = await connect(url, 'relay-1', password(token, key, 'relay-1'));
    open.push(c);
    await c.publishAsync('ace/tube-7/authz-info', Buffer.alloc(MAX_RELAY_PAYLOAD_BYTES + 1), { qos: 1 });
    await c.publishAsync('ace/tube-7/authz-info', Buffer.alloc(1024), { qos: 1 });
    await box.next(1);
    await sleep(200);
    expect(box.got.map((m) => m.payload.length)).toEqual([1024]);
  });

  it('a sleeping device’s session takes at most its byte budget from a flooding client', async () => {
    const d = issuer.token({ scope: [['ace/tube-8/req', ['sub']]] });
    const asleep = await connect(url, 'tube-8', password(d.token, d.key, 'tube-8'), { clean: false });
    await asleep.subscribeAsync('ace/tube-8/req', { qos: 1 });
    await asleep.endAsync(); // the device sleeps; its persistent session queues QoS 1 messages
    const { token, key } = issuer.token({ scope: [['ace/tube-8/req', ['pub']]] });
    const flood = await connect(url, 'flood-8', password(token, key, 'flood-8'));
    open.push(flood);
    const size = 8000;
    for (let i = 0; i < 100; i++) await flood.publishAsync('ace/tube-8/req', Buffer.alloc(size, i), { qos: 1 });
    const awake = await connect(url, 'tube-8', password(d.token, d.key, 'tube-8'), { clean: false });
    open.push(awake);
    const box = inbox(awake);
    await box.next(100, 2000);
    const queued = box.got.length * size;
    expect(queued).toBeGreaterThan(0);
    // One sender's share of DEFAULT_DEVICE_QUEUE_RATE (a quarter): burst + a few seconds of refill.
    expect(queued).toBeLessThanOrEqual((256 * 1024) / DEVICE_SENDER_SHARES + 4 * 1024);
    expect(log.some((l) => l.includes('"flood-8"') && l.includes('queue budget of the sender toward the device'))).toBe(true);
  });

  it('one client key is held to its budget across all its connections', async () => {
    const key = ed25519('many');
    const conns: MqttClient[] = [];
    for (const i of [1, 2, 3]) {
      const { token } = issuer.token({ scope: [[`meter/${i}`, ['pub']]], key });
      conns.push(await connect(tightUrl, `many-${i}`, password(token, key, `many-${i}`)));
    }
    open.push(...conns);
    const size = 3000;
    for (let round = 0; round < 6; round++) {
      for (const [i, c] of conns.entries()) await c.publishAsync(`meter/${i + 1}`, Buffer.alloc(size), { qos: 1 });
    }
    const taken = 18 - log.filter((l) => l.startsWith('tight ') && /"many-\d"/.test(l) && l.includes('queue budget of the client')).length;
    expect(taken).toBe(Math.floor(TIGHT_CLIENT_BURST / size));
    // Another key is not held back by the first one's use.
    const other = issuer.token({ scope: [['meter/9', ['pub']]] });
    const c = await connect(tightUrl, 'other-9', password(other.token, other.key, 'other-9'));
    open.push(c);
    await c.publishAsync('meter/9', Buffer.alloc(size), { qos: 1 });
    await sleep(100);
    expect(log.some((l) => l.includes('"other-9"') && l.includes('queue budget'))).toBe(false);
  });
});

describe('in-band token refresh is rate-limited before any check (review, stop 34)', () => {
  it('a client flooding ace/authz-info gets its allowance of refreshes checked, the rest dropped unread', async () => {
    const lines: string[] = [];
    const b = await createBroker({ audience: AUDIENCE, trust: issuer.trust, relayRate: { burst: 5, perSecond: 0.001 }, logger: (l) => lines.push(l) });
    try {
      const u = (await b.listen(0)).url;
      const { token, key } = issuer.token({ scope: [['sensors/#', ['pub']]] });
      const c = await connect(u, 'refresher', password(token, key, 'refresher'));
      // Garbage that would cost a decode and a refusal each, were it read.
      for (let i = 0; i < 40; i++) c.publish('ace/authz-info', Buffer.from([0x82, 0x40, 0x40]), { qos: 0 });
      await c.publishAsync('sensors/x', 'sync', { qos: 1 });
      const until = Date.now() + 5000;
      while (Date.now() < until && lines.filter((l) => l.includes('refresh rate limit')).length < 35) await new Promise((r) => setTimeout(r, 50));
      expect(lines.filter((l) => l.includes('token refresh from')).length).toBe(5);
      expect(lines.filter((l) => l.includes('token refresh rate limit')).length).toBe(35);
      await c.endAsync();
    } finally {
      await b.close();
    }
  });
});

describe('subscriptions per connection are bounded (review, stop 34)', () => {
  it(`grants at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} distinct in-scope filters on one connection, and says so once`, async () => {
    const lines: string[] = [];
    const b = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => lines.push(l) });
    try {
      const u = (await b.listen(0)).url;
      const { token, key } = issuer.token({ scope: [['sensors/#', ['sub']]] });
      const c = await connect(u, 'hoarder', password(token, key, 'hoarder'));
      const filters = (from: number, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`sensors/${from + i}`, { qos: 0 as const }]));
      expect((await subackCodes(c, filters(0, MAX_SUBSCRIPTIONS_PER_CONNECTION - 10))).every((code) => code === 0)).toBe(true);
      const next = await subackCodes(c, filters(MAX_SUBSCRIPTIONS_PER_CONNECTION - 10, 30));
      expect(next.slice(0, 10).every((code) => code === 0)).toBe(true);
      expect(next.slice(10).every((code) => code === 128)).toBe(true);
      // A filter already granted may be subscribed again (a QoS change).
      expect(await subackCodes(c, { 'sensors/0': { qos: 1 } })).toEqual([1]);
      expect(lines.filter((l) => l.includes(`more than ${MAX_SUBSCRIPTIONS_PER_CONNECTION} filters`)).length).toBe(1);
      await c.endAsync();
    } finally {
      await b.close();
    }
  }, 30_000);
});
