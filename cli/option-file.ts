/**
 * Files that options name (--config, secret files, certificates, trust bundles), read strictly.
 * Secrets come from files, never argv: argv is visible to every user of the machine. A path comes
 * from a flag, an environment variable or a config file, any of which may be wrong or hostile:
 * - only a regular file (a symlink to one is that file): a FIFO would block the service's start
 *   forever, and a device such as /dev/zero stats as size 0 and never ends;
 * - opened non-blocking, so even a FIFO is refused at once instead of waiting for a writer;
 * - at most `maxBytes`, checked on the open descriptor and again while reading (a file that
 *   grows between the two is cut off, never read on);
 * - the error names the option and the path, never the content.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { UsageError } from './usage-error.js';

/** A bearer token, a client secret: 4 KiB is far beyond any (ours are 32 random bytes in text). */
export const MAX_SECRET_FILE_BYTES = 4 * 1024;
/** A PEM certificate chain, a private key, a trust bundle: 1 MiB is far beyond any real one. */
export const MAX_MATERIAL_FILE_BYTES = 1024 * 1024;

/** The bytes of the file `what` (e.g. `--admin-token-file`) names; UsageError if it is not a regular file of at most `maxBytes`. */
export function readOptionFile(file: string, what: string, maxBytes: number): Uint8Array {
  const where = `${what} ${JSON.stringify(file.slice(0, 200))}`;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new UsageError(code === 'ENOENT' ? `${where} does not exist` : `${where} cannot be read: ${code ?? 'error'}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UsageError(`${where} is not a regular file`);
    if (stat.size > maxBytes) throw new UsageError(`${where} is larger than ${maxBytes} bytes`);
    const buf = new Uint8Array(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new UsageError(`${where} is larger than ${maxBytes} bytes`);
    }
    return buf.slice(0, length);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${where} cannot be read: ${(e as { code?: string }).code ?? 'error'}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * A secret (token, client secret) as UTF-8 text without surrounding whitespace. Empty is refused:
 * an empty token file would silently turn the admin API off or send /metrics back to loopback-only,
 * which the operator who named the file did not ask for.
 */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readOptionFile(file, what, MAX_SECRET_FILE_BYTES)).trim();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${what} ${JSON.stringify(file.slice(0, 200))} is not UTF-8 text`);
  }
  if (text === '') throw new UsageError(`${what} ${JSON.stringify(file.slice(0, 200))} is empty`);
  return text;
}

/**
 * Whether a secret file may be read by users other than its owner (group or other read bits):
 * on a shared host anyone could then take the token. Warned about, not refused, as the plain-HTTP
 * case is: the operator may have a group of its own for it.
 */
export function readableByOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o044) !== 0;
  } catch {
    return false;
  }
}
