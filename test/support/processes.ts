/**
 * Child processes for tests: a line awaited on a child's output, and the child stopped (by its
 * own handle) at the end. redis-server.ts starts Redis.
 */
import type { ChildProcess } from 'node:child_process';

/** Resolves with the first match of `pattern` on the child's stdout; rejects if it exits first. */
export function waitForLine(proc: ChildProcess, pattern: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${seen.slice(-500)}`)), ms);
    proc.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (seen += d.toString()));
    proc.once('exit', (code, signal) => reject(new Error(`exited with ${code ?? signal}: ${seen.slice(-500)}`)));
  });
}

/** Stops a child this test started (by its own handle), and waits for it to be gone. */
export async function stop(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await gone;
}

/** The JSON log lines (pino) of a process's stderr, parsed; a line that is not JSON fails the caller's test. */
export function jsonLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
