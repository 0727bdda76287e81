/** Secrets come from files, never argv: argv is visible to every user of the machine. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writePrivateFile } from './private-file.js';
import { readBoundedFile } from './key-file.js';
import { fromUtf8 } from '../cose/index.js';

/** 256 random bits. */
const NEW_SECRET_BYTES = 32;

/** A secret, password or bearer token is a line; a file far longer is not one (or is /dev/zero). */
const MAX_SECRET_FILE_BYTES = 4096;

export function readSecretFile(file: string): string {
  if (!existsSync(file)) throw Object.assign(new Error(`${file} does not exist`), { code: 'ERR_CLI_NO_FILE' });
  return fromUtf8(readBoundedFile(file, MAX_SECRET_FILE_BYTES, 'secret file')).trim();
}

export function readBytesFile(file: string): Uint8Array {
  return new Uint8Array(readFileSync(file));
}

/**
 * The secret in `file`, or a new random one written there (mode 0600) when the file does not
 * exist. base64url, so no `+`, `/` or `=`: RFC 6749 §2.3.1 form-encodes the id and secret inside
 * HTTP Basic, which `curl -u id:secret` does not, and a `+` would arrive as a space.
 */
export function readOrCreateSecretFile(file: string): { secret: string; created: boolean } {
  if (existsSync(file)) return { secret: readSecretFile(file), created: false };
  const secret = randomBytes(NEW_SECRET_BYTES).toString('base64url');
  writePrivateFile(file, `${secret}\n`);
  return { secret, created: true };
}
