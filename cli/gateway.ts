/**
 * `keybound gateway serve`: argv parsing only; the work is gateway/'s createGateway. The service's
 * keys come from its /jwks.json (--authz-url, re-fetched by jose on an unknown kid) or a saved
 * copy (--jwks FILE); the replay record is shared with other gateways through Redis (--redis).
 */
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet } from 'jose';
import { checkAuthzUrl } from '../broker/index.js';
import { createNodeLogger } from '../device/adapters/index.js';
import { coseKeysFromJwks, createGateway, GatewayError, newPhantomSigningKey, phantomSigningKeyFromPem, PhantomTokens, type PhantomSigningKey, RedisDpopReplay, remoteServiceKeys, type Gateway } from '../gateway/index.js';
import { EXIT, type CliIo } from './io.js';
import { LOG_LEVEL_OPTION, logLevelOf } from './log-level.js';
import { parseCommandLine, UsageError, type OptionValues } from './command-line.js';
import { connectSharedRedis } from './redis-connection.js';
import { MAX_MATERIAL_FILE_BYTES, readableByOthers, readOptionFile, readSecretFile } from './option-file.js';
import { commandGroup, defineCommand } from './command-runner.js';
import { nonceSecretsFromFile } from './dpop-nonce-secret-file.js';
import { stopSignal } from './stop-signal.js';

const GATEWAY_SERVE_SPEC = {
  name: 'gateway serve',
  summary: 'Run the HTTP reverse proxy that lets through only DPoP-bound tokens with a fresh proof.',
  config: true,
  options: {
    upstream: { type: 'string', value: 'URL', required: true, env: 'KEYBOUND_GATEWAY_UPSTREAM', help: 'the HTTP API behind the gateway' },
    audience: { type: 'string', value: 'AUD', required: true, env: 'KEYBOUND_GATEWAY_AUDIENCE', help: 'the audience tokens must be for (registered with --token-format jwt)' },
    port: { type: 'string', value: 'PORT', default: '8443', help: 'port to listen on (0: any free port)' },
    host: { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
    'authz-url': { type: 'string', value: 'https://HOST', help: "the service: its /jwks.json verifies tokens, its URL is their issuer (https; http only on loopback)" },
    jwks: { type: 'string', value: 'FILE', help: "the service's /jwks.json saved to a file (instead of fetching it)" },
    'public-url': { type: 'string', value: 'URL', help: 'the origin clients address (DPoP htu is checked against it); default the listening address' },
    'require-scope': { type: 'string', multiple: true, value: 'SCOPE', help: 'a text scope every token must hold (AIF-REST scopes are checked per method and path)' },
    'iat-window': { type: 'string', value: 'SECONDS', default: '60', help: 'how far a DPoP proof iat may be from now' },
    'tls-cert': { type: 'string', value: 'FILE', help: 'serve HTTPS with this certificate (PEM)' },
    'tls-key': { type: 'string', value: 'FILE', help: 'and this private key (PEM)' },
    'tls-request-client-cert': { type: 'boolean', help: 'ask clients for a certificate: certificate-bound tokens (RFC 8705) must come over a connection with theirs' },
    redis: { type: 'string', value: 'redis://HOST:PORT[,...]', env: 'KEYBOUND_REDIS_URL', help: 'share the DPoP replay record with other gateways, and join split tokens from it (the service\'s --split-token-redis); a Redis Cluster is found by itself (one node\'s URL, or seed nodes separated by commas)' },
    'client-cert-header': { type: 'string', value: 'NAME', help: 'behind a TLS terminator: the request header with the client certificate (URL-encoded PEM, nginx $ssl_client_escaped_cert)' },
    'trusted-proxy': { type: 'string', multiple: true, value: 'ADDRESS', help: 'the terminator address(es) that header is taken from (ignored from any other)' },
    'dpop-nonce-secret-file': { type: 'string', value: 'FILE', help: 'require DPoP nonces of this gateway (RFC 9449 §9), from this secret (openssl rand -hex 32; same file on every instance)' },
    'client-id': { type: 'string', value: 'ID', help: "phantom tokens: the gateway's client id at the service (register-client --resource-server), to introspect opaque tokens" },
    'client-secret-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_GATEWAY_CLIENT_SECRET_FILE', help: 'file holding that client secret' },
    'phantom-key-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_GATEWAY_PHANTOM_KEY_FILE', help: 'phantom tokens: the EC P-256 private key (PEM) the JWTs for the upstream are signed with; give every instance the same file (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256); default a key of this process' },
    ...LOG_LEVEL_OPTION,
  },
  examples: ['keybound gateway serve --upstream http://127.0.0.1:8080 --audience https://api.example --authz-url https://as.example --port 8443'],
} as const;

