/** Secrets come from files, never argv: argv is visible to every user of the machine. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writePrivateFile } from './private-file.js';

/** 256 random bits. */
const NEW_SECRET_BYTES = 32;

export function readSecretFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw Object.assign(new Error(`${file} does not exist`), { code: 'ERR_CLI_NO_FILE' });
    throw e;
  }
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
