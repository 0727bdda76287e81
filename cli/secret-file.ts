/** Secrets come from files, never argv: argv is visible to every user of the machine. */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { MAX_MATERIAL_FILE_BYTES, readableByOthers, readOptionFile, readSecretFile as readOptionSecret } from './option-file.js';
import { writePrivateFile } from './private-file.js';

/** 256 random bits. */
const NEW_SECRET_BYTES = 32;

/**
 * The secret in `file` (bounded, regular file, UTF-8, not empty: option-file.ts). A file other
 * users may read is still taken (as ssh-keygen's files are not) but `warn` is told, naming the
 * option, never the secret.
 */
export function readSecretFile(file: string, what = 'secret file', warn?: (line: string) => void): string {
  const secret = readOptionSecret(file, what);
  if (warn && readableByOthers(file)) warn(`keybound: warning: ${what} is readable by other users of this machine (chmod 600 it)\n`);
  return secret;
}

export function readBytesFile(file: string, what = 'file'): Uint8Array {
  return readOptionFile(file, what, MAX_MATERIAL_FILE_BYTES);
}

/**
 * The secret in `file`, or a new random one written there (mode 0600) when the file does not
 * exist. base64url, so no `+`, `/` or `=`: RFC 6749 §2.3.1 form-encodes the id and secret inside
 * HTTP Basic, which `curl -u id:secret` does not, and a `+` would arrive as a space.
 */
export function readOrCreateSecretFile(file: string, warn?: (line: string) => void, what = '--secret-file'): { secret: string; created: boolean } {
  if (existsSync(file)) return { secret: readSecretFile(file, what, warn), created: false };
  const secret = randomBytes(NEW_SECRET_BYTES).toString('base64url');
  writePrivateFile(file, `${secret}\n`);
  return { secret, created: true };
}
