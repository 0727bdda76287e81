/**
 * Adversarial review: one admitted key with scope to publish to a device's relay topic used up
 * the whole of the device's queue budget (QoS 1/2 bytes waiting in its persistent session), and
 * every other sender's requests and tokens to that device were dropped until it refilled. Each
 * sender (the token's signed subject, else its key) now gets a share of a device's budget; the device's budget still bounds
 * the total. A real broker on a real port, real mqtt.js clients and tokens.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, DEVICE_SENDER_SHARES, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, connect, createIssuer, inbox, password, sleep } from './support/broker-fixture.js';

const issuer = createIssuer();
const log: string[] = [];
let broker: KeyboundBroker;
let url: string;
const DEVICE_BURST = 16 * 1024;
const SIZE = 1000;
const open: MqttClient[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l), deviceQueueRate: { burst: DEVICE_BURST, perSecond: 0 } });
  url = (await broker.listen(0)).url;
});

afterAll(async () => {
  for (const c of open) c.end(true);
  await broker.close();
});

/** A device that subscribes on its request topic at QoS 1, then sleeps with its session kept. */
async function sleepingDevice(name: string) {
  const d = issuer.token({ scope: [[`ace/${name}/req`, ['sub']]] });
  const c = await connect(url, name, password(d.token, d.key, name), { clean: false });
  await c.subscribeAsync(`ace/${name}/req`, { qos: 1 });
  await c.endAsync();
  return async () => {
    const awake = await connect(url, name, password(d.token, d.key, name), { clean: false });
    open.push(awake);
    return inbox(awake);
  };
}

async function sender(clientId: string, device: string, sub?: string): Promise<MqttClient> {
  const { token, key } = issuer.token({ scope: [[`ace/${device}/req`, ['pub']]], ...(sub !== undefined ? { sub } : {}) });
  const c = await connect(url, clientId, password(token, key, clientId));
  open.push(c);
  return c;
}

describe('one sender cannot take a sleeping device’s whole queue budget', () => {
  it('a flooding key gets its share; a fair sender’s request still waits for the device', async () => {
    const wake = await sleepingDevice('tube-fair');
    const flood = await sender('flood-fair', 'tube-fair');
    for (let i = 0; i < 40; i++) await flood.publishAsync('ace/tube-fair/req', Buffer.alloc(SIZE, 1), { qos: 1 });
    const fair = await sender('fair-1', 'tube-fair');
    await fair.publishAsync('ace/tube-fair/req', Buffer.alloc(SIZE, 2), { qos: 1 });
    const box = await wake();
    await box.next(41, 2000);
    expect(box.got.filter((m) => m.payload[0] === 2).length).toBe(1);
    expect(box.got.filter((m) => m.payload[0] === 1).length).toBe(Math.floor(DEVICE_BURST / DEVICE_SENDER_SHARES / SIZE));
    expect(log.some((l) => l.includes('"flood-fair"') && l.includes('queue budget of the sender toward the device'))).toBe(true);
    expect(log.some((l) => l.includes('"fair-1"') && l.includes('queue budget'))).toBe(false);
  });

  it('the device’s own budget still bounds what all its senders queue together', async () => {
    const wake = await sleepingDevice('tube-total');
    const senders = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => sender(`many-senders-${i}`, 'tube-total')));
    for (const s of senders) for (let i = 0; i < 8; i++) await s.publishAsync('ace/tube-total/req', Buffer.alloc(SIZE), { qos: 1 });
    const box = await wake();
    await box.next(48, 2000);
    await sleep(100);
    expect(box.got.length * SIZE).toBeLessThanOrEqual(DEVICE_BURST);
    expect(box.got.length).toBe(Math.floor(DEVICE_BURST / SIZE));
    expect(log.some((l) => l.includes('"many-senders-') && l.includes('queue budget of the device'))).toBe(true);
  });

  // Review (stop 35): the share was per key, and a client picks its keys (the service binds a
  // token to each): four keys of one client took the device's whole budget.
  it('one client with a key (and token) per share still gets one share: another client’s request waits for the device', async () => {
    const wake = await sleepingDevice('tube-keys');
    const keys = await Promise.all([1, 2, 3, 4].map((i) => sender(`flood-keys-${i}`, 'tube-keys', 'flooder')));
    for (const k of keys) for (let i = 0; i < 8; i++) await k.publishAsync('ace/tube-keys/req', Buffer.alloc(SIZE, 1), { qos: 1 });
    const fair = await sender('fair-keys', 'tube-keys', 'ekg-7');
    await fair.publishAsync('ace/tube-keys/req', Buffer.alloc(SIZE, 2), { qos: 1 });
    const box = await wake();
    await box.next(Math.floor(DEVICE_BURST / DEVICE_SENDER_SHARES / SIZE) + 1, 2000);
    await sleep(100);
    expect(box.got.filter((m) => m.payload[0] === 2).length).toBe(1);
    expect(box.got.filter((m) => m.payload[0] === 1).length).toBe(Math.floor(DEVICE_BURST / DEVICE_SENDER_SHARES / SIZE));
    expect(log.some((l) => l.includes('"fair-keys"') && l.includes('queue budget'))).toBe(false);
  });
});
