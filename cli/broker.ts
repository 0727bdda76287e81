/**
 * `keybound broker serve`: argv parsing only; the work is broker/'s createBroker. Secrets (the
 * broker's introspection client secret) come from files, never argv.
 */
import {
  checkAuthzUrl,
  createBroker,
  MAX_KEYS_REFRESH_PERIOD_S,
  MAX_TRL_POLL_S,
  MIN_KEYS_REFRESH_PERIOD_S,
  MIN_TRL_POLL_S,
  MQTT_MAX_REMAINING_LENGTH,
  trustFromBytes,
  type KeyboundBroker,
} from '../broker/index.js';
import { createNodeLogger } from '../device/adapters/index.js';
import { EXIT, type CliIo } from './io.js';
import { stopSignal } from './stop-signal.js';
import { LOG_LEVEL_OPTION, logLevelOf } from './log-level.js';
import { parseCommandLine, UsageError, type OptionValues } from './command-line.js';
import { MAX_MATERIAL_FILE_BYTES, readableByOthers, readOptionFile, readSecretFile } from './option-file.js';
import { isLoopbackHost } from './loopback-host.js';
import { commandGroup, defineCommand } from './command-runner.js';

const BROKER_SERVE_SPEC = {
  name: 'broker serve',
  summary: 'Run the MQTT broker sidecar that admits clients by PoP token (username "ace").',
  config: true,
  options: {
    audience: { type: 'string', value: 'AUD', required: true, env: 'KEYBOUND_BROKER_AUDIENCE', help: "the broker's own audience: tokens for any other are refused" },
    trust: {
      type: 'string',
      value: 'FILE',
      required: true,
      env: 'KEYBOUND_BROKER_TRUST',
      help: "the broker's bundle (authz provision AUD) or the service's /keys or /jwks.json",
    },
    port: { type: 'string', value: 'PORT', default: '1883', help: 'MQTT TCP port (0: any free port)' },
    'ws-port': { type: 'string', value: 'PORT', help: 'also serve MQTT over WebSocket on this port' },
    host: { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address to listen on (0.0.0.0: every interface, for devices on the network)' },
    'authz-url': { type: 'string', value: 'https://HOST', help: 'the service, for introspection and revocation lists (https; http only on loopback)' },
    'authz-ca': { type: 'string', value: 'CA.pem', help: 'trust this private CA for --authz-url' },
    'client-id': { type: 'string', value: 'ID', help: "the broker's client id at the service (register-client --resource-server)" },
    'client-secret-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_BROKER_CLIENT_SECRET_FILE', help: 'file holding that client secret' },
    'trl-poll': { type: 'string', value: 'SECONDS', help: `poll the revocation lists this often, ${MIN_TRL_POLL_S} to ${MAX_TRL_POLL_S} (a day; 0: off; default 60)` },
    // The devices behind this broker: their signed lists (ace/trl/<aud>) and trust updates (ace/<aud>/trust) wait retained for their next wake.
    'device-audience': { type: 'string', multiple: true, value: 'AUD', help: 'a device this broker relays to: its revocation list and trust update are polled and kept retained' },
    'keys-refresh': { type: 'string', value: 'SECONDS', help: `re-read the service's /keys this often, ${MIN_KEYS_REFRESH_PERIOD_S} to ${MAX_KEYS_REFRESH_PERIOD_S} (a week), and on an unknown kid (0: off; default 300)` },
    redis: { type: 'string', value: 'redis://HOST:PORT', env: 'KEYBOUND_REDIS_URL', help: 'share sessions, replay records and budgets with the other brokers on this Redis (one server, not a Redis Cluster)' },
    'max-packet': { type: 'string', value: 'BYTES', default: '262144', help: 'largest MQTT packet from an admitted client' },
    'session-grace': {
      type: 'string',
      value: 'SECONDS',
      default: '86400',
      help: "how long past its token's expiry a persistent session (clean=false) keeps its queue and client id for its device's next token",
    },
    'admission-threads': { type: 'string', value: 'N', default: 'cores - 1, at most 2', help: 'worker threads that check CONNECT tokens and proofs off the event loop (0: on the loop)' },
    'metrics-port': { type: 'string', value: 'PORT', help: 'serve /healthz, /readyz and Prometheus /metrics over HTTP on this port' },
    'metrics-host': { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address of the metrics listener (loopback unless widened)' },
    ...LOG_LEVEL_OPTION,
  },
  examples: ['keybound broker serve --audience broker-1 --trust broker-1.cbor --port 1883'],
} as const;

export const brokerServeCommand = defineCommand(BROKER_SERVE_SPEC, async (input, io) => {
  const stop = stopSignal();
  const broker = await startBroker(input.values, io);
  stop.serving();
  // The same log the service writes: a supervisor tells a clean stop from a crash (walkthrough, stop 36).
  const logger = createNodeLogger({ name: 'broker', level: logLevelOf(input.values['log-level']), destination: io.stderr as { write(line: string): void } });
  const signal = await stop.stopped;
  logger.info({ event: 'stopping', signal }, `keybound broker serve: ${signal}: closing connections, then stopping`);
  await broker.close();
  logger.info({ event: 'stopped' }, 'keybound broker serve: stopped');
  return EXIT.ok;
});

const group = commandGroup('broker', 'The MQTT broker sidecar.', [brokerServeCommand]);

export const BROKER_USAGE = group.usage;

function port(value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`bad port ${JSON.stringify(value.slice(0, 10))}`);
  return n;
}

