/**
 * The discrete-event simulator: a virtual clock in milliseconds and processes written as async
 * functions that `await sim.sleep(ms)`. Exactly one process runs at a time; the loop resumes the
 * earliest waiting one and lets it run until it waits again (or until the outside work it
 * declared with `sim.external` has finished, e.g. an HTTP call to a real authorization service),
 * so a run is a pure function of its seed. Virtual time never depends on wall time.
 */
import { EventQueue } from './event-queue.js';

/** A simulated run stops here even if processes still wait: a safety net against a scenario bug. */
export const MAX_EVENTS = 50_000_000;

export class SimulationError extends Error {
  readonly code = 'ERR_SIM';
}

export class Simulator {
  private readonly queue = new EventQueue();
  private pendingExternal = 0;
  private readonly failures: unknown[] = [];
  private running = 0;
  /** Virtual milliseconds since the start of the run. */
  now = 0;
  events = 0;

  /** Resolves after `ms` virtual milliseconds. */
  sleep(ms: number): Promise<void> {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new SimulationError(`sleep needs a finite non-negative duration, got ${ms}`);
    return new Promise((resolve) => this.queue.push(this.now + ms, resolve));
  }

  /** Runs `fn` at virtual time `at` (absolute). */
  at(at: number, fn: () => void): void {
    this.queue.push(Math.max(at, this.now), fn);
  }

  /** Starts a process now; its failure fails the run. */
  spawn(process: () => Promise<void>): void {
    this.running++;
    this.queue.push(this.now, () => {
      process()
        .catch((e: unknown) => void this.failures.push(e))
        .finally(() => void this.running--);
    });
  }

  /** Declares outside work (real I/O): the clock does not advance until it settles. */
  external<T>(work: Promise<T>): Promise<T> {
    this.pendingExternal++;
    return work.finally(() => void this.pendingExternal--);
  }

  /** Runs until no process waits. `onProgress` is called at most every `progressEvery` events. */
  async run(opts: { until?: number; onProgress?: (sim: Simulator) => void; progressEvery?: number } = {}): Promise<void> {
    const every = opts.progressEvery ?? 5000;
    for (;;) {
      await this.settle();
      if (this.failures.length) throw this.failures[0];
      const ev = this.queue.pop();
      if (!ev) break;
      if (opts.until !== undefined && ev.at > opts.until) break;
      if (++this.events > MAX_EVENTS) throw new SimulationError(`more than ${MAX_EVENTS} events: a scenario does not terminate`);
      this.now = ev.at;
      ev.run();
      if (opts.onProgress && this.events % every === 0) opts.onProgress(this);
    }
    if (opts.onProgress) opts.onProgress(this);
  }

  /** Lets the process that just resumed run to its next wait: microtasks, then declared I/O. */
  private async settle(): Promise<void> {
    do {
      await new Promise<void>((r) => setImmediate(r));
    } while (this.pendingExternal > 0);
  }
}
