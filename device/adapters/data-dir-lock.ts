/**
 * One device process per data directory. Two hosts on one directory (two `keybound device serve`
 * started with the same --data-dir, on two ports) would each keep replay windows, the token store
 * and the trust set in memory and overwrite each other's files: a proof accepted by one is news
 * to the other, and a trust update one applied the other's next write rolls back. The host takes
 * the directory with an exclusive lock file naming its pid; a lock left by a process that is gone
 * (a crash, a power cut) is taken over.
 */
import { closeSync, lstatSync, openSync, readFileSync, realpathSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Never a storage key's file: those never start with '.' (file-storage.ts). */
const LOCK_FILE = '.lock';
/** Held while a stale lock is taken over (breakStale). */
const BREAK_FILE = '.lock.break';

export class DataDirLockedError extends Error {
  readonly code = 'ERR_DEVICE_DATA_DIR_LOCKED';
}

/** Directories this process holds: a lock naming our own pid is ours only if listed here (in a container every start is pid 1). */
const held = new Set<string>();

/** Whether process `pid` still runs on this machine (EPERM: it does, under another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `dir` for this process; `release` gives it back (only a lock that is still this process's). */
export function lockDataDir(dir: string): { release(): void } {
  const file = join(dir, LOCK_FILE);
  const mine = String(process.pid);
  const real = realpathSync(dir);
  if (held.has(real)) throw new DataDirLockedError(`${dir} is in use by another device host in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${mine}\n`);
      } finally {
        closeSync(fd);
      }
      held.add(real);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          held.delete(real);
          if (holder(file) === mine) rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = holder(file);
      // A lock still being written (its pid not in yet) is held; one naming a process that is gone,
      // or this process (not in `held`: a restart that got the same pid), is stale.
      if (pid !== undefined && /^\d{1,10}$/.test(pid) && (Number(pid) === process.pid || !running(Number(pid)))) {
        // Two starts both read the dead pid: removing the file blindly let the second remove the
        // lock the first had just made, and both held the directory (review 36b). The takeover
        // is itself exclusive, and the stale lock is removed only if it still names that pid.
        if (breakStale(dir, file, pid)) continue;
      }
      throw new DataDirLockedError(`${dir} is in use by another device process (pid ${pid?.slice(0, 10) || 'unknown'}; if none runs, remove ${file})`);
    }
  }
  throw new DataDirLockedError(`${dir}: could not take its lock (${file})`);
}

/** A takeover left by a process that died in its few steps is old after this long (ms). */
const BREAK_STALE_MS = 10_000;

/**
 * Removes `file` if it still names `pid`, under `.lock.break` (created exclusively): of two
 * processes taking over one stale lock, one removes it and the other then finds a live lock (or
 * the break file) and is refused. False when another process is taking over or took over.
 */
function breakStale(dir: string, file: string, pid: string): boolean {
  const breaker = join(dir, BREAK_FILE);
  let fd: number;
  try {
    fd = openSync(breaker, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Left by a process that died while taking over: old, so nobody is in it any more.
    try {
      if (Date.now() - lstatSync(breaker).mtimeMs > BREAK_STALE_MS) rmSync(breaker, { force: true });
    } catch {
      // gone meanwhile
    }
    return false;
  }
  try {
    if (holder(file) !== pid) return false; // taken over meanwhile, or released
    rmSync(file, { force: true });
    return true;
  } finally {
    closeSync(fd);
    rmSync(breaker, { force: true });
  }
}

function holder(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').slice(0, 32).trim();
  } catch {
    return undefined;
  }
}
