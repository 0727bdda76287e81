/**
 * `keybound authz serve | register-device | register-client | provision`: argv parsing only; the
 * work is done by authz/'s command functions, which tests call directly.
 */
import { parseArgs } from 'node:util';
import { authzServe, provision, registerClientCommand, registerDevice } from '../authz/index.js';
import { createNodeLogger } from '../device/adapters/index.js';
import { EXIT, type CliIo } from './io.js';
import { LOG_LEVEL_HELP, LOG_LEVEL_OPTION, logLevelOf } from './log-level.js';
import { readKeyFile } from './inspect.js';

export const AUTHZ_USAGE = `keybound authz serve --data-dir DIR [--port 8080] [--host 127.0.0.1] [--issuer URL] [--admin-token-file F] [--tls-cert CERT.pem --tls-key KEY.pem] [--metrics-token-file F] [--log-level L]
      /healthz, /readyz and Prometheus /metrics on the same port; /metrics needs the metrics token as Bearer, or a loopback peer without one.
      ${LOG_LEVEL_HELP}.
  keybound authz register-device ID --data-dir DIR [--protection sign1|mac0|encrypt0] [--clockless] [--reference-tokens] [--untagged-tokens] [--scope S ...] [--exchange-from AUD ...] [--rs-key KEY-FILE]
  keybound authz register-client ID --data-dir DIR [--secret-file F] [--public-key KEY-FILE] [--audience AUD ...] [--scope S ...] [--grant-type G ...] [--redirect-uri URI ...] [--resource-server]
  keybound authz provision DEVICE-ID --data-dir DIR --out bundle.cbor|bundle.json --issuer URL [--as-url URL] [--broker-url URL]`;

