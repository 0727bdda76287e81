/** `keybound authz register-client ID`: a client, how it authenticates and what it may ask for. */
import { registerClientCommand, type ClientOptions } from '../authz/index.js';
import { UsageError } from './command-line.js';
import { MAX_MATERIAL_FILE_BYTES, readOptionFile } from './option-file.js';
import { GRANT_DEVICE_CODE, GRANT_TOKEN_EXCHANGE } from '../cose/index.js';
import { defineCommand } from './command-runner.js';
import { readKeyFile } from './key-file.js';
import { readOrCreateSecretFile } from './secret-file.js';
import { rmSync } from 'node:fs';
import { EXIT } from './io.js';
import { DATA_DIR_OPTIONS, dataDirOf } from './data-dir-options.js';

/** The RFC 8705 §2 registration the options name, if any (the registry checks there is one identity). */
function tlsClientAuthOf(values: Record<string, unknown>): ClientOptions['tlsClientAuth'] | undefined {
  const certs = values['self-signed-tls-client-cert'] as string[] | undefined;
  const pki = { subjectDn: 'tls-client-auth-subject-dn', sanDns: 'tls-client-auth-san-dns', sanUri: 'tls-client-auth-san-uri', sanIp: 'tls-client-auth-san-ip', sanEmail: 'tls-client-auth-san-email' } as const;
  const named = Object.entries(pki).filter(([, option]) => values[option] !== undefined);
  if (certs && named.length > 0) throw new UsageError('--self-signed-tls-client-cert and --tls-client-auth-* are two different methods: choose one');
  if (certs) return { method: 'self_signed_tls_client_auth', certificates: certs.map((f) => Buffer.from(readOptionFile(f, '--self-signed-tls-client-cert', MAX_MATERIAL_FILE_BYTES)).toString('utf8')) };
  if (named.length === 0) return undefined;
  return { method: 'tls_client_auth', ...Object.fromEntries(named.map(([field, option]) => [field, values[option] as string])) };
}

