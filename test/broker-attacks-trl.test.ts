/**
 * Issue 9, finding 1: revocation lists never go backwards. Two brokers of a cluster share one
 * redis-server; an admitted client re-publishes an older signed list for a device's audience at
 * the second broker, and at a broker after a restart. Each refuses it, the retained list stays
 * the newer one, and a device fed from the retained topic keeps refusing the revoked token.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCwt,
  createRevocationList,
  encodeProvisioningBundle,
  publicCoseKey,
  tokenHash,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createResourceServer, DEVICE_ERR, DeviceError, loadProvisioningBundle, memoryStorage } from '../device/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { connect, createIssuer, ed25519, inbox, ISSUER, now, password, sleep } from './support/broker-fixture.js';
import { startRedis } from './support/redis-server.js';

const TUBE = 'tube-123';
const TOPIC = `ace/trl/${TUBE}`;
const issuer = createIssuer();
let redis: ChildProcess;
let redisUrl: string;
let a: KeyboundBroker;
let b: KeyboundBroker;
const log: string[] = [];

const brokerOn = (name: string) => createBroker({ audience: 'broker-1', trust: issuer.trust, redis: redisUrl, logger: (l) => log.push(`${name} ${l}`) });

beforeAll(async () => {
  ({ process: redis, url: redisUrl } = await startRedis());
  a = await brokerOn('A');
  b = await brokerOn('B');
  await a.listen(0);
  await b.listen(0);
}, 30_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  redis?.kill('SIGTERM');
});

// The device tube-123, provisioned with the service's key, and a client's token for it.
const clientKey: CoseKey = ed25519('ekg');
const deviceToken = createCwt(
  { iss: ISSUER, aud: TUBE, iat: Math.floor(now()), exp: Math.floor(now()) + 3600, cnf: { coseKey: publicCoseKey(clientKey) }, scope: [['/temp', 1]] },
  issuer.signingKey,
  { provider: nativeProvider },
);
const revoked = tokenHash(deviceToken, nativeProvider);
const list = (sequence: number, fullSet: Uint8Array[]) => createRevocationList({ audience: TUBE, sequence, fullSet }, issuer.signingKey, { provider: nativeProvider });

function device() {
  const bundle = encodeProvisioningBundle({ version: 1, deviceId: TUBE, audience: TUBE, issuer: ISSUER, trustAnchors: [publicCoseKey(issuer.signingKey)], asUrl: `${ISSUER}/token` });
  return createResourceServer({ trust: loadProvisioningBundle(bundle, now()), storage: memoryStorage(), clock: now, handler: () => ({ code: 205 }) });
}

function verdict(dev: ReturnType<typeof device>): string {
  try {
    dev.authzInfo({ token: deviceToken });
    return 'accepted';
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
}

/** What a device waking up now reads on its list topic at `broker` (the retained list). */
async function retainedList(broker: KeyboundBroker, id: string): Promise<Buffer[]> {
  const { url } = await broker.listen(0);
  const t = issuer.token({ scope: [['tube/#', ['sub']]] });
  const client = await connect(url, id, password(t.token, t.key, id));
  const box = inbox(client);
  await client.subscribeAsync(TOPIC, { qos: 1 });
  await box.next(1, 1000);
  await client.endAsync();
  return box.got.filter((m) => m.retain).map((m) => m.payload);
}

/** An admitted client of `broker` (any scope: lists are open to all) re-publishes `signed`, retained. */
async function replay(broker: KeyboundBroker, id: string, signed: Uint8Array): Promise<void> {
  const { url } = await broker.listen(0);
  const t = issuer.token({ scope: [['x/#', ['pub']]] });
  const client = await connect(url, id, password(t.token, t.key, id));
  await client.publishAsync(TOPIC, Buffer.from(signed), { qos: 1, retain: true });
  await client.endAsync();
}

