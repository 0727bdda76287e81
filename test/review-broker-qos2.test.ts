/**
 * Review of issue 9, finding 4 (byte budgets per client key): a QoS 2 PUBLISH is stored by aedes
 * (incoming persistence, for MQTT 3.1.1 §4.3.3 deduplication) until its PUBREL, whether the hooks
 * route it or drop it. A dropped publish only had its topic rewritten, so an admitted client past
 * its byte budget still had every payload stored: QoS 2 PUBLISHes of 200 KB with no PUBREL, on a
 * persistent session (kept after the connection), grew Redis by their full size. Raw node:net
 * frames (mqtt.js would send the PUBREL), against `keybound broker serve --redis` as its own
 * process (bin/keybound.js) on a redis-server.
 */
import type { ChildProcess } from 'node:child_process';
import { connect as tcpConnect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACE_USERNAME } from '../broker/index.js';
import { connect, createIssuer, inbox, password, sleep } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { startRedis } from './support/redis-server.js';
import { jsonLines, stop } from './support/processes.js';

const issuer = createIssuer();
let redis: ChildProcess;
let redisConn: Redis;
let broker: BrokerProcess;
let url: string;
let port: number;

beforeAll(async () => {
  const r = await startRedis();
  redis = r.process;
  redisConn = new Redis(r.url);
  broker = await serveBroker(trustFile(issuer.trust), ['--redis', r.url]);
  ({ url, port } = broker);
}, 60_000);

afterAll(async () => {
  await stop(broker?.proc);
  redisConn?.disconnect();
  redis?.kill('SIGTERM');
});

/** MQTT 3.1.1 §1.5.3 / §2.2.3: a UTF-8 or binary field with its 2-byte length; a Remaining Length. */
const field = (b: Uint8Array) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
function frame(type: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), body]);
}

/** A raw MQTT 3.1.1 client: CONNECT (clean=false), then QoS 2 PUBLISHes whose PUBREC it never answers. */
async function hoardQos2(clientId: string, pw: Buffer, topic: string, count: number, size: number): Promise<void> {
  const socket: Socket = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  socket.on('error', () => {});
  let got = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  // §3.1.2: protocol name, level 4, flags username|password (clean session 0), keep alive 60.
  socket.write(frame(0x10, Buffer.concat([field(Buffer.from('MQTT')), Buffer.from([4, 0xc0, 0, 60]), field(Buffer.from(clientId)), field(Buffer.from(ACE_USERNAME)), field(pw)])));
  const deadline = Date.now() + 5000;
  while (got.length < 4 && Date.now() < deadline) await sleep(20);
  expect([...got.subarray(0, 4)]).toEqual([0x20, 2, 0, 0]); // CONNACK 0: admitted
  for (let id = 1; id <= count; id++) {
    const body = Buffer.concat([field(Buffer.from(topic)), Buffer.from([id >> 8, id & 0xff]), Buffer.alloc(size, id)]);
    if (!socket.write(frame(0x34, body))) await new Promise((r) => socket.once('drain', r));
  }
  // Every PUBREC back (4 bytes each, after the CONNACK): the broker has stored what it will store.
  while (got.length < 4 + 4 * count && Date.now() < deadline + 20_000) await sleep(50);
  socket.destroy();
}

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redisConn.info('memory'))![1]);

describe('a QoS 2 PUBLISH past the byte budget is not stored either', () => {
  it('200 QoS 2 PUBLISHes of 200 KB with no PUBREL add about the budget to Redis, not 40 MB', async () => {
    const before = await usedMemory();
    const { token, key } = issuer.token({ scope: [['hoard/#', ['pub']]] });
    await hoardQos2('hoarder-2', password(token, key, 'hoarder-2'), 'hoard/x', 200, 200 * 1024);
    await sleep(300);
    const grown = (await usedMemory()) - before;
    expect(jsonLines(broker.stderr).some((l) => l.event === 'publish_refused' && l.clientId === 'hoarder-2' && l.topic === 'hoard/x' && l.reason === 'queue_budget')).toBe(true);
    expect(grown).toBeLessThan(4 * 1024 * 1024); // DEFAULT_CLIENT_QUEUE_RATE: 1 MiB, then 16 KiB/s
  }, 60_000);

  it('a QoS 2 message within the budget is delivered once (the positive case)', async () => {
    const s = issuer.token({ scope: [['lamp/#', ['sub']]] });
    const sub = await connect(url, 'lamp-sub', password(s.token, s.key, 'lamp-sub'));
    const box = inbox(sub);
    await sub.subscribeAsync('lamp/#', { qos: 2 });
    const p = issuer.token({ scope: [['lamp/#', ['pub']]] });
    const pub = await connect(url, 'lamp-pub', password(p.token, p.key, 'lamp-pub'));
    await pub.publishAsync('lamp/1', 'on', { qos: 2 });
    await box.next(1);
    await sleep(200);
    expect(box.got.map((m) => m.payload.toString())).toEqual(['on']);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });
});
