/**
 * One device process per data directory. Two hosts on one directory (two `keybound device serve`
 * started with the same --data-dir, on two ports) would each keep replay windows, the token store
 * and the trust set in memory and overwrite each other's files: a proof accepted by one is news
 * to the other, and a trust update one applied the other's next write rolls back. The host takes
 * the directory with an exclusive lock file naming its pid; a lock left by a process that is gone
 * (a crash, a power cut) is taken over.
 *
 * A pid alone does not say the process is gone: after a power cut an embedded board boots the
 * same services in the same order, so the dead host's pid is as likely as not some other process
 * now (or the host itself, see `held`), and the directory stayed locked until somebody removed the
 * file by hand. On Linux the lock also names the boot (/proc/sys/kernel/random/boot_id) and the
 * process's start time (/proc/<pid>/stat, field 22, clock ticks since boot): a lock from another
 * boot, or whose pid now belongs to a process started at another time, is stale. Elsewhere (no
 * /proc), and for a lock written before this (a pid only), the pid alone decides, as before.
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

/** A lock file's content, bounded: the pid line, and on Linux the boot id and start time lines. */
const MAX_LOCK_CHARS = 128;
/** What a boot id (a UUID) and a start time (clock ticks) look like, read from /proc or from a lock. */
const BOOT_ID = /^[0-9a-f-]{36}$/;
const START_TIME = /^\d{1,20}$/;

/** This boot's id (Linux), or undefined where there is none to read. */
function bootId(): string | undefined {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return BOOT_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** When process `pid` started, in clock ticks since boot (proc(5) /proc/pid/stat field 22), or undefined. */
function startTime(pid: number): string | undefined {
  try {
    // The command name (field 2) is in parentheses and may hold spaces and ')': count from the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start !== undefined && START_TIME.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

interface LockHolder {
  pid: string;
  boot?: string;
  start?: string;
}

/** The lock's holder as written; a line that is not what this module writes is ignored. */
function parseHolder(text: string): LockHolder {
  const [pid = '', boot, start] = text.split('\n').map((l) => l.trim());
  return {
    pid,
    ...(boot !== undefined && BOOT_ID.test(boot) ? { boot } : {}),
    ...(start !== undefined && START_TIME.test(start) ? { start } : {}),
  };
}

/** Whether the process a lock names is gone: not running, or its pid now another process's (another boot than `boot`, another start time). */
function gone(h: LockHolder, boot: string | undefined): boolean {
  const pid = Number(h.pid);
  if (!running(pid)) return true;
  if (h.boot !== undefined && boot !== undefined) {
    if (h.boot !== boot) return true;
    const start = startTime(pid);
    if (h.start !== undefined && start !== undefined && h.start !== start) return true;
  }
  return false;
}

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
  const boot = bootId();
  const start = boot === undefined ? undefined : startTime(process.pid);
  const mine = `${process.pid}\n${boot !== undefined && start !== undefined ? `${boot}\n${start}\n` : ''}`;
  const real = realpathSync(dir);
  if (held.has(real)) throw new DataDirLockedError(`${dir} is in use by another device host in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, mine);
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
      const text = holder(file);
      const h = text === undefined ? undefined : parseHolder(text);
      // A lock still being written (its pid not in yet) is held; one naming a process that is gone,
      // or this process (not in `held`: a restart that got the same pid), is stale.
      if (text !== undefined && h && /^\d{1,10}$/.test(h.pid) && (Number(h.pid) === process.pid || gone(h, boot))) {
        // Two starts both read the dead pid: removing the file blindly let the second remove the
        // lock the first had just made, and both held the directory (review 36b). The takeover
        // is itself exclusive, and the stale lock is removed only if it is still the one read.
        if (breakStale(dir, file, text)) continue;
      }
      throw new DataDirLockedError(`${dir} is in use by another device process (pid ${h?.pid.slice(0, 10) || 'unknown'}; if none runs, remove ${file})`);
    }
  }
  throw new DataDirLockedError(`${dir}: could not take its lock (${file})`);
}

/** A takeover left by a process that died in its few steps is old after this long (ms). */
const BREAK_STALE_MS = 10_000;

/**
 * Removes `file` if it still reads `seen`, under `.lock.break` (created exclusively): of two
 * processes taking over one stale lock, one removes it and the other then finds a live lock (or
 * the break file) and is refused. False when another process is taking over or took over.
 */
function breakStale(dir: string, file: string, seen: string): boolean {
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
    if (holder(file) !== seen) return false; // taken over meanwhile, or released
    rmSync(file, { force: true });
    return true;
  } finally {
    closeSync(fd);
    rmSync(breaker, { force: true });
  }
}

function holder(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').slice(0, MAX_LOCK_CHARS);
  } catch {
    return undefined;
  }
}
