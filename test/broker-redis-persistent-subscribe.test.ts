/**
 * A sleeping device's persistent session on a broker with Redis (the as-deployed failure of issue
 * 10): the device connects clean=false and subscribes, in ONE SUBSCRIBE at QoS 1, to its
 * authz-info, req, its audience's retained ace/trl/<aud> and its ace/<dev>/trust. aedes stored a
 * multi-filter SUBSCRIBE once per filter and aedes-persistence-redis waited for each store under
 * one shared key, so no SUBACK ever came (broker/subscription-writes.ts). Real aedes, a real
 * Debian redis-server, mqtt.js with the device's connect options.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as mqttConnect, type MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import { ACE_USERNAME } from '../device/index.js';
import { createBroker, SUBSCRIPTION_WRITE_WAIT_MS, type KeyboundBroker } from '../broker/index.js';
import { createIssuer, password, subackCodes, type TokenSpec } from './support/broker-fixture.js';
import { startRedis } from './support/redis-server.js';
import type { CoseKey } from '../cose/index.js';

const DEVICE = 'tube-1';
const CLIENT_ID = `device-${DEVICE}`;
const FILTERS = { [`ace/${DEVICE}/authz-info`]: { qos: 1 }, [`ace/${DEVICE}/req`]: { qos: 1 }, [`ace/trl/${DEVICE}`]: { qos: 1 }, [`ace/${DEVICE}/trust`]: { qos: 1 } } as const;
const DEVICE_SCOPE: TokenSpec['scope'] = [[`ace/${DEVICE}/#`, ['pub', 'sub']], [`ace/trl/${DEVICE}`, ['sub']]];
const issuer = createIssuer();
let redis: Awaited<ReturnType<typeof startRedis>>;
let broker: KeyboundBroker;
let url: string;
let retainedList: Uint8Array;

beforeAll(async () => {
  redis = await startRedis();
  broker = await createBroker({ audience: 'broker-1', trust: issuer.trust, redis: redis.url, deviceAudiences: [DEVICE] });
  url = (await broker.listen(0)).url;
  retainedList = issuer.revoke(DEVICE, new Uint8Array(32).fill(7));
  await broker.publishRevocationList(DEVICE, retainedList);
}, 60_000);

afterAll(async () => {
  await broker?.close();
  redis?.process.kill('SIGKILL');
});

/** The device's connect options (device/adapters/mqtt-transport.ts); messages heard from the first packet on. */
async function deviceConnect(key: CoseKey, scope = DEVICE_SCOPE) {
  const { token } = issuer.token({ scope, key, sub: CLIENT_ID });
  const client = mqttConnect(url, { clientId: CLIENT_ID, clean: false, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, username: ACE_USERNAME, password: password(token, key, CLIENT_ID) });
  const got: Array<{ topic: string; payload: Buffer }> = [];
  client.on('message', (topic, payload) => got.push({ topic, payload }));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return { client, got };
}

/** SUBACK return codes, or 'no SUBACK' after 20 s (the bug: the broker never answers). */
async function subscribe(client: MqttClient, filters: Record<string, { qos: 0 | 1 }>): Promise<number[] | 'no SUBACK'> {
  return Promise.race([subackCodes(client, filters), new Promise<'no SUBACK'>((r) => setTimeout(() => r('no SUBACK'), 20_000))]);
}

async function until<T>(f: () => T | undefined, ms = 15_000): Promise<T | undefined> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const v = f();
    if (v !== undefined) return v;
  }
  return undefined;
}

describe('a device persistent session on a Redis broker', () => {
  const key = issuer.token({ scope: DEVICE_SCOPE }).key;

  it('gets its SUBACK for one QoS 1 SUBSCRIBE of authz-info, req, the retained TRL and trust, and the retained list', async () => {
    const { client, got } = await deviceConnect(key);
    expect(await subscribe(client, FILTERS)).toEqual([1, 1, 1, 1]);
    const trl = await until(() => got.find((m) => m.topic === `ace/trl/${DEVICE}`));
    expect(trl && new Uint8Array(trl.payload)).toEqual(retainedList);
    await client.endAsync();
  }, 60_000);

  it('keeps the session: a request sent while the device sleeps arrives when it reconnects', async () => {
    const app = issuer.token({ scope: [[`ace/${DEVICE}/req`, ['pub']]] });
    const pub = mqttConnect(url, { clientId: 'app-1', protocolVersion: 4, reconnectPeriod: 0, username: ACE_USERNAME, password: password(app.token, app.key, 'app-1') });
    await new Promise((r, j) => (pub.once('connect', r), pub.once('error', j)));
    await pub.publishAsync(`ace/${DEVICE}/req`, Buffer.from('while asleep'), { qos: 1 });
    await pub.endAsync();
    const { client, got } = await deviceConnect(key);
    const req = await until(() => got.find((m) => m.topic === `ace/${DEVICE}/req`));
    expect(req?.payload.toString()).toBe('while asleep');
    // Resubscribing on the restored session is answered too (the device does it at every wake).
    expect(await subscribe(client, FILTERS)).toEqual([1, 1, 1, 1]);
    await client.endAsync();
  }, 60_000);

  it('answers a SUBSCRIBE mixing granted and refused filters, and stores only the granted ones', async () => {
    const { client } = await deviceConnect(key);
    const codes = await subscribe(client, { [`ace/${DEVICE}/req`]: { qos: 1 }, 'plant/secret': { qos: 1 }, [`ace/${DEVICE}/authz-info`]: { qos: 1 } });
    expect(codes).toEqual([1, 0x80, 1]);
    const db = new Redis(redis.url);
    try {
      const stored = await db.hkeys(`client:${encodeURIComponent(CLIENT_ID)}`);
      expect(stored).toContain(`ace/${DEVICE}/req`);
      expect(stored).not.toContain('plant/secret');
    } finally {
      db.disconnect();
    }
    await client.endAsync();
  }, 60_000);

  it('a Redis that stalls its writes during a SUBSCRIBE: the broker closes the connection within its bound, not never, and the device subscribes once Redis is back', async () => {
    // Carried from stop 39: a SUBSCRIBE whose persistence write never completes was never
    // answered. CLIENT PAUSE ... WRITE holds every write command, the broker's HSET and its
    // confirming PUBLISH included, for longer than the bound (SUBSCRIPTION_WRITE_WAIT_MS).
    const PAUSE_MS = SUBSCRIPTION_WRITE_WAIT_MS + 15_000;
    const { client } = await deviceConnect(key);
    const admin = new Redis(redis.url);
    try {
      const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
      await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
      const started = Date.now();
      const outcome = await Promise.race([subscribe(client, FILTERS).then((codes) => ({ codes })), closed.then((at) => ({ closedAfterMs: at - started }))]);
      expect(outcome).toMatchObject({ closedAfterMs: expect.any(Number) });
      expect((outcome as { closedAfterMs: number }).closedAfterMs).toBeGreaterThanOrEqual(SUBSCRIPTION_WRITE_WAIT_MS - 500);
      expect((outcome as { closedAfterMs: number }).closedAfterMs).toBeLessThan(SUBSCRIPTION_WRITE_WAIT_MS + 5_000);
      client.end(true);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      admin.disconnect();
    }
    // Redis back: the same device's next wake is answered.
    const again = await deviceConnect(key);
    expect(await subscribe(again.client, FILTERS)).toEqual([1, 1, 1, 1]);
    await again.client.endAsync();
  }, 60_000);
});
