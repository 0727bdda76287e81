/**
 * `keybound device serve`: the device runtime as a program (issue 10). Argv parsing, the handler
 * module and the JSON-lines log only; the work is device/adapters' startDeviceHost. The client
 * secret comes from a file, never argv.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadProvisioningBundle, resourceModuleFlaw, type ResourceModule } from '../device/index.js';
import { createNodeLogger, LOG_LEVELS, startDeviceHost } from '../device/adapters/index.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { MAX_MATERIAL_FILE_BYTES, readOptionFile, readSecretFile } from './option-file.js';
import { logLevelOf } from './log-level.js';
import { oscoreContextInputOf, readOscoreConf } from './oscore-conf.js';
import { EXIT } from './io.js';
import { stopSignal } from './stop-signal.js';

async function loadHandler(file: string): Promise<ResourceModule> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
  } catch (e) {
    throw new UsageError(`--handler ${file}: cannot load it (${(e as Error).name}: ${(e as Error).message.slice(0, 200)})`);
  }
  const flaw = resourceModuleFlaw(mod.default);
  if (flaw) throw new UsageError(`--handler ${file}: ${flaw}`);
  return mod.default as ResourceModule;
}

function seconds(value: string | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 7 * 24 * 3600) throw new UsageError(`${what} takes whole seconds from 0 to 604800`);
  return n;
}

export const deviceServeCommand = defineCommand(
  {
    name: 'device serve',
    summary: 'Run a device: tokens, requests, revocation lists and trust updates through the broker relay, and CoAP with --coap-port.',
    config: true,
    options: {
      bundle: { type: 'string', value: 'FILE', required: true, env: 'KEYBOUND_DEVICE_BUNDLE', help: 'the provisioning bundle (authz provision DEVICE-ID)' },
      'data-dir': { type: 'string', value: 'DIR', required: true, env: 'KEYBOUND_DEVICE_DATA_DIR', help: 'where the device keeps its state (owner-only: it holds keys)' },
      broker: { type: 'string', value: 'mqtt://HOST:PORT', env: 'KEYBOUND_BROKER_URL', help: "the broker relay (default: the bundle's broker URL)" },
      'coap-port': { type: 'string', value: 'PORT', env: 'KEYBOUND_DEVICE_COAP_PORT', help: 'also serve CoAP over UDP on this port (5683 is CoAP\'s; 0: any free port, logged as coap_listening)' },
      'coap-host': { type: 'string', value: 'ADDRESS', default: '127.0.0.1', help: 'the address CoAP listens on (0.0.0.0 or :: to be reachable from the network)' },
      'oscore-conf': { type: 'string', value: 'FILE', env: 'KEYBOUND_DEVICE_OSCORE_CONF', help: "a static OSCORE context for CoAP, in libcoap's coap-oscore-conf format (the device's side: sender_id is the device's); needs --coap-port" },
      'coap-only': { type: 'boolean', help: 'serve CoAP only, no broker relay (needs --coap-port)' },
      handler: { type: 'string', value: 'FILE.js', help: 'the module whose default export defines the resources (default: a demo resource)' },
      'wake-every': { type: 'string', value: 'SECONDS', default: '300', help: 'sleep this long between wakes (0: stay connected)' },
      'awake-ms': { type: 'string', value: 'MS', default: '1500', help: 'stay awake until nothing arrived for this long' },
      'token-url': { type: 'string', value: 'URL', help: "the service's token endpoint, for the broker token (default: the bundle's as-url + /token)" },
      'client-id': { type: 'string', value: 'ID', help: "the device's client id at the service (default: the device id)" },
      'client-secret-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_DEVICE_CLIENT_SECRET_FILE', help: 'file holding that client secret (without it: CONNECT with no credentials)' },
      'broker-audience': { type: 'string', value: 'AUD', env: 'KEYBOUND_BROKER_AUDIENCE', help: "the broker's audience at the service (needed with --client-secret-file)" },
      // stdout, not stderr as the servers: the device prints no result line, its log is its output.
      'log-level': { type: 'string', value: 'LEVEL', env: 'LOG_LEVEL', default: 'info', help: `${LOG_LEVELS.join('|')}: JSON log lines on stdout at this level and above` },
    },
    examples: [
      'keybound device serve --bundle tube-123.cbor --data-dir ./tube-data --broker mqtt://broker:1883 --client-secret-file tube.secret --broker-audience broker-1',
      'keybound device serve --bundle tube-123.cbor --data-dir ./tube-data --coap-port 5683 --coap-host 0.0.0.0 --coap-only',
    ],
  },
  async ({ values }, io) => {
    const bundle = readOptionFile(values.bundle!, '--bundle', MAX_MATERIAL_FILE_BYTES);
    // Read once here for the URLs; the host checks it again (expiry, anchors) when it starts.
    const trust = loadProvisioningBundle(bundle, Math.floor(Date.now() / 1000));
    const coapPort = values['coap-port'] === undefined ? undefined : Number(values['coap-port']);
    if (coapPort !== undefined && (!Number.isInteger(coapPort) || coapPort < 0 || coapPort > 65535)) throw new UsageError('--coap-port takes a port from 0 to 65535');
    if (values['coap-only'] && coapPort === undefined) throw new UsageError('--coap-only needs --coap-port');
    if (values['coap-only'] && values.broker) throw new UsageError('--coap-only and --broker exclude each other');
    const brokerUrl = values['coap-only'] ? undefined : (values.broker ?? trust.brokerUrl);
    if (!brokerUrl && coapPort === undefined) throw new UsageError('--broker is needed: the bundle names no broker (or serve CoAP only: --coap-port P --coap-only)');
    if (brokerUrl && !/^mqtts?:\/\//.test(brokerUrl)) throw new UsageError('--broker must be an mqtt:// or mqtts:// URL');
    const wakeEvery = seconds(values['wake-every'], '--wake-every', 300);
    const awakeMs = Number(values['awake-ms'] ?? 1500);
    if (!Number.isInteger(awakeMs) || awakeMs < 100 || awakeMs > 600_000) throw new UsageError('--awake-ms takes milliseconds from 100 to 600000');
    let access;
    if (values['client-secret-file']) {
      const audience = values['broker-audience'];
      if (!audience) throw new UsageError('--client-secret-file needs --broker-audience');
      const tokenUrl = values['token-url'] ?? (trust.asUrl ? `${trust.asUrl.replace(/\/$/, '')}/token` : undefined);
      if (!tokenUrl) throw new UsageError('--token-url is needed: the bundle names no as-url');
      const url = new URL(tokenUrl);
      const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new UsageError('--token-url must be https (http only on loopback): the client secret goes there');
      access = { tokenUrl, clientId: values['client-id'] ?? trust.deviceId, clientSecret: readSecretFile(values['client-secret-file'], '--client-secret-file'), audience };
    }
    const module = values.handler ? await loadHandler(values.handler) : undefined;
    const logger = createNodeLogger({ name: 'device', level: logLevelOf(values['log-level']), destination: io.stdout as { write(line: string): void } });
    if (values['oscore-conf'] && coapPort === undefined) throw new UsageError('--oscore-conf needs --coap-port');
    const oscore = values['oscore-conf'] ? oscoreContextInputOf(readOscoreConf(values['oscore-conf'], '--oscore-conf', io)) : undefined;
    const coap = coapPort !== undefined ? { port: coapPort, host: values['coap-host'] ?? '127.0.0.1', ...(oscore ? { oscore } : {}) } : undefined;
    const signal = stopSignal();
    const host = await startDeviceHost({ bundle, dataDir: values['data-dir']!, ...(brokerUrl ? { brokerUrl } : {}), ...(coap ? { coap } : {}), wakeEvery, awakeMs, logger, ...(module ? { module } : {}), ...(access ? { access } : {}) });
    signal.serving();
    void signal.stopped.then(() => host.stop());
    await host.done;
    await host.stop();
    return EXIT.ok;
  },
);
