import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { fromUtf8, portableProvider, utf8 } from '../cose/index.js';
import {
  beginOscoreClient,
  buildPopRequest,
  createResourceServer,
  decodeAuthzInfoResponse,
  decodeResponseBody,
  encodeEnvelope,
  loadProvisioningBundle,
  memoryStorage,
  requestToken,
  type ResourceServer,
} from '../device/index.js';
import { connectDeviceMqtt, deviceTopics } from '../device/adapters/index.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';
import { startAedes, type AedesBroker } from './support/aedes-broker.js';

const TUBE = 'tube-123';
const now = 1_800_000_000;
const clock = () => now;
const topics = deviceTopics(TUBE);

let aedes: AedesBroker;
let url: string;

beforeAll(async () => {
  aedes = await startAedes();
  url = aedes.url;
});

afterAll(() => aedes.close());

/** A client that collects what arrives on its response topic. */
async function mqttClient(clientId: string) {
  const client: MqttClient = await connectAsync(url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
  const inbox: Uint8Array[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (_topic, payload) => {
    inbox.push(new Uint8Array(payload));
    waiters.splice(0).forEach((w) => w());
  });
  await client.subscribeAsync(topics.res(clientId), { qos: 1 });
  const next = async (timeoutMs = 5000): Promise<Uint8Array> => {
    const deadline = Date.now() + timeoutMs;
    while (inbox.length === 0) {
      if (Date.now() > deadline) throw new Error('no answer from the device');
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return inbox.shift()!;
  };
  const send = (topic: string, body: Uint8Array) => client.publishAsync(topic, Buffer.from(encodeEnvelope(clientId, body)), { qos: 1 });
  return { client, next, send };
}

describe('over a real aedes broker: a sleeping device gets what was sent while it slept', () => {
  it('serves a token and a request published while it was offline, then a protected session online', async () => {
    const issuer = createFixtureIssuer(clock);
    const storage = memoryStorage();
    const handler = () => ({ code: 205, payload: utf8('21.5') });
    const makeDevice = (): ResourceServer =>
      createResourceServer({ trust: loadProvisioningBundle(issuer.bundleFor(TUBE), now), storage, clock, handler });

    // First boot: the device subscribes once, so the broker keeps a session for it, then sleeps.
    const first = await connectDeviceMqtt({ url, deviceId: TUBE, device: makeDevice() });
    await first.close();

    // While it sleeps: a client posts its token and a PoP request (iat freshness, token by hash).
    const ekg = await mqttClient('ekg-1');
    const key = ed25519Key('ekg-key');
    const { accessToken } = await requestToken(issuer.tokenEndpoint.bind(issuer), {
      grant: 'client_credentials',
      auth: { clientId: 'ekg-1', clientSecret: 'secret-ekg' },
      audience: TUBE,
      scope: [['/temp', 1]],
      popKey: key,
    });
    await ekg.send(topics.authzInfo, accessToken);
    const request = { method: 'GET', resource: '/temp', payload: new Uint8Array(0) };
    await ekg.send(topics.req, buildPopRequest({ token: accessToken, popKey: key, audience: TUBE, request, now }));
    // A thief who saw the token on the broker, without the key:
    const thief = await mqttClient('thief');
    await thief.send(topics.req, buildPopRequest({ token: accessToken, popKey: ed25519Key('x'), audience: TUBE, request, now }));

    // The device wakes (a reboot: new runtime, same storage) and serves the queue in order.
    const device = await connectDeviceMqtt({ url, deviceId: TUBE, device: makeDevice() });
    try {
      expect(decodeAuthzInfoResponse(await ekg.next())).toEqual({});
      const answer = decodeResponseBody(await ekg.next());
      expect(answer.code).toBe(205);
      expect(fromUtf8(answer.payload!)).toBe('21.5');
      expect(decodeResponseBody(await thief.next())).toMatchObject({ code: 401, error: 'bad_proof' });

      // Online now: a symmetric token and a protected session through the broker.
      const sym = await requestToken(issuer.tokenEndpoint.bind(issuer), {
        grant: 'client_credentials',
        auth: { clientId: 'ekg-1', clientSecret: 'secret-ekg' },
        audience: TUBE,
        scope: [['/temp', 1]],
      });
      // RFC 9203 over the relay: POST /authz-info, then OSCORE-protected CoAP messages (the sealed
      // symmetric PoP key is the Master Secret, §3.2.1).
      const start = beginOscoreClient(sym.accessToken, { id: sym.popKey!.kid ?? new Uint8Array(0), ms: sym.popKey!.k! }, portableProvider);
      await ekg.send(topics.authzInfo, start.message);
      const client = start.finish(await ekg.next());
      const { message, binding } = client.request(request);
      await ekg.send(topics.req, message);
      const protectedAnswer = client.response(await ekg.next(), binding);
      expect(protectedAnswer).toMatchObject({ code: 205, authenticated: true });
    } finally {
      await device.close();
      await ekg.client.endAsync();
      await thief.client.endAsync();
    }
  }, 20_000);
});
