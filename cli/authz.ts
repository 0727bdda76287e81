/**
 * `keybound authz <command>`: one file per command (argv parsing only); the work is done by
 * authz/'s command functions, which tests call directly.
 */
import { commandGroup } from './command-runner.js';
import { authzServeCommand } from './authz-serve.js';
import { authzRegisterDeviceCommand } from './authz-register-device.js';
import { authzRegisterClientCommand } from './authz-register-client.js';
import { authzProvisionCommand } from './authz-provision.js';
import { authzRegisterUserCommand } from './authz-register-user.js';
import { authzListCommand } from './authz-list.js';
import { authzDeleteCommand } from './authz-delete.js';
import { authzRevokeCommand } from './authz-revoke.js';
import { authzRotateKeyCommand } from './authz-rotate-key.js';
import type { CliIo } from './io.js';

export const AUTHZ_COMMANDS = [
  authzServeCommand,
  authzRegisterDeviceCommand,
  authzRegisterClientCommand,
  authzProvisionCommand,
  authzRegisterUserCommand,
  authzListCommand,
  authzDeleteCommand,
  authzRevokeCommand,
  authzRotateKeyCommand,
];

const group = commandGroup('authz', 'The authorization service and its registrations.', AUTHZ_COMMANDS);

export const AUTHZ_USAGE = group.usage;

export function authzCommand(args: string[], io: CliIo): Promise<number> {
  return group.run(args, io);
}
