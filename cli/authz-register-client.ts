/** `keybound authz register-client ID`: a client, how it authenticates and what it may ask for. */
import { registerClientCommand } from '../authz/index.js';
import { defineCommand } from './command-runner.js';
import { readKeyFile } from './inspect.js';
import { readSecretFile } from './secret-file.js';
import { EXIT } from './io.js';

export const authzRegisterClientCommand = defineCommand(
  {
    name: 'authz register-client',
    summary: 'Register a client: its secret or public key, audiences, scopes and grant types.',
    positionals: ['CLIENT-ID'],
    config: true,
    options: {
      'data-dir': { type: 'string', value: 'DIR', required: true, env: 'KEYBOUND_DATA_DIR', help: 'the service state directory' },
      'secret-file': { type: 'string', value: 'FILE', help: 'file holding the client secret' },
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
    },
    examples: ['keybound authz register-client ekg-7 --data-dir ./authz-data --secret-file ekg.secret --audience tube-123 --scope "/result:GET"'],
  },
  async ({ values, positionals }, io) => {
    const secret = values['secret-file'] ? readSecretFile(values['secret-file']) : undefined;
    const { id } = await registerClientCommand({
      dataDir: values['data-dir']!,
      id: positionals[0]!,
      ...(secret ? { secret } : {}),
      ...(values['public-key'] ? { publicKey: readKeyFile(values['public-key']) } : {}),
      ...(values.audience ? { audiences: values.audience } : {}),
      ...(values.scope ? { scopes: values.scope } : {}),
      ...(values['resource-server'] ? { resourceServer: true, grantTypes: (values['grant-type'] ?? []) as never } : values['grant-type'] ? { grantTypes: values['grant-type'] as never } : {}),
      ...(values['redirect-uri'] ? { redirectUris: values['redirect-uri'] } : {}),
      ...(values['message-pop'] ? { messagePop: true } : {}),
    });
    io.stdout.write(`registered client ${id}\n`);
    return EXIT.ok;
  },
);
