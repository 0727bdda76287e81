/** `keybound authz serve`: the authorization service on HTTP(S). */
import { connectSharedRedis, type SharedRedis } from './redis-connection.js';
import { DEFAULT_RETENTION_DAYS, authzServe } from '../authz/index.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { MAX_MATERIAL_FILE_BYTES, readableByOthers, readOptionFile } from './option-file.js';
import { bearerTokenFile } from './bearer-token-file.js';
import { EXIT } from './io.js';
import { DATA_DIR_OPTIONS, dataDirOf } from './data-dir-options.js';
import { createNodeLogger } from '../device/adapters/index.js';
import { LOG_LEVEL_OPTION, logLevelOf } from './log-level.js';
import { isLoopbackHost, isUnspecifiedHost } from './loopback-host.js';
import { nonceSecretsFromFile } from './dpop-nonce-secret-file.js';
import { issuerUrlOption } from './url-option.js';
import { stopSignal } from './stop-signal.js';

export const authzServeCommand = defineCommand(
  {
    name: 'authz serve',
    summary: 'Run the authorization service: token, introspection, revocation, pages, keys; /healthz, /readyz, /metrics.',
    config: true,
    options: {
      ...DATA_DIR_OPTIONS,
      port: { type: 'string', value: 'PORT', default: '8080', help: 'TCP port to listen on (0: any free port)' },
      host: { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
      issuer: { type: 'string', value: 'URL', help: 'the iss of issued tokens and metadata (default: the listening URL; set it with --host 0.0.0.0)' },
      'admin-token-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_ADMIN_TOKEN_FILE', help: 'file holding the bearer token of the admin API (none: admin API off)' },
      // HTTPS: client secrets, passwords, codes and tokens never cross the network in clear.
      'tls-cert': { type: 'string', value: 'CERT.pem', env: 'KEYBOUND_TLS_CERT', help: 'serve HTTPS with this certificate chain (with --tls-key)' },
      'tls-key': { type: 'string', value: 'KEY.pem', env: 'KEYBOUND_TLS_KEY', help: 'private key of --tls-cert' },
      // RFC 8705 §2: certificate client authentication on the same HTTPS listener.
      'tls-client-ca': { type: 'string', value: 'CA.pem', env: 'KEYBOUND_TLS_CLIENT_CA', help: 'ask clients for certificates; trust chains to this CA for tls_client_auth (RFC 8705 §2.1)' },
      profile: { type: 'string', value: 'fapi2', help: 'fapi2: the FAPI 2.0 Security Profile (PAR, mTLS or assertion clients, certificate-bound tokens); needs --tls-client-ca or --tls-request-client-cert' },
      'tls-request-client-cert': { type: 'boolean', help: 'ask clients for certificates without a CA: self_signed_tls_client_auth only (RFC 8705 §2.2)' },
      // Prometheus' bearer credential for /metrics; a file, as every secret.
      'metrics-token-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_METRICS_TOKEN_FILE', help: 'bearer token for /metrics (without one, only loopback peers may scrape)' },
      // RFC 9449 §8: server nonces made and checked by any instance sharing the file (dpop-nonce-secret-file.ts).
      'dpop-nonce-secret-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_DPOP_NONCE_SECRET_FILE', help: 'DPoP nonce secret shared by every instance (line 1 current, line 2 previous); none: no nonces' },
      // Split tokens (audiences registered --split-token): signature halves go where the gateways' --redis reads them.
      'split-token-redis': { type: 'string', value: 'redis://HOST:PORT[,...]', env: 'KEYBOUND_SPLIT_TOKEN_REDIS_URL', help: 'the Redis the gateways join split tokens from (audiences registered --split-token); a Redis Cluster is found by itself' },
      // Issued tokens, revocations, refresh tokens and codes are deleted this long after they expired.
      'retention-days': { type: 'string', value: 'DAYS|forever', default: String(DEFAULT_RETENTION_DAYS), help: 'days an expired token, revocation, refresh token or code is kept before it is deleted (forever: never deleted)' },
      'dpop-iat-window': { type: 'string', value: 'SECONDS', default: '60', help: 'how far a DPoP proof\'s iat may be from now, either side' },
      ...LOG_LEVEL_OPTION,
    },
    examples: ['keybound authz serve --data-dir ./authz-data --port 8443 --tls-cert cert.pem --tls-key key.pem'],
  },
  async ({ values }, io) => {
    const level = logLevelOf(values['log-level']);
    const logger = createNodeLogger({ name: 'authz', level, destination: io.stderr as { write(line: string): void } });
    if (!values['tls-cert'] !== !values['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
    const port = Number(values.port ?? '8080');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`bad --port ${JSON.stringify(String(values.port).slice(0, 10))}`);
    if ((values['tls-client-ca'] || values['tls-request-client-cert']) && !values['tls-cert']) throw new UsageError('--tls-client-ca and --tls-request-client-cert need --tls-cert and --tls-key');
    const tls = values['tls-cert']
      ? {
          cert: readOptionFile(values['tls-cert'], '--tls-cert', MAX_MATERIAL_FILE_BYTES),
          key: readOptionFile(values['tls-key']!, '--tls-key', MAX_MATERIAL_FILE_BYTES),
          ...(values['tls-client-ca'] ? { clientCa: readOptionFile(values['tls-client-ca'], '--tls-client-ca', MAX_MATERIAL_FILE_BYTES) } : {}),
          ...(values['tls-request-client-cert'] ? { requestClientCert: true } : {}),
        }
      : undefined;
    if (values.profile !== undefined && values.profile !== 'fapi2') throw new UsageError('--profile takes fapi2');
    if (values.profile === 'fapi2' && !(values['tls-client-ca'] || values['tls-request-client-cert'])) {
      throw new UsageError('--profile fapi2 needs --tls-cert, --tls-key and --tls-client-ca (or --tls-request-client-cert): its tokens are bound to client certificates');
    }
    const issuer = values.issuer !== undefined ? issuerUrlOption(values.issuer) : undefined;
    const iatWindow = Number(values['dpop-iat-window'] ?? '60');
    if (!Number.isInteger(iatWindow) || iatWindow < 1 || iatWindow > 3600) throw new UsageError('--dpop-iat-window must be 1 to 3600 seconds');
    const retentionText = values['retention-days'] ?? String(DEFAULT_RETENTION_DAYS);
    const retentionDays = retentionText === 'forever' ? Number.POSITIVE_INFINITY : Number(retentionText);
    if (!/^(\d{1,5}|forever)$/.test(retentionText)) throw new UsageError('--retention-days takes a whole number of days (0 to 99999) or forever');
    const nonceFile = values['dpop-nonce-secret-file'];
    const nonceWarning = (event: string, detail: string) => logger.warn({ event, option: 'dpop-nonce-secret-file' }, `keybound authz serve: warning: ${detail}`);
    const dpop = { iatWindow, ...(nonceFile ? { nonceSecrets: nonceSecretsFromFile(nonceFile, undefined, undefined, nonceWarning) } : {}) };
    // Last of the checks, as it may write a file: a token file that does not exist is made.
    const metricsToken = bearerTokenFile(values['metrics-token-file'], 'metrics-token-file', logger);
    const adminToken = bearerTokenFile(values['admin-token-file'], 'admin-token-file', logger);
    // The metrics token goes to a monitoring system's scrape config; the admin token registers
    // clients and rotates the signing key. One token for both (one file named twice: made for
    // /metrics, then read back as the admin token) made every scraper an administrator (review 37).
    if (adminToken !== undefined && adminToken === metricsToken) {
      throw new UsageError('--admin-token-file and --metrics-token-file hold the same token: give each its own file (the metrics token is for scrapers, not administrators)');
    }
    // Fail fast: an issuance whose signature Redis did not take is refused (503), never queued.
    // One server or a Redis Cluster (redis-connection.ts).
    const splitRedis: SharedRedis | undefined = values['split-token-redis'] ? await connectSharedRedis(values['split-token-redis'], '--split-token-redis', logger, 'authz: split tokens') : undefined;
    const stop = stopSignal();
    // A start refused from here on (a port in use, the store) lets go of Redis too: its connection
    // alone kept the process alive after the error, never exiting.
    const { url, server } = await authzServe({
      ...dataDirOf(values),
      port,
      ...(values.host ? { host: values.host } : {}),
      ...(issuer ? { issuer } : {}),
      ...(adminToken ? { adminToken } : {}),
      ...(tls ? { tls } : {}),
      ...(metricsToken ? { metricsToken } : {}),
      ...(values.profile === 'fapi2' ? { profile: 'fapi2' as const } : {}),
      dpop,
      retentionDays,
      ...(splitRedis ? { splitTokens: splitRedis } : {}),
      logger,
    }).catch((e: unknown) => {
      splitRedis?.disconnect();
      throw e;
    });
    // stdout: the one human line scripts read (the URL); logs are JSON lines on stderr.
    io.stdout.write(`keybound authorization service listening on ${url}\n`);
    if (!tls && !isLoopbackHost(values.host ?? '127.0.0.1')) {
      logger.warn({ event: 'plain_http' }, 'keybound authz serve: warning: plain HTTP off loopback; secrets cross the network in clear unless a TLS proxy is in front (--tls-cert/--tls-key)');
    }
    // The default issuer is the listening URL; bound to every interface, that names no host a
    // client can reach, and it is written into every token's iss and the metadata's endpoints.
    if (!values.issuer && isUnspecifiedHost(values.host ?? '127.0.0.1')) {
      logger.warn({ event: 'issuer_unroutable', issuer: url }, `keybound authz serve: warning: the issuer is ${url}, which clients elsewhere cannot reach (tokens' iss, the metadata's endpoints); set --issuer to the URL they use`);
    }
    for (const option of ['metrics-token-file', 'admin-token-file', 'tls-key', 'dpop-nonce-secret-file'] as const) {
      const file = values[option];
      if (file && readableByOthers(file)) logger.warn({ event: 'secret_file_readable', option }, `keybound authz serve: warning: --${option} is readable by other users of this machine (chmod 600 it)`);
    }
    stop.serving();
    const signal = await stop.stopped;
    logger.info({ event: 'stopping', signal }, `keybound authz serve: ${signal}: finishing requests in hand, then stopping`);
    await server.close();
    splitRedis?.disconnect();
    // A supervisor's log then shows a clean stop, not a crash (walkthrough, stop 36).
    logger.info({ event: 'stopped' }, 'keybound authz serve: stopped');
    return EXIT.ok;
  },
);
