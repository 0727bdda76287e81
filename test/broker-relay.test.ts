import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { fromUtf8, utf8 } from '../cose/index.js';
import {
  buildPopRequest,
  createResourceServer,
  decodeAuthzInfoResponse,
  decodeResponseBody,
  encodeEnvelope,
  loadProvisioningBundle,
  memoryStorage,
  requestToken,
  createConnectPassword,
} from '../device/index.js';
import { connectDeviceMqtt, deviceTopics } from '../device/adapters/index.js';
import { ACE_USERNAME, createBroker, type KeyboundBroker } from '../broker/index.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';
import { connect, createIssuer, ed25519, inbox, now, password, sleep } from './support/broker-fixture.js';

const TUBE = 'tube-7';
const deviceNow = 1_800_000_000;
const topics = deviceTopics(TUBE);
const brokerIssuer = createIssuer();
let broker: KeyboundBroker;
let url: string;
const log: string[] = [];

beforeAll(async () => {
  broker = await createBroker({ audience: 'broker-1', trust: brokerIssuer.trust, logger: (l) => log.push(l), relayRate: { burst: 3, perSecond: 0.001 } });
  url = (await broker.listen(0)).url;
});
afterAll(async () => broker.close());

/** The device's own PoP key at the broker: its persistent session is held by it (client-id-owners.ts). */
const deviceBrokerKey = ed25519('device');

/** The device's own broker token: read its topics, answer on res/+. */
function deviceCredentials(clientId: string) {
  const { token, key } = brokerIssuer.token({
    key: deviceBrokerKey,
    scope: [
      [topics.authzInfo, ['sub']],
      [topics.req, ['sub']],
      [`ace/${TUBE}/res/+`, ['pub']],
    ],
  });
  return { username: ACE_USERNAME, password: password(token, key, clientId) };
}

async function client(clientId: string, scope: Array<readonly [string, ReadonlyArray<'pub' | 'sub'>]>) {
  const { token, key } = brokerIssuer.token({ scope, sub: clientId });
  const c: MqttClient = await connect(url, clientId, password(token, key, clientId), { clean: false });
  const box = inbox(c);
  await c.subscribeAsync(topics.res(clientId), { qos: 1 });
  const send = (topic: string, body: Uint8Array) => c.publishAsync(topic, Buffer.from(encodeEnvelope(clientId, body)), { qos: 1 });
  return { c, box, send };
}

