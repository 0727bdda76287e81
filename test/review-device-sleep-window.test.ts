/**
 * Review (rev2), the sleeping device's wake edges (issue 10 "nothing acknowledged is lost"): a
 * request that reaches the device in the instant it goes to sleep, or in the instant it wakes
 * (the broker hands over what waited right behind the CONNACK), must be answered, at once or at
 * a later wake (QoS 1: no PUBACK before it has been handled, RFC 9431 §4 relays over MQTT QoS 1).
 * The attack is timing: the app publishes exactly at `asleep` (queued by the broker, delivered
 * with the next CONNACK) and exactly at the end of the quiet window (while the device is ending
 * its session), many times. A real aedes broker on a real port, the real device host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { buildPopRequest, decodeAuthzInfoResponse, decodeResponseBody, encodeEnvelope, requestToken, type LogFields } from '../device/index.js';
import { startDeviceHost } from '../device/adapters/index.js';
import { createFixtureIssuer, ed25519Key } from './support/device-issuer.js';
import { startAedes, type AedesBroker } from './support/aedes-broker.js';

const TUBE = 'tube-sleepy';
const clock = () => Math.floor(Date.now() / 1000);
const ROUNDS = 12;
const AWAKE_MS = 150;

let aedes: AedesBroker;
let dir: string;
let proxy: net.Server;
let proxyUrl: string;

/**
 * The device's line to the broker, as a slow radio link delivers it: what the broker sends in the
 * first COALESCE_MS of a connection reaches the device in one read (CONNACK and the queued
 * messages together), the rest as it comes.
 */
const COALESCE_MS = 150;
function coalescingProxy(port: number): net.Server {
  return net.createServer((device) => {
    const upstream = net.connect(port, '127.0.0.1');
    device.pipe(upstream);
    const held: Buffer[] = [];
    let holding = true;
    upstream.on('data', (chunk: Buffer) => (holding ? held.push(chunk) : device.write(chunk)));
    setTimeout(() => {
      holding = false;
      if (held.length > 0 && !device.destroyed) device.write(Buffer.concat(held));
    }, COALESCE_MS);
    const close = () => (device.destroy(), upstream.destroy());
    upstream.on('close', close).on('error', close);
    device.on('close', close).on('error', close);
  });
}

beforeAll(async () => {
  aedes = await startAedes();
  proxy = coalescingProxy(aedes.port);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `mqtt://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'kb-sleep-window-'));
});

afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await aedes.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('review: a request published at the instant a sleeping device goes to sleep or wakes is answered', () => {
  it(`${ROUNDS} rounds of a request at "asleep" and one at the end of the quiet window: every one is answered`, async () => {
    const issuer = createFixtureIssuer(clock);
    const events: LogFields[] = [];
    const listeners = new Set<(e: LogFields) => void>();
    const record = (fields: LogFields) => {
      events.push(fields);
      for (const l of listeners) l(fields);
    };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const host = await startDeviceHost({
      bundle: issuer.bundleFor(TUBE),
      dataDir: join(dir, 'data'),
      brokerUrl: proxyUrl,
      wakeEvery: 1,
      awakeMs: AWAKE_MS,
      logger: { info: record, warn: record, error: record },
      clock,
    });
    const app: MqttClient = await connectAsync(aedes.url, { clientId: 'app', clean: true, protocolVersion: 4, reconnectPeriod: 0 });
    try {
      const answers: Uint8Array[] = [];
      app.on('message', (_t, payload) => answers.push(new Uint8Array(payload)));
      await app.subscribeAsync(`ace/${TUBE}/res/app`, { qos: 1 });
      const key = ed25519Key('app-key');
      const { accessToken } = await requestToken(issuer.tokenEndpoint.bind(issuer), {
        grant: 'client_credentials',
        auth: { clientId: 'app', clientSecret: 'secret-ekg' },
        audience: TUBE,
        scope: [['/result', 1]],
        popKey: key,
      });
      const send = (topic: string, body: Uint8Array) => app.publishAsync(topic, Buffer.from(encodeEnvelope('app', body)), { qos: 1 });
      const request = () => buildPopRequest({ token: accessToken, popKey: key, audience: TUBE, request: { method: 'GET', resource: '/result', payload: new Uint8Array(0) }, now: clock() });
      const waitFor = (event: string) =>
        new Promise<void>((resolve) => {
          const l = (e: LogFields) => e.event === event && (listeners.delete(l), resolve());
          listeners.add(l);
        });
      const until = async (what: () => boolean, label: string, ms = 60_000) => {
        const deadline = Date.now() + ms;
        while (!what()) {
          if (Date.now() > deadline) throw new Error(`${label}; device log: ${JSON.stringify(events.slice(-12))}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };

      await waitFor('asleep');
      await send(`ace/${TUBE}/authz-info`, accessToken);
      await until(() => answers.length === 1, 'the token was not answered');
      expect(decodeAuthzInfoResponse(answers[0]!)).toEqual({});

      let sent = 0;
      for (let round = 0; round < ROUNDS; round += 1) {
        // At the instant it goes to sleep: the broker queues it; it comes right behind the next CONNACK.
        await waitFor('asleep');
        await send(`ace/${TUBE}/req`, request());
        sent += 1;
        // At the end of the next quiet window: the device is ending its session as it arrives.
        await waitFor('awake');
        await new Promise((r) => setTimeout(r, AWAKE_MS - 10 + (round % 5) * 5));
        await send(`ace/${TUBE}/req`, request());
        sent += 1;
      }
      await until(() => answers.length === sent + 1, `${sent + 1 - answers.length} of ${sent} requests were never answered`);
      for (const a of answers.slice(1)) expect(decodeResponseBody(a)).toMatchObject({ code: 205 });
      // Nothing leaks per wake (one abort listener per sleep was never removed).
      expect(warnings.filter((w) => w.includes('MaxListenersExceeded'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await app.endAsync();
      await host.stop();
    }
  }, 120_000);
});
