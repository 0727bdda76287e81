/** Secrets come from files, never argv: argv is visible to every user of the machine. */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { MAX_MATERIAL_FILE_BYTES, readableByOthers, readOptionFile, readSecretFile as readOptionSecret } from './option-file.js';
import { writePrivateFile } from './private-file.js';
import { UsageError } from './usage-error.js';

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
  if (existsSync(file)) {
    const planted = plantedBy(file);
    if (planted) throw new UsageError(`${what} ${JSON.stringify(file.slice(0, 200))} is ${planted}: it could hold a secret someone else chose (remove it, or pick a file of your own, and keybound writes a new one)`);
    return { secret: readSecretFile(file, what, warn), created: false };
  }
  const secret = randomBytes(NEW_SECRET_BYTES).toString('base64url');
  writePrivateFile(file, `${secret}\n`);
  return { secret, created: true };
}

/**
 * Why a secret the service will accept (a client's secret at registration, the admin or metrics
 * token) must not come from this existing file, if it must not: another user made it, or others
 * may write it. In a shared directory (/tmp) anyone can create the file first with a secret they
 * know; the service would then accept them (review 37). A new file is made exclusively (0600), so
 * only files already there are checked. POSIX only (Windows has no uid).
 */
function plantedBy(file: string): string | undefined {
  if (typeof process.getuid !== 'function') return undefined;
  const st = statSync(file);
  // Not a regular file (/dev/zero, a FIFO, a directory): option-file.ts refuses it, saying so.
  if (!st.isFile()) return undefined;
  const me = process.getuid();
  // root's own files are the administrator's: `sudo` made files are common and not a plant.
  if (st.uid !== me && st.uid !== 0) return `owned by another user (uid ${st.uid})`;
  if ((st.mode & 0o022) !== 0) return 'writable by other users';
  return undefined;
}
