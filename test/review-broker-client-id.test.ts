/**
 * Review: a client id's session is not taken over without its key. The broker refused a second
 * key only while the holder was connected to the same broker process, so:
 * - at a second broker of the cluster, any admitted client connecting under a connected victim's
 *   client id was admitted, and aedes' cluster rule ($SYS/<id>/new/clients) closed the victim;
 * - a sleeping device's persistent session was anyone's: connecting under its id with clean=true
 *   wiped its subscriptions, with clean=false drained the QoS 1 tokens and requests waiting for it
 *   (aedes clears queued messages the new holder may not receive).
 * Two `keybound broker serve` processes (bin/keybound.js) on one redis-server, mqtt.js clients,
 * one broker killed with SIGKILL and started again.
 */
import type { ChildProcess } from 'node:child_process';
import { connect as mqttConnect } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { ACE_USERNAME } from '../broker/index.js';
import { AUDIENCE, closedWithin, connect, createIssuer, inbox, password, refusal, sleep } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { startRedis } from './support/redis-server.js';
import { stop } from './support/processes.js';

const issuer = createIssuer();
const trust = trustFile(issuer.trust);
let redis: ChildProcess;
let redisUrl: string;
const brokers: Record<'A' | 'B', BrokerProcess | undefined> = { A: undefined, B: undefined };

async function serve(name: 'A' | 'B'): Promise<void> {
  brokers[name] = await serveBroker(trust, ['--redis', redisUrl]);
}
const url = (name: 'A' | 'B') => brokers[name]!.url;

beforeAll(async () => {
  ({ process: redis, url: redisUrl } = await startRedis());
  await Promise.all([serve('A'), serve('B')]);
}, 60_000);

afterAll(async () => {
  await stop(brokers.A?.proc);
  await stop(brokers.B?.proc);
  redis?.kill('SIGTERM');
});

/**
 * The device wakes (clean=false): its inbox listens before CONNACK, since aedes sends what was
 * queued right behind it (mqtt.js may emit it before connectAsync's caller runs).
 */
async function wake(at: string, id: string, pw: Buffer) {
  const client = mqttConnect(at, { clientId: id, username: ACE_USERNAME, password: pw, protocolVersion: 4, reconnectPeriod: 0, clean: false });
  const box = inbox(client);
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  return { client, box };
}

/** An admitted client with a scope that has nothing to do with the victim. */
const attacker = () => issuer.token({ scope: [['junk/#', ['pub', 'sub']]] });

describe('a connected client id is not taken over at another broker of the cluster', () => {
  it('another key under the victim’s id at broker B is refused (CONNACK 5); the victim at A stays connected', async () => {
    const v = issuer.token({ scope: [['plant/#', ['sub']]] });
    const victim = await connect(url('A'), 'plant-ctl', password(v.token, v.key, 'plant-ctl'));
    await sleep(200);
    const x = attacker();
    expect(await refusal(connect(url('B'), 'plant-ctl', password(x.token, x.key, 'plant-ctl')))).toBe(5);
    expect(await closedWithin(victim, 1000)).toBe(false);
    // The positive case: the victim's own key moves its session to B (aedes closes the one at A).
    const moved = await connect(url('B'), 'plant-ctl', password(v.token, v.key, 'plant-ctl'));
    expect(await closedWithin(victim, 3000)).toBe(true);
    await moved.endAsync();
  }, 20_000);
});

