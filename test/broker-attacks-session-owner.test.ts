/**
 * Adversarial review: a sleeping device's persistent session could be wiped by any key once the
 * device's token had expired. The client id's record (client-id-owners.ts) ended at the token's
 * expiry, so another admitted key connected under the id with clean=true and aedes dropped the
 * session with the tokens and requests queued for the device (MQTT 3.1.1 §3.1.2.4). The record of
 * a persistent session now lasts until its session ends (the token's expiry plus a grace), and a
 * newer token of the same signed subject still takes the id (a device after a key rotation).
 * A real broker on a real port, real mqtt.js clients and tokens.
 */
import type { ChildProcess } from 'node:child_process';
import { connect as mqttConnect, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACE_USERNAME, createBroker, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, closedWithin, connect, createIssuer, inbox, now, password, refusal, sleep } from './support/broker-fixture.js';
import { startRedis } from './support/redis-server.js';

const issuer = createIssuer();
const log: string[] = [];
const brokers: KeyboundBroker[] = [];
/** One broker in memory, one whose client-id records live in Redis (the script's rules). */
const urls: Record<'memory' | 'redis', string> = { memory: '', redis: '' };
let redis: ChildProcess;
const open: MqttClient[] = [];

beforeAll(async () => {
  const memory = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l) });
  const started = await startRedis();
  redis = started.process;
  const shared = await createBroker({ audience: AUDIENCE, trust: issuer.trust, logger: (l) => log.push(l), redis: started.url });
  brokers.push(memory, shared);
  urls.memory = (await memory.listen(0)).url;
  urls.redis = (await shared.listen(0)).url;
}, 30_000);

afterAll(async () => {
  for (const c of open) c.end(true);
  for (const b of brokers) await b.close();
  redis?.kill('SIGTERM');
});

/** The device wakes (clean=false): its inbox listens before CONNACK (aedes sends the queue right behind it). */
async function wake(url: string, id: string, pw: Buffer) {
  const client = mqttConnect(url, { clientId: id, username: ACE_USERNAME, password: pw, protocolVersion: 4, reconnectPeriod: 0, clean: false });
  open.push(client);
  const box = inbox(client);
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  return box;
}

describe.each(['memory', 'redis'] as const)('a sleeping device’s session outlives its token’s expiry for its own subject only (%s)', (store) => {
  const DEVICE = `tube-41-${store}`;
  const REQ = `ace/${DEVICE}/req`;

  it('another key cannot wipe or drain it after the token expired; the device’s new token (new key, same subject) gets it back', async () => {
    const exp = Math.floor(now()) + 2;
    const d = issuer.token({ scope: [[REQ, ['sub']]], sub: DEVICE, exp });
    const first = await connect(urls[store], DEVICE, password(d.token, d.key, DEVICE), { clean: false });
    await first.subscribeAsync(REQ, { qos: 1 });
    await first.endAsync(); // the device sleeps
    const c = issuer.token({ scope: [[REQ, ['pub']]] });
    const url = urls[store];
    const client = await connect(url, 'ekg-41', password(c.token, c.key, 'ekg-41'));
    open.push(client);
    await client.publishAsync(REQ, 'queued', { qos: 1 });
    while (now() < exp + 0.5) await sleep(100); // the device's token has expired while it sleeps

    for (const clean of [true, false]) {
      const x = issuer.token({ scope: [['junk/#', ['pub', 'sub']]] });
      expect(await refusal(connect(url, DEVICE, password(x.token, x.key, DEVICE), { clean }))).toBe(5);
      const y = issuer.token({ scope: [['junk/#', ['pub', 'sub']]], sub: 'someone-else' });
      expect(await refusal(connect(url, DEVICE, password(y.token, y.key, DEVICE), { clean }))).toBe(5);
    }
    expect(log.some((l) => l.includes(`refused CONNECT "${DEVICE}": not_authorized`))).toBe(true);

    // The legitimate path: the device, re-provisioned with a new key, and its signed subject.
    const fresh = issuer.token({ scope: [[REQ, ['sub']]], sub: DEVICE });
    const box = await wake(url, DEVICE, password(fresh.token, fresh.key, DEVICE));
    expect((await box.next(1, 3000)).map((m) => m.payload.toString())).toEqual(['queued']);
  }, 20_000);

  it('a new token of the same subject takes the id from its connected older key (no lock-out after a rotation)', async () => {
    const url = urls[store];
    const ID = `tube-42-${store}`;
    const old = issuer.token({ scope: [[`ace/${ID}/req`, ['sub']]], sub: ID });
    const before = await connect(url, ID, password(old.token, old.key, ID), { clean: false });
    open.push(before);
    const rotated = issuer.token({ scope: [[`ace/${ID}/req`, ['sub']]], sub: ID });
    const after = await connect(url, ID, password(rotated.token, rotated.key, ID), { clean: false });
    open.push(after);
    expect(await closedWithin(before, 3000)).toBe(true);
    expect(after.connected).toBe(true);
  });
});
