/**
 * Adversarial review: a persistent session (clean=false) in aedes' in-memory store never ended at
 * rest: long after its token had expired it kept its filters and kept queueing QoS 1/2 messages
 * for a client that might never come back. A session at rest now ends at its token's expiry plus
 * a grace (`sessionGraceS`, a day by default; one second here), and its client id is free again.
 * A real broker on a real port, real mqtt.js clients and tokens.
 */
import type { ChildProcess } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { connect, createIssuer, now, password, sleep, storedFilters, wakeDevice } from './support/broker-fixture.js';
import { startRedis } from './support/redis-server.js';

const stored = async (clientId: string): Promise<number> => (await storedFilters(broker, clientId)).length;

const issuer = createIssuer();
const log: string[] = [];
const GRACE_S = 1;
const open: MqttClient[] = [];
/** One broker with aedes' in-memory store, one on Redis (aedes-persistence-redis). */
const brokers = {} as Record<'memory' | 'redis', { broker: KeyboundBroker; url: string }>;
let redis: ChildProcess;
let broker: KeyboundBroker;
let url: string;

beforeAll(async () => {
  const started = await startRedis();
  redis = started.process;
  for (const store of ['memory', 'redis'] as const) {
    const b = await createBroker({ audience: 'broker-1', trust: issuer.trust, logger: (l) => log.push(l), sessionGraceS: GRACE_S, ...(store === 'redis' ? { redis: started.url } : {}) });
    brokers[store] = { broker: b, url: (await b.listen(0)).url };
  }
}, 30_000);
afterAll(async () => {
  for (const c of open) c.end(true);
  for (const { broker: b } of Object.values(brokers)) await b.close();
  redis?.kill('SIGTERM');
});

/** A device that subscribes at QoS 1 and sleeps with its session kept. */
async function sleeper(id: string, exp?: number) {
  const d = issuer.token({ scope: [[`ace/${id}/req`, ['sub']]], sub: id, ...(exp !== undefined ? { exp } : {}) });
  const c = await connect(url, id, password(d.token, d.key, id), { clean: false });
  await c.subscribeAsync(`ace/${id}/req`, { qos: 1 });
  await c.endAsync();
}

/** The device wakes (clean=false) with a new token (closed after the file's tests). */
async function wake(id: string) {
  const woke = await wakeDevice(issuer, url, id);
  open.push(woke.client);
  return woke;
}

describe.each(['memory', 'redis'] as const)('a persistent session at rest ends its grace after its token’s expiry (%s)', (store) => {
  beforeAll(() => {
    ({ broker, url } = brokers[store]);
  });

  it('its filters and queued messages are dropped and its id freed; a session whose token lives keeps its queue', async () => {
    const exp = Math.floor(now()) + 2;
    await sleeper(`tube-51-${store}`, exp);
    await sleeper(`tube-52-${store}`); // a token for an hour: its session stays
    const c = issuer.token({ scope: [['ace/+/req', ['pub']]] });
    const client = await connect(url, `ekg-51-${store}`, password(c.token, c.key, `ekg-51-${store}`));
    open.push(client);
    await client.publishAsync(`ace/tube-51-${store}/req`, 'queued', { qos: 1 });
    await client.publishAsync(`ace/tube-52-${store}/req`, 'queued', { qos: 1 });
    expect(await stored(`tube-51-${store}`)).toBe(1);

    while (now() < exp + GRACE_S + 1) await sleep(100);
    expect(await stored(`tube-51-${store}`)).toBe(0);
    expect(await stored(`tube-52-${store}`)).toBe(1);
    expect(log.some((l) => l.includes(`persistent session "tube-51-${store}" ended at rest`))).toBe(true);

    const ended = await wake(`tube-51-${store}`);
    expect(ended.sessionPresent).toBe(false);
    await sleep(300);
    expect(ended.box.got).toEqual([]);
    // The legitimate path: a session still in its token's life is there with what waited for it.
    const kept = await wake(`tube-52-${store}`);
    expect(kept.sessionPresent).toBe(true);
    expect((await kept.box.next(1)).map((m) => m.payload.toString())).toEqual(['queued']);
  }, 20_000);

  it('its id is free once the session ended: another key takes it', async () => {
    const exp = Math.floor(now()) + 2;
    await sleeper(`tube-53-${store}`, exp);
    while (now() < exp + GRACE_S + 1) await sleep(100);
    const x = issuer.token({ scope: [['junk/#', ['sub']]] });
    const other = await connect(url, `tube-53-${store}`, password(x.token, x.key, `tube-53-${store}`));
    open.push(other);
    expect(other.connected).toBe(true);
  }, 20_000);
});