describe('a sleeping device’s persistent session is not anyone’s', () => {
  const DEVICE = 'device-tube-31';
  const REQ = 'ace/tube-31/req';
  const d = issuer.token({ scope: [[REQ, ['sub']]] });

  it('another key cannot wipe it (clean) or drain it (persistent), at either broker, nor after a broker is killed and restarted', async () => {
    const first = await connect(url('A'), DEVICE, password(d.token, d.key, DEVICE), { clean: false });
    await first.subscribeAsync(REQ, { qos: 1 });
    await first.endAsync(); // the device sleeps
    await sleep(200);
    const c = issuer.token({ scope: [[REQ, ['pub']]] });
    const client = await connect(url('B'), 'ekg-31', password(c.token, c.key, 'ekg-31'));
    await client.publishAsync(REQ, 'queued-1', { qos: 1 });

    for (const [at, clean] of [['A', false], ['B', false], ['A', true], ['B', true]] as const) {
      const x = attacker();
      expect(await refusal(connect(url(at), DEVICE, password(x.token, x.key, DEVICE), { clean }))).toBe(5);
    }
    // kill -9 and start again: the session's owner is remembered in Redis, not in the process.
    brokers.A!.proc.kill('SIGKILL');
    await new Promise((r) => brokers.A!.proc.once('exit', r));
    await serve('A');
    const x = attacker();
    expect(await refusal(connect(url('A'), DEVICE, password(x.token, x.key, DEVICE), { clean: false }))).toBe(5);

    await client.publishAsync(REQ, 'queued-2', { qos: 1 });
    await client.endAsync();
    // The device wakes (its own key): everything that waited for it is there.
    const awake = await wake(url('A'), DEVICE, password(d.token, d.key, DEVICE));
    expect((await awake.box.next(2, 5000)).map((m) => m.payload.toString())).toEqual(['queued-1', 'queued-2']);
    await awake.client.endAsync();
  }, 60_000);

  it('once the device’s token is revoked, another key may take the id (the positive case)', async () => {
    const admin = issuer.token({ scope: [] });
    const a1 = await connect(url('B'), 'trl-31', password(admin.token, admin.key, 'trl-31'));
    await a1.publishAsync(`ace/trl/${AUDIENCE}`, Buffer.from(issuer.revoke(AUDIENCE, tokenHash(d.token, nativeProvider))), { qos: 1 });
    await a1.endAsync();
    await sleep(300);
    const fresh = issuer.token({ scope: [[REQ, ['sub']]] }); // the device, re-provisioned with a new key
    const again = await connect(url('A'), DEVICE, password(fresh.token, fresh.key, DEVICE), { clean: false });
    await again.endAsync();
  }, 20_000);
});

describe('a first comer cannot squat a client’s name', () => {
  it('a token whose signed subject is the client id takes the id from a holder whose subject is not; not the reverse', async () => {
    const ID = 'device-tube-33';
    const x = attacker(); // no subject: the service never named it device-tube-33
    const squat = await connect(url('A'), ID, password(x.token, x.key, ID), { clean: false });
    await squat.endAsync(); // its persistent session at rest holds the id
    const d = issuer.token({ scope: [['ace/tube-33/req', ['sub']]], sub: ID });
    const device = await connect(url('B'), ID, password(d.token, d.key, ID), { clean: false });
    const y = attacker();
    expect(await refusal(connect(url('A'), ID, password(y.token, y.key, ID)))).toBe(5);
    expect(await closedWithin(device, 500)).toBe(false);
    await device.endAsync();
  }, 20_000);
});

describe('one broker without Redis (the record lives in the process)', () => {
  let single: BrokerProcess | undefined;
  let singleUrl: string;
  beforeAll(async () => {
    single = await serveBroker(trust);
    singleUrl = single.url;
  }, 60_000);
  afterAll(async () => stop(single?.proc));

  it('a sleeping device’s queued request survives another key’s CONNECT under its id', async () => {
    const REQ = 'ace/tube-32/req';
    const d = issuer.token({ scope: [[REQ, ['sub']]] });
    const first = await connect(singleUrl, 'device-tube-32', password(d.token, d.key, 'device-tube-32'), { clean: false });
    await first.subscribeAsync(REQ, { qos: 1 });
    await first.endAsync();
    await sleep(200); // the broker has closed the device's connection: what follows is queued
    const c = issuer.token({ scope: [[REQ, ['pub']]] });
    const client = await connect(singleUrl, 'ekg-32', password(c.token, c.key, 'ekg-32'));
    await client.publishAsync(REQ, 'queued', { qos: 1 });
    await client.endAsync();
    await sleep(200);
    for (const clean of [false, true]) {
      const x = attacker();
      expect(await refusal(connect(singleUrl, 'device-tube-32', password(x.token, x.key, 'device-tube-32'), { clean }))).toBe(5);
    }
    const awake = await wake(singleUrl, 'device-tube-32', password(d.token, d.key, 'device-tube-32'));
    expect((await awake.box.next(1, 3000)).map((m) => m.payload.toString())).toEqual(['queued']);
    await awake.client.endAsync();
  }, 20_000);

  it('a clean session’s id is free once it closes (the positive case)', async () => {
    const first = issuer.token({ scope: [['junk/#', ['sub']]] });
    await (await connect(singleUrl, 'shared-id', password(first.token, first.key, 'shared-id'))).endAsync();
    await sleep(100);
    const x = attacker();
    await (await connect(singleUrl, 'shared-id', password(x.token, x.key, 'shared-id'))).endAsync();
  });
});
