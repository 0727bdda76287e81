/** `keybound authz delete ID`: removes a client, device or user registration. */
import { deleteRegistration, type RegistrationKind } from '../authz/index.js';
import { defineCommand } from './command-runner.js';
import { UsageError } from './command-line.js';
import { EXIT } from './io.js';
import { dataDirOf, EXISTING_DATA_DIR_OPTIONS } from './data-dir-options.js';

const KINDS: readonly RegistrationKind[] = ['client', 'device', 'user'];

export const authzDeleteCommand = defineCommand(
  {
    name: 'authz delete',
    summary: "Delete a client, device or user registration (a deleted client's tokens are revoked with it; a device's or user's stay valid until they expire or are revoked).",
    positionals: ['ID'],
    config: true,
    options: {
      ...EXISTING_DATA_DIR_OPTIONS,
      kind: { type: 'string', value: 'client|device|user', help: 'which registration, when the id names more than one (a broker is a client and a device)' },
      detach: { type: 'boolean', help: 'a device still named by clients (as audience) or devices (exchange-from): take it out of them too' },
    },
    examples: ['keybound authz delete ekg-7 --data-dir ./authz-data', 'keybound authz delete broker-1 --kind device --data-dir ./authz-data'],
  },
  async ({ values, positionals }, io) => {
    const kind = values.kind;
    if (kind !== undefined && !KINDS.includes(kind as RegistrationKind)) throw new UsageError('--kind is client, device or user');
    const deleted = await deleteRegistration({ ...dataDirOf(values), id: positionals[0]!, ...(kind ? { kind: kind as RegistrationKind } : {}), ...(values.detach ? { detach: true } : {}) });
    io.stdout.write(`deleted ${deleted.kind} ${positionals[0]}${deleted.detachedFrom.length > 0 ? ` (taken out of ${deleted.detachedFrom.join(', ')})` : ''}\n`);
    return EXIT.ok;
  },
);