describe('an older signed list never replaces a newer one, across the cluster and restarts', () => {
  const older = list(1, []);
  const newer = list(2, [revoked]);

  it('the device serves the token before the revocation (the positive case)', () => {
    const dev = device();
    dev.applyRevocationList(older);
    expect(verdict(dev)).toBe('accepted');
  });

  it('a second broker of the cluster refuses the older list, even published at once after the newer', async () => {
    await a.publishRevocationList(TUBE, newer); // the service, at broker A
    await replay(b, 'attacker-b', older); // no wait: B may not have heard of it through mq yet
    await sleep(200);
    const [kept] = await retainedList(b, 'tube-at-b');
    expect(Buffer.from(newer).equals(kept!)).toBe(true);
    expect(log.some((l) => l.startsWith('B ') && l.includes('"attacker-b"') && l.includes('revocation list refused (replay)'))).toBe(true);
    const dev = device();
    dev.applyRevocationList(kept!);
    expect(verdict(dev)).toBe(DEVICE_ERR.REVOKED);
    expect(() => dev.applyRevocationList(older)).toThrow(/not newer/);
  });

  it('a restarted broker reads back every retained list and refuses the older one', async () => {
    await b.close();
    b = await brokerOn('B2');
    await replay(b, 'attacker-b2', older);
    await sleep(200);
    expect(log.some((l) => l.startsWith('B2 ') && l.includes('"attacker-b2"') && l.includes('revocation list refused (replay)'))).toBe(true);
    for (const [broker, id] of [[b, 'tube-at-b2'], [a, 'tube-at-a']] as const) {
      const [kept] = await retainedList(broker, id);
      expect(Buffer.from(newer).equals(kept!)).toBe(true);
      const dev = device(); // a device that slept through everything
      dev.applyRevocationList(kept!);
      expect(verdict(dev)).toBe(DEVICE_ERR.REVOKED);
    }
  });

  const newest = list(3, [revoked, new Uint8Array(32).fill(7)]);

  it('a newer list is still taken at any broker (the positive case)', async () => {
    await replay(b, 'relay-b2', newest);
    await sleep(200);
    const [kept] = await retainedList(a, 'tube-at-a-2');
    expect(Buffer.from(newest).equals(kept!)).toBe(true);
  });

  it('an older list that lands last in the shared store (two brokers taking lists at once) is replaced by the newest again', async () => {
    // The outcome of the race, forced: broker A's own publish bypasses the hooks, as a list
    // A took an instant before it heard of the newer one would.
    await new Promise<void>((resolve, reject) =>
      a.aedes.publish({ cmd: 'publish', topic: TOPIC, payload: Buffer.from(older), qos: 1, retain: true, dup: false }, (e) => (e ? reject(e) : resolve())),
    );
    await sleep(300);
    const [kept] = await retainedList(a, 'tube-at-a-3');
    expect(Buffer.from(newest).equals(kept!)).toBe(true);
    expect(log.some((l) => l.startsWith('B2 ') && l.includes('retained again'))).toBe(true);
  });
});

describe('across the cluster, a revoked client’s retained messages end with its token (finding 5)', () => {
  it('a peer that never saw the client clears them when the list arrives (the owner travels in the sidecar)', async () => {
    const c = await brokerOn('C');
    const { url: urlC } = await c.listen(0);
    const lamp = issuer.token({ scope: [['lamp/1/#', ['pub']]] });
    const client = await connect(urlC, 'lamp-c', password(lamp.token, lamp.key, 'lamp-c'));
    await client.publishAsync('lamp/1/state', 'on', { qos: 1, retain: true });
    await client.endAsync();
    await sleep(200);
    await c.close(); // only B is left to act
    const { url: urlB } = await b.listen(0);
    const read = async (id: string) => {
      const t = issuer.token({ scope: [['lamp/#', ['sub']]] });
      const r = await connect(urlB, id, password(t.token, t.key, id));
      const box = inbox(r);
      await r.subscribeAsync('lamp/1/state', { qos: 1 });
      await box.next(1, 500);
      await r.endAsync();
      return box.got.map((m) => m.payload.toString());
    };
    expect(await read('lamp-reader-1')).toEqual(['on']); // the positive case
    await b.publishRevocationList('broker-1', issuer.revoke('broker-1', tokenHash(lamp.token, nativeProvider)));
    await sleep(200);
    expect(await read('lamp-reader-2')).toEqual([]);
  });
});
