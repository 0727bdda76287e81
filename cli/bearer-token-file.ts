/**
 * The bearer tokens of the service's admin API and /metrics, from files. The admin token registers
 * clients and rotates keys, so it is a secret as strong as a client secret: `admin` was taken
 * (walkthrough, stop 36): the admin API's guess limit (64 a minute per address, server.ts) slows
 * a guesser, and only a token nobody can guess stops one. A file that does not exist gets 256
 * random bits (mode 0600), as `register-client --secret-file` does, so the README's
 * `--metrics-token-file metrics.token` works as written and nobody needs to invent a token.
 */
import { secretWeakness } from '../authz/index.js';
import type { Logger } from '../device/index.js';
import { UsageError } from './command-line.js';
import { readOrCreateSecretFile } from './secret-file.js';

export function bearerTokenFile(file: string | undefined, option: 'admin-token-file' | 'metrics-token-file', logger: Logger): string | undefined {
  if (file === undefined) return undefined;
  const { secret, created } = readOrCreateSecretFile(file, undefined, `--${option}`);
  if (created) {
    logger.info({ event: 'token_file_created', option }, `keybound authz serve: --${option} ${JSON.stringify(file.slice(0, 200))} did not exist: wrote a new random token there (mode 0600)`);
    return secret;
  }
  const weak = secretWeakness(secret, 'bearer token');
  if (weak) throw new UsageError(`--${option}: ${weak} (remove the file and keybound writes a strong one)`);
  return secret;
}
