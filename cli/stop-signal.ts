/**
 * How a server command waits for SIGINT or SIGTERM. The listeners go in before the server starts:
 * a process with none is killed by the kernel on the spot, and a supervisor (or a test) that stops
 * a server the moment it says it listens reached it in the few milliseconds between its listening
 * line and the listeners, so it died without closing its sessions or logging its stop (found in
 * stop 37). Until `serving()`, a signal exits at once, as the default would (nothing serves yet,
 * and a start stuck on an unreachable Redis must still stop); after it, `stopped` resolves and the
 * caller closes cleanly.
 */
export interface StopSignal {
  /** The server is up: a signal from now on resolves `stopped` instead of exiting. */
  serving(): void;
  /** The signal's name (SIGINT, SIGTERM), once one came after `serving()`. */
  readonly stopped: Promise<string>;
}

export function stopSignal(): StopSignal {
  let up = false;
  let resolveStopped!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (resolveStopped = resolve));
  const on = (signal: NodeJS.Signals) => {
    // 128 + the signal's number, as a shell reports a process the signal killed.
    if (!up) process.exit(signal === 'SIGINT' ? 130 : 143);
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
    resolveStopped(signal);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    serving: () => void (up = true),
    stopped,
  };
}