export const authzRegisterClientCommand = defineCommand(
  {
    name: 'authz register-client',
    summary: 'Register a client: its secret or public key, audiences, scopes and grant types.',
    positionals: ['CLIENT-ID'],
    config: true,
    options: {
      ...DATA_DIR_OPTIONS,
      'secret-file': { type: 'string', value: 'FILE', help: 'file holding the client secret; if it does not exist, a strong random one is written there (mode 0600)' },
      force: { type: 'boolean', help: 'replace an existing registration of this client id (its old secret or key stops working)' },
      // A COSE_Key or JWK file: the client authenticates with COSE-signed assertions, no shared secret.
      'public-key': { type: 'string', value: 'KEY-FILE', help: 'authenticate with assertions signed by this key (COSE_Key or JWK) instead of a secret' },
      audience: { type: 'string', multiple: true, value: 'AUD', help: 'an audience (registered device or broker) it may get tokens for' },
      scope: { type: 'string', multiple: true, value: 'S', help: 'a scope it may be granted' },
      'grant-type': { type: 'string', multiple: true, value: 'G', help: 'client_credentials, authorization_code, refresh_token, device_code, token-exchange' },
      'redirect-uri': { type: 'string', multiple: true, value: 'URI', help: 'an exact redirect URI for the authorization-code flow' },
      // A device's gateway or a broker that introspects its audiences' tokens (RFC 7662 §4); it asks no tokens itself.
      // Every PUBLISH signed by the token's cnf key (broker/message-pop.ts), not only the CONNECT.
      'message-pop': { type: 'boolean', help: 'its tokens make the broker require a PoP signature on every PUBLISH' },
      'resource-server': { type: 'boolean', help: 'a broker or gateway that introspects tokens of its audiences (asks for none)' },
      // RFC 8705 §2.1.2: exactly one identity the client's certificate (from --tls-client-ca) must carry.
      'tls-client-auth-subject-dn': { type: 'string', value: 'DN', help: 'authenticate by TLS certificate with this subject DN (RFC 4514, e.g. "CN=app,O=Clinic")' },
      'tls-client-auth-san-dns': { type: 'string', value: 'NAME', help: 'authenticate by TLS certificate with this DNS subjectAltName' },
      'tls-client-auth-san-uri': { type: 'string', value: 'URI', help: 'authenticate by TLS certificate with this URI subjectAltName' },
      'tls-client-auth-san-ip': { type: 'string', value: 'IP', help: 'authenticate by TLS certificate with this IP subjectAltName' },
      'tls-client-auth-san-email': { type: 'string', value: 'EMAIL', help: 'authenticate by TLS certificate with this email subjectAltName' },
      // RFC 8705 §2.2: no CA; the certificate itself (by thumbprint) is the credential.
      'self-signed-tls-client-cert': { type: 'string', multiple: true, value: 'CERT.pem', help: 'authenticate by this self-signed TLS certificate (self_signed_tls_client_auth)' },
      // RFC 9126 §6.
      'require-par': { type: 'boolean', help: 'its authorization requests must be pushed to /par first (RFC 9126)' },
    },
    examples: ['keybound authz register-client ekg-7 --data-dir ./authz-data --secret-file ekg.secret --audience tube-123 --scope "/result:GET"   (writes ekg.secret if it does not exist)'],
  },
  async ({ values, positionals }, io) => {
    // The help names grants briefly; the registry stores RFC 8693 / RFC 8628 grants by their URN.
    const grantTypes = values['grant-type']?.map((g) => (g === 'token-exchange' ? GRANT_TOKEN_EXCHANGE : g === 'device_code' ? GRANT_DEVICE_CODE : g));
    const publicKey = values['public-key'] ? readKeyFile(values['public-key']) : undefined;
    const tlsClientAuth = tlsClientAuthOf(values);
    const secretFile = values['secret-file'];
    const made = secretFile ? readOrCreateSecretFile(secretFile, (line) => io.stderr.write(line)) : undefined;
    const secret = made?.secret;
    const registering = registerClientCommand({
      ...(values.force ? { force: true } : {}),
      ...dataDirOf(values),
      id: positionals[0]!,
      ...(secret ? { secret } : {}),
      ...(publicKey ? { publicKey } : {}),
      ...(values.audience ? { audiences: values.audience } : {}),
      ...(values.scope ? { scopes: values.scope } : {}),
      ...(values['resource-server'] ? { resourceServer: true, grantTypes: (grantTypes ?? []) as never } : grantTypes ? { grantTypes: grantTypes as never } : {}),
      ...(values['redirect-uri'] ? { redirectUris: values['redirect-uri'] } : {}),
      ...(values['message-pop'] ? { messagePop: true } : {}),
      ...(tlsClientAuth ? { tlsClientAuth } : {}),
      ...(values['require-par'] ? { requirePar: true } : {}),
    });
    // A secret made for a registration that failed would be a secret for nothing: remove it.
    const { id, replaced, warnings } = await registering.catch((e: unknown) => {
      if (made?.created) rmSync(secretFile!, { force: true });
      throw e;
    });
    if (made?.created) io.stdout.write(`wrote a new random secret to ${secretFile} (mode 0600; keep it out of version control)\n`);
    io.stdout.write(`${replaced ? 'replaced' : 'registered'} client ${id}\n`);
    for (const w of warnings) io.stderr.write(`keybound authz register-client: warning: ${w}\n`);
    // RFC 6749 §2.3.1 form-encodes id and secret inside HTTP Basic; curl -u and most libraries do
    // not, so the service (which decodes as the RFC says) would read '+' as a space.
    if (secret !== undefined && /[^A-Za-z0-9._~-]/.test(secret)) {
      io.stderr.write('keybound authz register-client: note: the secret has characters HTTP Basic clients must form-encode (RFC 6749 §2.3.1); `curl -u` does not, so send it with client_secret in the body or use a base64url secret\n');
    }
    return EXIT.ok;
  },
);
