/**
 * `keybound broker serve`: argv parsing only; the work is broker/'s createBroker. Secrets (the
 * broker's introspection client secret) come from files, never argv.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { checkAuthzUrl, createBroker, MQTT_MAX_REMAINING_LENGTH, trustFromBytes, type KeyboundBroker } from '../broker/index.js';
import { createNodeLogger } from '../device/adapters/index.js';
import { EXIT, type CliIo } from './io.js';
import { LOG_LEVEL_HELP, LOG_LEVEL_OPTION, logLevelOf } from './log-level.js';

export const BROKER_USAGE = `keybound broker serve --audience AUD --trust AUD.cbor|AUD.json|keys.cbor|jwks.json [--port 1883] [--ws-port P] [--host 127.0.0.1]
      [--authz-url https://HOST --client-id ID --client-secret-file F [--authz-ca CA.pem] [--trl-poll SECONDS]] [--redis redis://host:port]
      [--max-packet BYTES (admitted clients; default 262144)] [--metrics-port P [--metrics-host 127.0.0.1]] [--log-level L]
  --trust is the broker's own bundle (authz provision AUD) or the service's /keys or /jwks.json.
  --authz-url must be https (http only on loopback); --authz-ca trusts a private CA for it.
  --metrics-port serves /healthz, /readyz and Prometheus /metrics over HTTP, on loopback unless --metrics-host.
  ${LOG_LEVEL_HELP}.`;

class UsageError extends Error {}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is required`);
  return value;
}

function port(value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`bad port ${JSON.stringify(value.slice(0, 10))}`);
  return n;
}

/** Starts the broker and resolves with it (tests and embedders); `brokerCommand` waits for a signal. */
export async function brokerServe(args: string[], io: CliIo): Promise<KeyboundBroker> {
  const { values } = parseArgs({
    args,
    options: {
      audience: { type: 'string' },
      trust: { type: 'string' },
      port: { type: 'string' },
      'ws-port': { type: 'string' },
      host: { type: 'string' },
      'authz-url': { type: 'string' },
      'authz-ca': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret-file': { type: 'string' },
      'trl-poll': { type: 'string' },
      redis: { type: 'string' },
      'max-packet': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      ...LOG_LEVEL_OPTION,
    },
  });
  const audience = need(values.audience, '--audience');
  const level = logLevelOf(values['log-level']);
  if (typeof level !== 'string') throw new UsageError(level.error);
  const metricsPort = port(values['metrics-port'], undefined);
  if (values['metrics-host'] && metricsPort === undefined) throw new UsageError('--metrics-host needs --metrics-port');
  const authzUrl = values['authz-url'];
  // First, before reading any file: a secret for a service in clear is a configuration error.
  if (authzUrl) checkAuthzUrl(authzUrl);
  if (values['authz-ca'] && !authzUrl) throw new UsageError('--authz-ca needs --authz-url');
  // The broker's own bundle (authz provision AUD), or the service's /keys or /jwks.json; a bundle
  // for another audience is refused when the broker builds its trust (broker/trust.ts).
  const trust = trustFromBytes(new Uint8Array(readFileSync(need(values.trust, '--trust'))), Date.now() / 1000);
  if (authzUrl && (!values['client-id'] || !values['client-secret-file'])) {
    throw new UsageError('--authz-url needs --client-id and --client-secret-file (the broker introspects as a registered client)');
  }
  const trlPoll = values['trl-poll'];
  if (trlPoll !== undefined && (!authzUrl || !(Number(trlPoll) >= 0))) throw new UsageError('--trl-poll takes seconds (0: off) and needs --authz-url');
  const maxPacket = values['max-packet'];
  if (maxPacket !== undefined && !(/^\d{1,9}$/.test(maxPacket) && Number(maxPacket) >= 2 && Number(maxPacket) <= MQTT_MAX_REMAINING_LENGTH)) {
    throw new UsageError(`--max-packet takes bytes from 2 to ${MQTT_MAX_REMAINING_LENGTH}`);
  }
  const broker = await createBroker({
    audience,
    trust,
    logger: createNodeLogger({ name: 'broker', level, destination: io.stderr as { write(line: string): void } }),
    ...(authzUrl
      ? {
          authzUrl,
          ...(values['authz-ca'] ? { authzCa: readFileSync(values['authz-ca'], 'utf8') } : {}),
          introspection: { clientId: values['client-id']!, clientSecret: readFileSync(values['client-secret-file']!, 'utf8').trim() },
          ...(trlPoll !== undefined ? { trlPollS: Number(trlPoll) } : {}),
        }
      : {}),
    ...(values.redis ? { redis: values.redis } : {}),
    ...(maxPacket !== undefined ? { maxPacketBytes: Number(maxPacket) } : {}),
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
  io.stdout.write(`keybound broker for ${audience} listening on ${a.url}${a.wsUrl ? ` and ${a.wsUrl}` : ''}${a.metricsUrl ? `, metrics on ${a.metricsUrl}/metrics` : ''}${values.redis ? ' (Redis cluster mode)' : ''}\n`);
  return broker;
}

export async function brokerCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub !== 'serve') {
      io.stderr.write(`keybound broker: expected serve\n${BROKER_USAGE}\n`);
      return EXIT.usage;
    }
    const broker = await brokerServe(rest, io);
    await new Promise<void>((resolve) => {
      const stop = () => void broker.close().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return EXIT.ok;
  } catch (e) {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    const code = (e as { code?: string }).code;
    io.stderr.write(`keybound broker ${sub ?? ''}: ${(e as Error).message}${code && !usage ? ` (${code})` : ''}\n`);
    return usage ? EXIT.usage : EXIT.failed;
  }
}
