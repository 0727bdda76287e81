/** `keybound authz serve`: the authorization service on HTTP(S). */
import { authzServe } from '../authz/index.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { readBytesFile, readSecretFile } from './secret-file.js';
import { EXIT } from './io.js';
import { DATA_DIR_OPTIONS, dataDirOf } from './data-dir-options.js';

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export const authzServeCommand = defineCommand(
  {
    name: 'authz serve',
    summary: 'Run the authorization service: token, introspection, revocation, pages and key endpoints.',
    config: true,
    options: {
      ...DATA_DIR_OPTIONS,
      port: { type: 'string', value: 'PORT', default: '8080', help: 'TCP port to listen on (0: any free port)' },
      host: { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
      issuer: { type: 'string', value: 'URL', help: 'the iss of issued tokens and metadata (default: the listening URL)' },
      'admin-token-file': { type: 'string', value: 'FILE', env: 'KEYBOUND_ADMIN_TOKEN_FILE', help: 'file holding the bearer token of the admin API (none: admin API off)' },
      // HTTPS: client secrets, passwords, codes and tokens never cross the network in clear.
      'tls-cert': { type: 'string', value: 'CERT.pem', env: 'KEYBOUND_TLS_CERT', help: 'serve HTTPS with this certificate chain (with --tls-key)' },
      'tls-key': { type: 'string', value: 'KEY.pem', env: 'KEYBOUND_TLS_KEY', help: 'private key of --tls-cert' },
    },
    examples: ['keybound authz serve --data-dir ./authz-data --port 8443 --tls-cert cert.pem --tls-key key.pem'],
  },
  async ({ values }, io) => {
    if (!values['tls-cert'] !== !values['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
    const port = Number(values.port ?? '8080');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`bad --port ${JSON.stringify(String(values.port).slice(0, 10))}`);
    const adminToken = values['admin-token-file'] ? readSecretFile(values['admin-token-file']) : undefined;
    const tls = values['tls-cert'] ? { cert: readBytesFile(values['tls-cert']), key: readBytesFile(values['tls-key']!) } : undefined;
    const { url, server } = await authzServe({
      ...dataDirOf(values),
      port,
      ...(values.host ? { host: values.host } : {}),
      ...(values.issuer ? { issuer: values.issuer } : {}),
      ...(adminToken ? { adminToken } : {}),
      ...(tls ? { tls } : {}),
    });
    io.stdout.write(`keybound authorization service listening on ${url}\n`);
    if (!tls && !isLoopbackHost(values.host ?? '127.0.0.1')) {
      io.stderr.write('keybound authz serve: warning: plain HTTP off loopback; secrets cross the network in clear unless a TLS proxy is in front (--tls-cert/--tls-key)\n');
    }
    await new Promise<void>((resolve) => {
      const stop = () => void server.close().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return EXIT.ok;
  },
);