const COMMON = { 'data-dir': { type: 'string' } } as const;

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is required`);
  return value;
}

class UsageError extends Error {}

async function readFile(file: string): Promise<Uint8Array> {
  const { readFileSync } = await import('node:fs');
  return new Uint8Array(readFileSync(file));
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

async function readSecret(file: string | undefined): Promise<string | undefined> {
  if (!file) return undefined;
  const { readFileSync } = await import('node:fs');
  // Secrets come from files, never argv: argv is visible to every user of the machine.
  return readFileSync(file, 'utf8').trim();
}

export async function authzCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'serve': {
        const { values } = parseArgs({
          args: rest,
          options: {
            ...COMMON,
            port: { type: 'string' },
            host: { type: 'string' },
            issuer: { type: 'string' },
            'admin-token-file': { type: 'string' },
            // HTTPS: client secrets, passwords, codes and tokens never cross the network in clear.
            'tls-cert': { type: 'string' },
            'tls-key': { type: 'string' },
            // Prometheus' bearer credential for /metrics; a file, as every secret.
            'metrics-token-file': { type: 'string' },
            ...LOG_LEVEL_OPTION,
          },
        });
        const level = logLevelOf(values['log-level']);
        if (typeof level !== 'string') throw new UsageError(level.error);
        const metricsToken = await readSecret(values['metrics-token-file']);
        const logger = createNodeLogger({ name: 'authz', level, destination: io.stderr as { write(line: string): void } });
        if (!values['tls-cert'] !== !values['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
        const adminToken = await readSecret(values['admin-token-file']);
        const tls = values['tls-cert'] ? { cert: await readFile(values['tls-cert']), key: await readFile(values['tls-key']!) } : undefined;
        const { url, server } = await authzServe({
          dataDir: need(values['data-dir'], '--data-dir'),
          port: values.port ? Number(values.port) : 8080,
          ...(values.host ? { host: values.host } : {}),
          ...(values.issuer ? { issuer: values.issuer } : {}),
          ...(adminToken ? { adminToken } : {}),
          ...(tls ? { tls } : {}),
          ...(metricsToken ? { metricsToken } : {}),
          logger,
        });
        // stdout: the one human line scripts read (the URL); logs are JSON lines on stderr.
        io.stdout.write(`keybound authorization service listening on ${url}\n`);
        if (!tls && !isLoopbackHost(values.host ?? '127.0.0.1')) {
          logger.warn({ event: 'plain_http' }, 'keybound authz serve: warning: plain HTTP off loopback; secrets cross the network in clear unless a TLS proxy is in front (--tls-cert/--tls-key)');
        }
        await new Promise<void>((resolve) => {
          const stop = () => void server.close().then(resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return EXIT.ok;
      }
      case 'register-device': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            ...COMMON,
            protection: { type: 'string' },
            clockless: { type: 'boolean' },
            'reference-tokens': { type: 'boolean' },
            // Tokens without CWT tag 61 (RFC 8392 §6), for peers that cannot read it (e.g. ruby-cose).
            'untagged-tokens': { type: 'boolean' },
            scope: { type: 'string', multiple: true },
            'exchange-from': { type: 'string', multiple: true },
            // The device's own public key, returned to clients as rs_cnf (RFC 9201) so they can authenticate it.
            'rs-key': { type: 'string' },
          },
        });
        const protection = values.protection;
        if (protection && !['sign1', 'mac0', 'encrypt0'].includes(protection)) throw new UsageError('--protection is sign1, mac0 or encrypt0');
        const { id } = await registerDevice({
          dataDir: need(values['data-dir'], '--data-dir'),
          id: need(positionals[0], 'the device id'),
          ...(protection ? { protection: protection as 'sign1' } : {}),
          ...(values.clockless ? { clockless: true } : {}),
          ...(values['reference-tokens'] ? { referenceTokens: true } : {}),
          ...(values['untagged-tokens'] ? { untaggedTokens: true } : {}),
          ...(values.scope ? { scopes: values.scope } : {}),
          ...(values['exchange-from'] ? { exchangeFrom: values['exchange-from'] } : {}),
          ...(values['rs-key'] ? { rsKey: readKeyFile(values['rs-key']) } : {}),
        });
        io.stdout.write(`registered device ${id}\n`);
        return EXIT.ok;
      }
      case 'register-client': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            ...COMMON,
            'secret-file': { type: 'string' },
            // A COSE_Key or JWK file: the client authenticates with COSE-signed assertions, no shared secret.
            'public-key': { type: 'string' },
            audience: { type: 'string', multiple: true },
            scope: { type: 'string', multiple: true },
            'grant-type': { type: 'string', multiple: true },
            'redirect-uri': { type: 'string', multiple: true },
            // A device's gateway or a broker that introspects its audiences' tokens (RFC 7662 §4); it asks no tokens itself.
            'resource-server': { type: 'boolean' },
          },
        });
        const secret = await readSecret(values['secret-file']);
        const { id } = await registerClientCommand({
          dataDir: need(values['data-dir'], '--data-dir'),
          id: need(positionals[0], 'the client id'),
          ...(secret ? { secret } : {}),
          ...(values['public-key'] ? { publicKey: readKeyFile(values['public-key']) } : {}),
          ...(values.audience ? { audiences: values.audience } : {}),
          ...(values.scope ? { scopes: values.scope } : {}),
          ...(values['resource-server'] ? { resourceServer: true, grantTypes: (values['grant-type'] ?? []) as never } : values['grant-type'] ? { grantTypes: values['grant-type'] as never } : {}),
          ...(values['redirect-uri'] ? { redirectUris: values['redirect-uri'] } : {}),
        });
        io.stdout.write(`registered client ${id}\n`);
        return EXIT.ok;
      }
      case 'provision': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { ...COMMON, out: { type: 'string' }, issuer: { type: 'string' }, 'as-url': { type: 'string' }, 'broker-url': { type: 'string' } },
        });
        const { out, trustAnchors } = await provision({
          dataDir: need(values['data-dir'], '--data-dir'),
          deviceId: need(positionals[0], 'the device id'),
          out: need(values.out, '--out'),
          issuer: need(values.issuer, '--issuer'),
          ...(values['as-url'] ? { asUrl: values['as-url'] } : {}),
          ...(values['broker-url'] ? { brokerUrl: values['broker-url'] } : {}),
        });
        io.stdout.write(`wrote ${out} (${trustAnchors.length} trust anchors; the file holds keys: mode 0600)\n`);
        return EXIT.ok;
      }
      default:
        io.stderr.write(`keybound authz: expected serve, register-device, register-client or provision\n${AUTHZ_USAGE}\n`);
        return EXIT.usage;
    }
  } catch (e) {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    const code = (e as { code?: string }).code;
    io.stderr.write(`keybound authz ${sub}: ${(e as Error).message}${code && !usage ? ` (${code})` : ''}\n`);
    return usage ? EXIT.usage : EXIT.failed;
  }
}
