/**
 * Review of issue 9, finding 4 (bounded queued bytes): a retained message is stored bytes, in
 * memory or in Redis, whatever its QoS. An admitted client with an ordinary scope publishes QoS 0
 * retained messages of 200 KB on many topics of its scope; before this fix only QoS 1/2 bytes
 * came out of its key's byte budget, so a QoS 0 retained publish stored any amount (up to 1000
 * topics per token, 100,000 per broker, 256 KiB each). Against `keybound broker serve` as its own
 * process (bin/keybound.js), with mqtt.js clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createIssuer, inbox, password, sleep } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { jsonLines, stop } from './support/processes.js';

const issuer = createIssuer();
let broker: BrokerProcess;
let url: string;

beforeAll(async () => {
  broker = await serveBroker(trustFile(issuer.trust));
  url = broker.url;
}, 60_000);

afterAll(async () => stop(broker?.proc));

/** What a subscriber to `filter` is handed as retained messages now. */
async function retainedUnder(filter: string, id: string): Promise<number[]> {
  const t = issuer.token({ scope: [[filter, ['sub']]] });
  const reader = await connect(url, id, password(t.token, t.key, id));
  const box = inbox(reader);
  await reader.subscribeAsync(filter, { qos: 0 });
  await box.next(100, 1500);
  await reader.endAsync();
  return box.got.filter((m) => m.retain).map((m) => m.payload.length);
}

describe('retained bytes come out of the publisher key’s byte budget, at any QoS', () => {
  const SIZE = 200 * 1024;
  const TOPICS = 20; // 4 MB, four times the default client burst (1 MiB)

  it('QoS 0 retained messages past the budget are delivered but not kept', async () => {
    const w = issuer.token({ scope: [['hoard/#', ['sub']]] });
    const watcher = await connect(url, 'hoard-watcher', password(w.token, w.key, 'hoard-watcher'));
    const live = inbox(watcher);
    await watcher.subscribeAsync('hoard/#', { qos: 0 });
    const { token, key } = issuer.token({ scope: [['hoard/#', ['pub']]] });
    const c = await connect(url, 'hoarder', password(token, key, 'hoarder'));
    for (let i = 0; i < TOPICS; i++) await c.publishAsync(`hoard/${i}`, Buffer.alloc(SIZE, i), { qos: 0, retain: true });
    await c.endAsync();
    expect((await live.next(TOPICS, 5000)).length).toBe(TOPICS); // QoS 0 delivery is not budgeted
    await watcher.endAsync();
    const kept = await retainedUnder('hoard/#', 'hoard-reader');
    expect(kept.length).toBeGreaterThan(0); // the positive case: within the budget, retained as usual
    expect(kept.length * SIZE).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024); // DEFAULT_CLIENT_QUEUE_RATE: burst + a few seconds of refill
    expect(jsonLines(broker.stderr).some((l) => l.event === 'retain_refused' && l.clientId === 'hoarder' && /^hoard\/\d+$/.test(String(l.topic)) && l.reason === 'queue_budget')).toBe(true);
  }, 30_000);

  it('a small QoS 0 retained message of another key is still kept (its own budget)', async () => {
    const { token, key } = issuer.token({ scope: [['lamp/#', ['pub']]] });
    const c = await connect(url, 'lamp', password(token, key, 'lamp'));
    await c.publishAsync('lamp/state', 'on', { qos: 0, retain: true });
    await c.endAsync();
    await sleep(100);
    expect(await retainedUnder('lamp/#', 'lamp-reader')).toEqual([2]);
  });
});
