/**
 * Adversarial review: when a retained message outlived its publisher's token (RFC 9431 §6), the
 * broker cleared it by publishing an empty retained PUBLISH, and MQTT 3.1.1 §3.3.1.3 delivers that
 * to every live subscriber: each one received a spurious empty message the publisher never sent.
 * The broker now clears its store without routing anything. A real broker on a real port, real
 * mqtt.js clients and tokens.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, RETAINED_SWEEP_MS, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, connect, createIssuer, inbox, now, password, sleep } from './support/broker-fixture.js';

const issuer = createIssuer();
let broker: KeyboundBroker;
let url: string;
const open: MqttClient[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: () => {} });
  url = (await broker.listen(0)).url;
});

afterAll(async () => {
  for (const c of open) c.end(true);
  await broker.close();
});

async function subscriber(id: string, filter: string) {
  const w = issuer.token({ scope: [[filter, ['sub']]] });
  const c = await connect(url, id, password(w.token, w.key, id));
  open.push(c);
  const box = inbox(c);
  await c.subscribeAsync(filter, { qos: 1 });
  return box;
}

describe('clearing an expired retained message is not a message (MQTT 3.1.1 §3.3.1.3, RFC 9431 §6)', () => {
  it('a live subscriber gets the retained publish once, and nothing when it expires; a later subscriber gets nothing retained', async () => {
    const live = await subscriber('clear-live', 'lamp/#');
    const exp = Math.floor(now()) + 2;
    const p = issuer.token({ scope: [['lamp/7/state', ['pub']]], exp });
    const lamp = await connect(url, 'lamp-7', password(p.token, p.key, 'lamp-7'));
    open.push(lamp);
    await lamp.publishAsync('lamp/7/state', 'on', { qos: 1, retain: true });
    await live.next(1);
    // The positive case: while the token lives, a subscriber arriving later is handed it.
    const before = await subscriber('clear-before', 'lamp/7/state');
    expect((await before.next(1)).map((m) => [m.payload.toString(), m.retain])).toEqual([['on', true]]);
    while (now() < exp + (2 * RETAINED_SWEEP_MS) / 1000 + 0.5) await sleep(100); // expired, and swept
    expect(live.got.map((m) => m.payload.toString())).toEqual(['on']);
    expect(before.got.map((m) => m.payload.toString())).toEqual(['on']);
    const after = await subscriber('clear-after', 'lamp/7/state');
    await sleep(300);
    expect(after.got).toEqual([]);
  }, 15_000);
});
