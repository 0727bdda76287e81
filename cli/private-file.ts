/**
 * Writes a file that holds a secret or a private key: created exclusively (an existing file is
 * never overwritten: it may be the only copy of a key, or another user's symlink) at mode 0600
 * whatever the umask, written whole and synced before the command says it exists.
 */
import { closeSync, fchmodSync, fsyncSync, openSync, rmSync, writeFileSync } from 'node:fs';

export class FileExistsError extends Error {
  readonly code = 'ERR_CLI_FILE_EXISTS';
}

export function writePrivateFile(path: string, content: string | Uint8Array): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') throw new FileExistsError(`${path} exists: not overwritten (it may be the only copy of a key; move it away or pick another name)`);
    throw e;
  }
  try {
    fchmodSync(fd, 0o600);
    writeFileSync(fd, content);
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw e;
  }
}
