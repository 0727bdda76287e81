/**
 * The ACE-OSCORE exchange (RFC 9203 §4.1–4.3) over the broker relay, for a device that sleeps:
 * the real service (SQLite, HTTP) issues a coap_oscore token, the client publishes the §4.1 map on
 * `ace/<device>/authz-info` while the device is offline, the device (a real MQTT connection to an
 * aedes broker, persistent session) wakes, answers 2.01 {nonce2, ace_server_recipientid} on
 * `ace/<device>/res/<client>`, both ends hold the same OSCORE context, and an OSCORE-protected
 * GET on `ace/<device>/req` is served (2.05). A replayed post (same nonce1) and a replayed request
 * are refused 4.01 through the relay too.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { ACE_PROFILE, decodeCoapMessage, encodeCoapMessage, toHex, utf8 } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import {
  beginOscoreClient,
  createResourceServer,
  decodeAuthzInfoAnswer,
  encodeEnvelope,
  memoryStorage,
  trustStoreFromBundle,
  type ResourceServer,
} from '../device/index.js';
import { connectDeviceMqtt, deviceTopics } from '../device/adapters/index.js';
import { startAedes, type AedesBroker } from './support/aedes-broker.js';
import { startDeviceService, type DeviceService } from './support/device-service.js';

const TUBE = 'tube-relay';
const now = 1_800_000_000;
const clock = () => now;
const topics = deviceTopics(TUBE);

let aedes: AedesBroker;
let service: DeviceService;
beforeAll(async () => {
  [aedes, service] = await Promise.all([startAedes(), startDeviceService({ audience: TUBE, clients: ['ekg'], lifetime: 600, aceProfile: ACE_PROFILE.coap_oscore, clock })]);
});
afterAll(async () => {
  await aedes.close();
  await service.close();
});

async function mqttClient(clientId: string) {
  const client: MqttClient = await connectAsync(aedes.url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
  const inbox: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  client.on('message', (_t, payload) => {
    inbox.push(new Uint8Array(payload));
    wake?.();
  });
  await client.subscribeAsync(topics.res(clientId), { qos: 1 });
  const next = async (): Promise<Uint8Array> => {
    for (let i = 0; i < 100 && inbox.length === 0; i++) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
    if (inbox.length === 0) throw new Error('no answer from the device');
    return inbox.shift()!;
  };
  const send = (topic: string, body: Uint8Array) => client.publishAsync(topic, Buffer.from(encodeEnvelope(clientId, body)), { qos: 1 });
  return { client, next, send };
}

describe('RFC 9203 /authz-info over the broker relay', () => {
  it('a post queued while the device sleeps sets up the same context at both ends; a replay is refused', async () => {
    const storage = memoryStorage();
    const device = (): ResourceServer =>
      createResourceServer({
        trust: trustStoreFromBundle(service.bundle, now),
        storage,
        clock,
        handler: () => ({ code: 205, payload: utf8('21.5') }),
      });
    // First boot: the persistent session is made, then the device sleeps.
    await (await connectDeviceMqtt({ url: aedes.url, deviceId: TUBE, device: device() })).close();

    const ekg = await mqttClient('ekg');
    const t = await service.issue('ekg');
    // RFC 9203 §4.1 as a CoAP POST /authz-info message: the same bytes a CoAP client sends over UDP.
    const begun = beginOscoreClient(t.accessToken, (t.cnf as { osc: never }).osc, nativeProvider);
    await ekg.send(topics.authzInfo, begun.message);

    const dev = device();
    const conn = await connectDeviceMqtt({ url: aedes.url, deviceId: TUBE, device: dev });
    try {
      const answer = decodeCoapMessage(await ekg.next());
      expect(answer.code).toBe(0x41); // 2.01 Created
      const oscore = begun.finish(encodeCoapMessage(answer));
      const server = dev.oscoreContexts.lookup(decodeAuthzInfoAnswer(answer.payload).serverRecipientId)!.context.ctx;
      const c = oscore.context;
      expect(toHex(c.senderKey)).toBe(toHex(server.recipientKey));
      expect(toHex(c.recipientKey)).toBe(toHex(server.senderKey));
      expect(toHex(c.senderId)).toBe(toHex(server.recipientId));

      // The same OSCORE-protected CoAP messages as over UDP, as the payload of ace/<device>/req.
      const get = oscore.request({ method: 'GET', resource: '/result', payload: new Uint8Array(0) });
      await ekg.send(topics.req, get.message);
      const served = oscore.response(await ekg.next(), get.binding);
      expect(served).toMatchObject({ code: 205, authenticated: true });
      expect(new TextDecoder().decode(served.payload)).toBe('21.5');
      // A captured request replayed through the broker: 4.01 Replay detected.
      await ekg.send(topics.req, get.message);
      expect(oscore.response(await ekg.next(), get.binding)).toMatchObject({ code: 401, error: 'Replay detected' });

      // Someone on the broker replays the same post: refused (4.01), and no second context.
      await ekg.send(topics.authzInfo, begun.message);
      expect(decodeCoapMessage(await ekg.next()).code).toBe(0x81);
      expect(dev.oscoreContexts.size).toBe(1);
    } finally {
      await conn.close();
      await ekg.client.endAsync();
    }
  }, 20_000);
});