export const gatewayServeCommand = defineCommand(GATEWAY_SERVE_SPEC, async (input, io) => {
  const stop = stopSignal();
  const gateway = await startGateway(input.values, io);
  stop.serving();
  await stop.stopped;
  await gateway.close();
  return EXIT.ok;
});

const group = commandGroup('gateway', 'The HTTP gateway that enforces DPoP-bound tokens.', [gatewayServeCommand]);

export const GATEWAY_USAGE = group.usage;

export function gatewayCommand(args: string[], io: CliIo): Promise<number> {
  return group.run(args, io);
}

/** Starts the gateway and resolves with it (tests and embedders); `gatewayCommand` waits for a signal. */
export async function gatewayServe(args: string[], io: CliIo, env: Readonly<Record<string, string | undefined>> = process.env): Promise<Gateway> {
  const parsed = parseCommandLine(GATEWAY_SERVE_SPEC, args, env);
  if (parsed.kind !== 'run') throw new UsageError(`${parsed.kind} is not a gateway`);
  return startGateway(parsed.values, io);
}

async function startGateway(values: OptionValues<typeof GATEWAY_SERVE_SPEC.options>, io: CliIo): Promise<Gateway> {
  const authzUrl = values['authz-url'];
  if (authzUrl) checkAuthzUrl(authzUrl);
  if (!authzUrl === !values.jwks) throw new UsageError('give one of --authz-url (fetch /jwks.json) and --jwks FILE');
  const upstream = values.upstream!;
  if (!/^https?:\/\/[^/]/.test(upstream)) throw new UsageError('--upstream takes an http(s) URL');
  const port = Number(values.port ?? '8443');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('bad --port');
  const iatWindow = values['iat-window'] ?? '60';
  if (!/^\d{1,4}$/.test(iatWindow) || Number(iatWindow) < 1) throw new UsageError('--iat-window takes whole seconds (1 to 9999)');
  if (!values['tls-cert'] !== !values['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
  const certHeader = values['client-cert-header'];
  if (!certHeader !== !values['trusted-proxy']) throw new UsageError('--client-cert-header and --trusted-proxy go together');
  if (certHeader !== undefined && !/^[a-z0-9-]{1,64}$/i.test(certHeader)) throw new UsageError('--client-cert-header takes a header name');
  if (values['tls-request-client-cert'] && !values['tls-cert']) throw new UsageError('--tls-request-client-cert needs --tls-cert and --tls-key');
  const publicUrl = values['public-url'];
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+$/.test(publicUrl)) throw new UsageError('--public-url takes an origin (scheme://host[:port], no path)');
  // JWT tokens through jose's key set; CWT tokens through the same keys as COSE keys.
  const savedJwks = values.jwks ? (JSON.parse(new TextDecoder().decode(readOptionFile(values.jwks, '--jwks', MAX_MATERIAL_FILE_BYTES))) as JSONWebKeySet) : undefined;
  const keys = savedJwks ? createLocalJWKSet(savedJwks) : createRemoteJWKSet(new URL('/jwks.json', authzUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  const savedCoseKeys = savedJwks ? coseKeysFromJwks(savedJwks) : undefined;
  const cwtKeys = savedCoseKeys ? async () => savedCoseKeys : remoteServiceKeys(new URL('/jwks.json', authzUrl).href);
  if (!values['client-id'] !== !values['client-secret-file']) throw new UsageError('--client-id and --client-secret-file go together');
  if (values['client-id'] && !authzUrl) throw new UsageError('--client-id needs --authz-url (opaque tokens are introspected there)');
  if (values['phantom-key-file'] && !values['client-id']) throw new UsageError('--phantom-key-file goes with --client-id (phantom tokens)');
  const logger = createNodeLogger({ name: 'gateway', level: logLevelOf(values['log-level']), destination: io.stderr as { write(line: string): void } });
  // One server or a Redis Cluster (redis-connection.ts); a command while it is away fails, 503.
  const redis = values.redis ? await connectSharedRedis(values.redis, '--redis', logger, 'gateway') : undefined;
  // Anything refused from here on (a key or certificate file, a port in use) lets go of Redis
  // too: its connection alone kept the process alive after the error, never exiting.
  try {
    let phantom: PhantomTokens | undefined;
    if (values['client-id']) {
      // The upstream reads the key at /.well-known/jwks.json: one key file for every instance, so
      // trusting one instance's JWKS is trusting them all; without it, a key of this process.
      const keyFile = values['phantom-key-file'];
      const signingKey = keyFile ? await phantomKeyFromFile(keyFile, logger) : await newPhantomSigningKey();
      if (!keyFile && redis) {
        logger.warn({ event: 'phantom_key_per_process' }, 'keybound gateway: phantom JWTs are signed with a key of this process only; give every instance the same --phantom-key-file, or an upstream trusting one instance refuses the others');
      }
      phantom = new PhantomTokens({
        introspectionUrl: new URL('/introspect', authzUrl).href,
        clientId: values['client-id'],
        clientSecret: readSecretFile(values['client-secret-file']!, '--client-secret-file'),
        audience: values.audience!,
        signingKey,
        issuer: publicUrl ?? `${values['tls-cert'] ? 'https' : 'http'}://gateway`,
        ...(redis ? { shared: redis } : {}),
      });
    }
    const clock = () => Date.now() / 1000;
    const gateway = createGateway({
      upstream,
      audience: values.audience!,
      keys,
      ...(authzUrl ? { issuer: authzUrl.replace(/\/$/, '') } : {}),
      ...(publicUrl ? { publicUrl } : {}),
      ...(redis ? { replay: new RedisDpopReplay(redis, clock), splitTokens: redis } : {}),
      cwtKeys,
      ...(certHeader ? { certificateHeader: { name: certHeader.toLowerCase(), trustedProxies: values['trusted-proxy']! } } : {}),
      ...(values['dpop-nonce-secret-file'] ? { nonceSecrets: nonceSecretsFromFile(values['dpop-nonce-secret-file']) } : {}),
      ...(phantom ? { phantom } : {}),
      ...(values['require-scope'] ? { requiredScope: values['require-scope'] } : {}),
      iatWindow: Number(iatWindow),
      ...(values['tls-cert'] ? { tls: { cert: Buffer.from(readOptionFile(values['tls-cert'], '--tls-cert', MAX_MATERIAL_FILE_BYTES)), key: Buffer.from(readOptionFile(values['tls-key']!, '--tls-key', MAX_MATERIAL_FILE_BYTES)), ...(values['tls-request-client-cert'] ? { requestClientCert: true } : {}) } } : {}),
      clock,
      logger,
    });
    let bound: { url: string; port: number };
    const host = values.host ?? '127.0.0.1';
    try {
      bound = await gateway.listen(port, host);
    } catch (e) {
      await gateway.close();
      throw e;
    }
    const close = gateway.close.bind(gateway);
    // stdout: the one human line scripts read (the URL); logs are JSON lines on stderr.
    io.stdout.write(`keybound gateway for ${values.audience} listening on ${values['tls-cert'] ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${bound.port} (clients address ${bound.url}), upstream ${upstream}${redis ? ' (Redis replay record)' : ''}\n`);
    return {
      listen: gateway.listen.bind(gateway),
      async close() {
        await close();
        redis?.disconnect();
      },
    };
  } catch (e) {
    redis?.disconnect();
    throw e;
  }
}

/** The shared phantom signing key: a PEM private key file, warned about when others can read it. */
async function phantomKeyFromFile(file: string, logger: { warn(fields: Record<string, unknown>, message: string): void }): Promise<PhantomSigningKey> {
  const pem = readSecretFile(file, '--phantom-key-file');
  if (readableByOthers(file)) logger.warn({ event: 'secret_file_readable', option: 'phantom-key-file' }, 'keybound gateway: warning: --phantom-key-file is readable by other users of this machine (chmod 600 it)');
  try {
    return await phantomSigningKeyFromPem(pem);
  } catch (e) {
    if (e instanceof GatewayError) throw new UsageError(`--phantom-key-file: ${e.message}`);
    throw e;
  }
}