describe('relay to a sleeping device through the PoP broker', () => {
  it('queues a token and a request while the device sleeps and delivers them when it connects', async () => {
    const deviceIssuer = createFixtureIssuer(() => deviceNow);
    const storage = memoryStorage();
    const makeDevice = () =>
      createResourceServer({
        trust: loadProvisioningBundle(deviceIssuer.bundleFor(TUBE), deviceNow),
        storage,
        clock: () => deviceNow,
        handler: () => ({ code: 205, payload: utf8('21.5') }),
      });
    const clientId = `device-${TUBE}`;
    // First boot: a persistent session with QoS 1 subscriptions, then sleep.
    const first = await connectDeviceMqtt({ url, deviceId: TUBE, device: makeDevice(), connectOptions: { ...deviceCredentials(clientId), reconnectPeriod: 0 } });
    await first.close();

    const ekg = await client('ekg-1', [[topics.req, ['pub']]]);
    const key = ed25519Key('ekg-key');
    const { accessToken } = await requestToken(deviceIssuer.tokenEndpoint.bind(deviceIssuer), {
      grant: 'client_credentials',
      auth: { clientId: 'ekg-1', clientSecret: 'secret-ekg' },
      audience: TUBE,
      scope: [['/temp', 1]],
      popKey: key,
    });
    await ekg.send(topics.authzInfo, accessToken);
    const request = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };
    await ekg.send(topics.req, buildPopRequest({ token: accessToken, popKey: key, audience: TUBE, request, now: deviceNow }));
    // Someone admitted but with no scope for the device: its request never reaches the queue.
    const stranger = await client('stranger', [['sensors/#', ['pub']]]);
    await stranger.send(topics.req, buildPopRequest({ token: accessToken, popKey: key, audience: TUBE, request, now: deviceNow }));

    const device = await connectDeviceMqtt({ url, deviceId: TUBE, device: makeDevice(), connectOptions: { ...deviceCredentials(clientId), reconnectPeriod: 0 } });
    try {
      const got = await ekg.box.next(2, 5000);
      expect(decodeAuthzInfoResponse(new Uint8Array(got[0]!.payload))).toEqual({});
      const answer = decodeResponseBody(new Uint8Array(got[1]!.payload));
      expect(answer.code).toBe(205);
      expect(fromUtf8(answer.payload!)).toBe('21.5');
      await sleep(200);
      expect(stranger.box.got.length).toBe(0);
      expect(log.some((l) => l.includes('"stranger"') && l.includes(`"${topics.req}"`))).toBe(true);
    } finally {
      await device.close();
      await Promise.all([ekg.c.endAsync(), stranger.c.endAsync()]);
    }
  }, 20_000);

  it('lets anyone admitted deliver tokens to a device, rate-limited per client', async () => {
    const c = await client('courier', []);
    for (let i = 0; i < 5; i++) await c.send(topics.authzInfo, new Uint8Array([i]));
    await sleep(100);
    expect(log.filter((l) => l.includes('"courier"') && l.includes('authz-info rate limit')).length).toBe(2);
    await c.c.endAsync();
  });

  it('never keeps a token for a device as a retained message (it waits in the device session instead)', async () => {
    const courier = await client('courier-retain', []);
    await courier.c.publishAsync(deviceTopics('tube-retain').authzInfo, Buffer.from(encodeEnvelope('courier-retain', new Uint8Array([1]))), { qos: 1, retain: true });
    await sleep(100);
    const { token, key } = brokerIssuer.token({ scope: [[deviceTopics('tube-retain').authzInfo, ['sub']]] });
    const late = await connect(url, 'device-tube-retain', password(token, key, 'device-tube-retain'));
    const box = inbox(late);
    await late.subscribeAsync(deviceTopics('tube-retain').authzInfo, { qos: 1 });
    await sleep(300);
    expect(box.got).toEqual([]);
    await Promise.all([late.endAsync(), courier.c.endAsync()]);
  });

  it('does not let a client read responses addressed to another', async () => {
    const { token, key } = brokerIssuer.token({ scope: [], sub: 'eve' });
    const eve = await connect(url, 'eve', password(token, key, 'eve'));
    const { subackCodes } = await import('./support/broker-fixture.js');
    expect(await subackCodes(eve, { [topics.res('ekg-1')]: { qos: 1 }, [topics.res('eve')]: { qos: 1 } })).toEqual([128, 1]);
    await eve.endAsync();
  });

  it('reconnects a device after a dropped link with a fresh CONNECT proof, and keeps serving', async () => {
    const deviceIssuer = createFixtureIssuer(() => deviceNow);
    const clientId = `device-${TUBE}-r`;
    const { token, key } = brokerIssuer.token({
      scope: [
        [topics.authzInfo, ['sub']],
        [topics.req, ['sub']],
        [`ace/${TUBE}/res/+`, ['pub']],
      ],
    });
    let made = 0;
    const device = await connectDeviceMqtt({
      url,
      deviceId: TUBE,
      clientId,
      device: createResourceServer({
        trust: loadProvisioningBundle(deviceIssuer.bundleFor(TUBE), deviceNow),
        storage: memoryStorage(),
        clock: () => deviceNow,
        handler: () => ({ code: 205, payload: utf8('21.5') }),
      }),
      password: () => {
        made++;
        return createConnectPassword(token, key, { audience: 'broker-1', clientId, clock: now });
      },
      connectOptions: { reconnectPeriod: 100 },
    });
    try {
      const refusedBefore = log.filter((l) => l.includes(clientId) && /replay/i.test(l)).length;
      const reconnected = new Promise<void>((resolve) => device.client.once('connect', () => resolve()));
      device.client.stream.destroy(); // the radio link drops
      await reconnected;
      expect(made).toBeGreaterThanOrEqual(2);
      expect(log.filter((l) => l.includes(clientId) && /replay/i.test(l)).length).toBe(refusedBefore);
      // Still the device's session: a token delivered now is served.
      const ekg = await client('ekg-r', [[topics.req, ['pub']]]);
      const popKey = ed25519Key('ekg-key');
      const { accessToken } = await requestToken(deviceIssuer.tokenEndpoint.bind(deviceIssuer), {
        grant: 'client_credentials',
        auth: { clientId: 'ekg-1', clientSecret: 'secret-ekg' },
        audience: TUBE,
        scope: [['/temp', 1]],
        popKey,
      });
      await ekg.send(topics.authzInfo, accessToken);
      const got = await ekg.box.next(1, 5000);
      expect(decodeAuthzInfoResponse(new Uint8Array(got[0]!.payload))).toEqual({});
      await ekg.c.endAsync();
    } finally {
      await device.close();
    }
  }, 20_000);
});
