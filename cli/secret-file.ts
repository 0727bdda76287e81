/** Secrets come from files, never argv: argv is visible to every user of the machine. */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { MAX_MATERIAL_FILE_BYTES, readOptionFile, readSecretFile as readOptionSecret } from './option-file.js';
import { writePrivateFile } from './private-file.js';

/** 256 random bits. */
const NEW_SECRET_BYTES = 32;

/** The secret in `file` (bounded, regular file, UTF-8, not empty: option-file.ts). */
export function readSecretFile(file: string, what = 'secret file'): string {
  return readOptionSecret(file, what);
}

export function readBytesFile(file: string, what = 'file'): Uint8Array {
  return readOptionFile(file, what, MAX_MATERIAL_FILE_BYTES);
}

/**
 * The secret in `file`, or a new random one written there (mode 0600) when the file does not
 * exist. base64url, so no `+`, `/` or `=`: RFC 6749 §2.3.1 form-encodes the id and secret inside
 * HTTP Basic, which `curl -u id:secret` does not, and a `+` would arrive as a space.
 */
export function readOrCreateSecretFile(file: string): { secret: string; created: boolean } {
  if (existsSync(file)) return { secret: readSecretFile(file, '--secret-file'), created: false };
  const secret = randomBytes(NEW_SECRET_BYTES).toString('base64url');
  writePrivateFile(file, `${secret}\n`);
  return { secret, created: true };
}
