/**
 * The device's MQTT transport (mqtt.js), outside the lean core. The device keeps a persistent
 * session (clean: false, a fixed client id, QoS 1 subscriptions), so the broker queues what is
 * sent while it sleeps and delivers it when it wakes (DESIGN.md "MQTT"):
 * - `ace/<device>/authz-info`: tokens, in an envelope [client id, authz-info body];
 * - `ace/<device>/req`: requests (OSCORE-protected CoAP messages or PoP requests), same envelope;
 * - `ace/<device>/res/<client>`: the device's answers, QoS 1;
 * - `ace/trl/<audience>`: the service's signed revocation list (retained).
 * Messages are served one at a time in arrival order; the core is synchronous.
 */
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { safeAudienceName } from '../../cose/index.js';
import { ACE_USERNAME, decodeEnvelope, serveAuthzInfo, serveRequest, type ResourceServer } from '../index.js';

/**
 * The device's topics. Its id and audience stand in one topic level each by their safe name
 * (cose/audience-id.ts): a URI audience such as `coaps://rs.example.com` is `coaps:%2F%2Frs.example.com`,
 * never extra levels or a wildcard.
 */
export function deviceTopics(deviceId: string, audience = deviceId) {
  const device = safeAudienceName(deviceId);
  return {
    authzInfo: `ace/${device}/authz-info`,
    req: `ace/${device}/req`,
    res: (clientId: string) => `ace/${device}/res/${clientId}`,
    trl: `ace/trl/${safeAudienceName(audience)}`,
  };
}

export interface DeviceMqttOptions {
  url: string;
  deviceId: string;
  device: ResourceServer;
  /** Fixed, so the broker keeps the session across sleeps (default `device-<deviceId>`). */
  clientId?: string;
  /**
   * The CONNECT password for the keybound broker, made anew for every connect and reconnect:
   * a proof is single-use, so a reconnect with the first one would be refused as a replay. Use
   * `createConnectPassword` (username `ace` is set for you).
   */
  password?: () => Uint8Array;
  /** Extra mqtt.js options (keepalive, a static password for another broker...). */
  connectOptions?: IClientOptions;
  /** Told about messages that could not be served at all (never about tokens' contents). */
  onError?: (error: unknown, topic: string) => void;
}

export interface DeviceMqttConnection {
  client: MqttClient;
  /** Resolves when every message received so far has been answered. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function connectDeviceMqtt(opts: DeviceMqttOptions): Promise<DeviceMqttConnection> {
  const topics = deviceTopics(opts.deviceId, opts.device.audience);
  const fresh = opts.password;
  const client = await connectAsync(opts.url, {
    clientId: opts.clientId ?? `device-${safeAudienceName(opts.deviceId)}`,
    clean: false,
    protocolVersion: 4, // aedes speaks MQTT 3.1.1
    reconnectPeriod: 1000,
    ...(fresh ? { username: ACE_USERNAME, password: Buffer.from(fresh()) } : {}),
    ...opts.connectOptions,
  });
  // mqtt.js builds each reconnect's CONNECT from client.options: give it a new proof first.
  if (fresh) client.on('reconnect', () => void (client.options.password = Buffer.from(fresh())));
  let queue: Promise<void> = Promise.resolve();

  const handle = async (topic: string, payload: Uint8Array): Promise<void> => {
    if (topic === topics.trl) {
      opts.device.applyRevocationList(payload);
      return;
    }
    const { clientId, body } = decodeEnvelope(payload);
    const answer = topic === topics.authzInfo ? serveAuthzInfo(opts.device, body) : serveRequest(opts.device, body);
    await client.publishAsync(topics.res(clientId), Buffer.from(answer), { qos: 1 });
  };

  client.on('message', (topic, message) => {
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.length).slice();
    queue = queue.then(() => handle(topic, bytes)).catch((error) => opts.onError?.(error, topic));
  });

  const granted = await client.subscribeAsync({ [topics.authzInfo]: { qos: 1 }, [topics.req]: { qos: 1 }, [topics.trl]: { qos: 1 } });
  if (granted.some((g) => g.qos > 2)) throw new Error('the broker refused the device subscriptions');

  return {
    client,
    idle: async () => {
      let seen: Promise<void>;
      do {
        seen = queue;
        await seen;
      } while (seen !== queue);
    },
    close: async () => {
      await queue;
      await client.endAsync();
    },
  };
}
