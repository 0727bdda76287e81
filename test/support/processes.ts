/**
 * Child processes for tests: a line awaited on a child's output, the child stopped (by its own
 * handle) at the end, and the CLI run to its exit. redis-server.ts starts Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/keybound.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Still running after the time given: killed (SIGKILL). A hang fails the caller's test, not the suite's timeout. */
  timedOut: boolean;
  /** Wrote `servedWhen` to stdout (a server's "listening on" line): it got as far as serving, and was stopped (SIGTERM). */
  served: boolean;
}

/** Runs `keybound ARGS` (bin/keybound.js, a real process) to its exit, logs silenced unless `env` says otherwise. */
export function runCli(args: string[], opts: { env?: Record<string, string>; ms?: number; servedWhen?: RegExp } = {}): Promise<CliRun> {
  const servedWhen = opts.servedWhen ?? /listening on/;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const run = { stdout: '', stderr: '', timedOut: false, served: false };
    child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      run.stdout += d.toString();
      if (!run.served && servedWhen.test(run.stdout)) {
        run.served = true;
        child.kill('SIGTERM');
      }
    });
    const t = setTimeout(() => {
      run.timedOut = true;
      child.kill('SIGKILL');
    }, opts.ms ?? 60_000);
    // Read at 'close', when stdout and stderr have ended: at 'exit' a pipe can still hold the last
    // lines (Node's child_process docs). A grandchild that keeps the pipes open would hold 'close'
    // for ever, so at most CLOSE_AFTER_EXIT_MS after 'exit'.
    let done = false;
    const finish = (code: number | null): void => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve({ code, ...run });
    };
    child.once('exit', (code) => setTimeout(() => finish(code), CLOSE_AFTER_EXIT_MS).unref());
    child.once('close', (code) => finish(code));
  });
}

const CLOSE_AFTER_EXIT_MS = 2000;

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