/** 0 (off) or whole seconds from min to max: a fraction of a second polls the service in a loop, and a period past Node's longest timer fired at once (README walkthrough). */
function isPeriod(value: string, min: number, max: number): boolean {
  if (!/^\d{1,9}$/.test(value)) return false;
  const n = Number(value);
  return n === 0 || (n >= min && n <= max);
}

/** Starts the broker and resolves with it (tests and embedders); `brokerCommand` waits for a signal. */
export async function brokerServe(args: string[], io: CliIo, env: Readonly<Record<string, string | undefined>> = process.env): Promise<KeyboundBroker> {
  const parsed = parseCommandLine(BROKER_SERVE_SPEC, args, env);
  if (parsed.kind !== 'run') throw new UsageError(`${parsed.kind} is not a broker`);
  return startBroker(parsed.values, io);
}

async function startBroker(values: OptionValues<typeof BROKER_SERVE_SPEC.options>, io: CliIo): Promise<KeyboundBroker> {
  const audience = values.audience!;
  const level = logLevelOf(values['log-level']);
  const metricsPort = port(values['metrics-port'], undefined);
  if (values['metrics-host'] && metricsPort === undefined) throw new UsageError('--metrics-host needs --metrics-port');
  const authzUrl = values['authz-url'];
  // First, before reading any file: a secret for a service in clear is a configuration error.
  if (authzUrl) checkAuthzUrl(authzUrl);
  if (values['authz-ca'] && !authzUrl) throw new UsageError('--authz-ca needs --authz-url');
  // The broker's own bundle (authz provision AUD), or the service's /keys or /jwks.json; a bundle
  // for another audience is refused when the broker builds its trust (broker/trust.ts).
  const trust = trustFromBytes(readOptionFile(values.trust!, '--trust', MAX_MATERIAL_FILE_BYTES), Date.now() / 1000);
  if (authzUrl && (!values['client-id'] || !values['client-secret-file'])) {
    throw new UsageError('--authz-url needs --client-id and --client-secret-file (the broker introspects as a registered client)');
  }
  const trlPoll = values['trl-poll'];
  if (trlPoll !== undefined && (!authzUrl || !isPeriod(trlPoll, MIN_TRL_POLL_S, MAX_TRL_POLL_S))) {
    throw new UsageError(`--trl-poll takes whole seconds from ${MIN_TRL_POLL_S} to ${MAX_TRL_POLL_S} (0: off) and needs --authz-url`);
  }
  const deviceAudiences = values['device-audience'];
  if (deviceAudiences && !authzUrl) throw new UsageError('--device-audience needs --authz-url (the lists are fetched from the service)');
  const keysRefresh = values['keys-refresh'];
  if (keysRefresh !== undefined && (!authzUrl || !isPeriod(keysRefresh, MIN_KEYS_REFRESH_PERIOD_S, MAX_KEYS_REFRESH_PERIOD_S))) {
    throw new UsageError(`--keys-refresh takes whole seconds from ${MIN_KEYS_REFRESH_PERIOD_S} to ${MAX_KEYS_REFRESH_PERIOD_S} (0: off) and needs --authz-url`);
  }
  const maxPacket = values['max-packet'];
  if (maxPacket !== undefined && !(/^\d{1,9}$/.test(maxPacket) && Number(maxPacket) >= 2 && Number(maxPacket) <= MQTT_MAX_REMAINING_LENGTH)) {
    throw new UsageError(`--max-packet takes bytes from 2 to ${MQTT_MAX_REMAINING_LENGTH}`);
  }
  const admissionThreads = values['admission-threads'];
  if (admissionThreads !== undefined && !(/^\d{1,2}$/.test(admissionThreads) && Number(admissionThreads) <= 64)) throw new UsageError('--admission-threads takes a number of threads from 0 to 64');
  const sessionGrace = values['session-grace'];
  // Up to a year: longer keeps every sleeping device's queue and client id out of reach for ever.
  if (sessionGrace !== undefined && !(/^\d{1,8}$/.test(sessionGrace) && Number(sessionGrace) <= 366 * 86400)) {
    throw new UsageError('--session-grace takes whole seconds from 0 to 31622400 (a year)');
  }
  const logger = createNodeLogger({ name: 'broker', level, destination: io.stderr as { write(line: string): void } });
  const broker = await createBroker({
    audience,
    trust,
    logger,
    ...(authzUrl
      ? {
          authzUrl,
          ...(values['authz-ca'] ? { authzCa: new TextDecoder().decode(readOptionFile(values['authz-ca'], '--authz-ca', MAX_MATERIAL_FILE_BYTES)) } : {}),
          introspection: { clientId: values['client-id']!, clientSecret: readSecretFile(values['client-secret-file']!, '--client-secret-file') },
          ...(trlPoll !== undefined ? { trlPollS: Number(trlPoll) } : {}),
          ...(deviceAudiences ? { deviceAudiences } : {}),
          ...(keysRefresh !== undefined ? { keysRefreshS: Number(keysRefresh) } : {}),
        }
      : {}),
    ...(values.redis ? { redis: values.redis } : {}),
    ...(maxPacket !== undefined ? { maxPacketBytes: Number(maxPacket) } : {}),
    ...(admissionThreads !== undefined ? { admissionThreads: Number(admissionThreads) } : {}),
    ...(sessionGrace !== undefined ? { sessionGraceS: Number(sessionGrace) } : {}),
  });
  const wsPort = port(values['ws-port'], undefined);
  let a: Awaited<ReturnType<KeyboundBroker['listen']>>;
  try {
    a = await broker.listen({
      port: port(values.port, 1883)!,
      ...(values.host ? { host: values.host } : {}),
      ...(wsPort !== undefined ? { wsPort } : {}),
      ...(metricsPort !== undefined ? { metricsPort, ...(values['metrics-host'] ? { metricsHost: values['metrics-host'] } : {}) } : {}),
    });
  } catch (e) {
    // A port in use (MQTT, WebSocket or metrics): close what did start, or the process never exits.
    await broker.close();
    throw e;
  }
  // stdout: the one human line scripts read (the URLs); logs are JSON lines on stderr.
  // Widened on purpose or not, the operator should know: the metrics name audiences and rates, unauthenticated.
  if (metricsPort !== undefined && !isLoopbackHost(values['metrics-host'] ?? '127.0.0.1')) {
    logger.warn({ event: 'metrics_exposed', host: values['metrics-host'] }, 'keybound broker serve: warning: /metrics is served without authentication off loopback (--metrics-host)');
  }
  // Without the service, nothing fetches revocation lists: a revoked token stays admitted until it
  // expires unless someone publishes the signed list to ace/trl/<audience> (README finding, stop 35).
  if (!authzUrl) {
    logger.warn({ event: 'no_revocation_source' }, `keybound broker serve: warning: no --authz-url: revocation lists are not fetched, so a revoked token is admitted until it expires unless its signed list is published to ace/trl/${audience}`);
  }
  if (!values.redis) {
    logger.info({ event: 'memory_store' }, 'keybound broker serve: sessions, queued and retained messages are kept in memory and lost at restart (--redis keeps them)');
  }
  const secretFile = values['client-secret-file'];
  if (authzUrl && secretFile && readableByOthers(secretFile)) {
    logger.warn({ event: 'secret_file_readable', option: 'client-secret-file' }, 'keybound broker serve: warning: --client-secret-file is readable by other users of this machine (chmod 600 it)');
  }
  io.stdout.write(`keybound broker for ${audience} listening on ${a.url}${a.wsUrl ? ` and ${a.wsUrl}` : ''}${a.metricsUrl ? `, metrics on ${a.metricsUrl}/metrics` : ''}${values.redis ? ' (sharing state through Redis)' : ''}\n`);
  return broker;
}

export function brokerCommand(args: string[], io: CliIo): Promise<number> {
  return group.run(args, io);
}
