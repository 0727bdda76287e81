/** `keybound authz revoke`: revoke tokens by cti, by the token itself, or all of a client's. */
import { readFileSync } from 'node:fs';
import { revokeCommand, tokenFromFile, MAX_TOKEN_FILE_BYTES } from '../authz/index.js';
import { DATABASE_OPTIONS, dataDirOf } from './data-dir-options.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { EXIT } from './io.js';

/** `@FILE` only: a token on argv would be visible to every user of the machine (ps). */
function readTokenArgument(value: string): Uint8Array {
  if (!value.startsWith('@') || value.length < 2) throw new UsageError('--token takes @FILE (a token on the command line would show in ps)');
  const bytes = readFileSync(value.slice(1));
  if (bytes.length > MAX_TOKEN_FILE_BYTES) throw new UsageError(`--token ${value.slice(0, 64)}: larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
  return tokenFromFile(new Uint8Array(bytes));
}

export const authzRevokeCommand = defineCommand(
  {
    name: 'authz revoke',
    summary: "Revoke tokens: they go on their audiences' signed revocation lists, which brokers relay to devices.",
    config: true,
    options: {
      'data-dir': { type: 'string', value: 'DIR', env: 'KEYBOUND_DATA_DIR', help: 'the service state directory (the running service reads its lists from it)' },
      ...DATABASE_OPTIONS,
      cti: { type: 'string', multiple: true, value: 'HEX', help: 'a token id (cti, hex) as the service recorded it' },
      // A CWT's cti plays the part of a JWT's jti (RFC 8392 §3.1.7); the service records both as cti.
      jti: { type: 'string', multiple: true, value: 'HEX', help: 'the same as --cti (the JWT name for a token id)' },
      token: { type: 'string', multiple: true, value: '@FILE', help: 'a file holding the token (CBOR, base64url or hex)' },
      client: { type: 'string', multiple: true, value: 'ID', help: "every live token of this client" },
    },
    examples: ['keybound authz revoke --data-dir ./authz-data --client ekg-7', 'keybound authz revoke --data-dir ./authz-data --token @stolen.cwt'],
  },
  async ({ values }, io) => {
    const ctis = [...(values.cti ?? []), ...(values.jti ?? [])];
    const tokens = (values.token ?? []).map(readTokenArgument);
    const clients = values.client ?? [];
    if (ctis.length + tokens.length + clients.length === 0) throw new UsageError('name what to revoke: --cti, --jti, --token @FILE or --client');
    const { selected, audiences } = await revokeCommand({ ...dataDirOf(values), ctis, tokens, clients });
    io.stdout.write(`revoked ${selected} token${selected === 1 ? '' : 's'}; revocation lists changed: ${audiences.length ? audiences.join(' ') : 'none (already revoked)'}\n`);
    return EXIT.ok;
  },
);
