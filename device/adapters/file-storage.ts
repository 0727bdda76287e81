/**
 * DeviceStorage on a directory, for Node devices. Each key is one file, written to a temporary
 * file (owner-only: it holds session keys), fsynced and renamed over the old one, then the
 * directory is fsynced, so that a power cut leaves the old or the new value (rename is atomic on
 * POSIX file systems), never a torn write.
 */
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DeviceStorage } from '../index.js';

/** Keys become file names: keep them to a safe alphabet so a key can never escape the directory. */
const SAFE_KEY = /^[A-Za-z0-9._-]{1,128}$/;

function fileName(dir: string, key: string): string {
  // Keys used by device/ contain '/', which we map to '~' rather than creating directories.
  const flat = key.replaceAll('/', '~');
  if (!SAFE_KEY.test(flat.replaceAll('~', '_')) || flat.startsWith('.')) throw new Error(`storage key not allowed: ${JSON.stringify(key).slice(0, 40)}`);
  return join(dir, flat);
}

export function fileStorage(dir: string): DeviceStorage {
  mkdirSync(dir, { recursive: true });
  return {
    get(key) {
      try {
        return new Uint8Array(readFileSync(fileName(dir, key)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    put(key, value) {
      const target = fileName(dir, key);
      // Keys never start with '.', so a temporary name never collides with a key's file.
      const temp = join(dir, `.${basename(target)}.tmp`);
      // Never through a link planted at the temporary name: removed (the link, not its target),
      // then created exclusively; a link planted again in between makes the open fail (EEXIST).
      rmSync(temp, { force: true });
      const fd = openSync(temp, 'wx', 0o600);
      try {
        fchmodSync(fd, 0o600); // a temp file left by a crash keeps its old mode otherwise
        // writeSync may write less than asked: loop, or a short write would be renamed into place.
        for (let done = 0; done < value.length; ) done += writeSync(fd, value, done, value.length - done);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, target);
      // The rename is durable only once the directory entry is on disk (POSIX fsync(2) on the dir).
      const dirFd = openSync(dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    },
    delete(key) {
      rmSync(fileName(dir, key), { force: true });
    },
  };
}
