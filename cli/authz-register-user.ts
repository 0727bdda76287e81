/** `keybound authz register-user NAME`: a person who signs in at the service's pages. */
import { registerUserCommand } from '../authz/index.js';
import { defineCommand } from './command-runner.js';
import { readSecretFile } from './secret-file.js';
import { EXIT } from './io.js';
import { DATA_DIR_OPTIONS, dataDirOf } from './data-dir-options.js';

export const authzRegisterUserCommand = defineCommand(
  {
    name: 'authz register-user',
    summary: 'Register a user who signs in at /login (authorization code and device flows).',
    positionals: ['USERNAME'],
    config: true,
    options: {
      ...DATA_DIR_OPTIONS,
      // From a file, never argv (visible to every user of the machine in ps).
      'password-file': { type: 'string', value: 'FILE', required: true, env: 'KEYBOUND_PASSWORD_FILE', help: 'file holding the password (at least 12 characters, not guessable)' },
      force: { type: 'boolean', help: 'set a new password for an existing user' },
    },
    examples: ['keybound authz register-user alice --data-dir ./authz-data --password-file alice.password'],
  },
  async ({ values, positionals }, io) => {
    const { replaced } = await registerUserCommand({
      ...dataDirOf(values),
      username: positionals[0]!,
      password: readSecretFile(values['password-file']!, '--password-file', (line) => io.stderr.write(line)),
      ...(values.force ? { force: true } : {}),
    });
    io.stdout.write(`${replaced ? 'new password for' : 'registered'} user ${positionals[0]}\n`);
    return EXIT.ok;
  },
);
