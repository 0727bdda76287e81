/**
 * The device's data directory holds its private key, PoP keys, tokens, the trust set and replay
 * state. Anyone else who can write there can swap, truncate or symlink those files (roll the trust
 * set back, reopen a replay window, read keys through a link): the host refuses to run on a
 * directory that is group- or world-writable or owned by another user, as ssh refuses a
 * group-writable ~/.ssh.
 */
import { statSync } from 'node:fs';

export class UnsafeDataDirError extends Error {
  readonly code = 'ERR_DEVICE_DATA_DIR_UNSAFE';
}

export function assertPrivateDir(dir: string): void {
  const st = statSync(dir);
  if (!st.isDirectory()) throw new UnsafeDataDirError(`${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) throw new UnsafeDataDirError(`${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 700 it`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new UnsafeDataDirError(`${dir} belongs to another user (uid ${st.uid})`);
}
