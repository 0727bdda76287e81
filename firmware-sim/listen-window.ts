/**
 * The listen window of a duty-cycled device: after a wake's work it keeps its receiver on for the
 * window, and a message served meanwhile restarts it (firmware goes back to sleep after a quiet
 * window, not in the middle of a handshake whose step took longer than the window, e.g. a
 * multi-second Ed25519 verify on a Cortex-M3).
 */
import type { Simulator } from './simulator.js';

/** Listens until `listenWindowS` has passed since the wake and since the last message served; returns the seconds listened. */
export async function listenUntilQuiet(sim: Simulator, listenWindowS: number, settle: () => Promise<void>, lastActiveMs: () => number): Promise<number> {
  let listenedS = 0;
  let until = sim.now + listenWindowS * 1000;
  for (;;) {
    const from = sim.now;
    await sim.sleep(Math.max(0, until - sim.now));
    listenedS += (sim.now - from) / 1000;
    // Work in progress (a message being served) finishes before the device may sleep.
    await settle();
    const next = lastActiveMs() + listenWindowS * 1000;
    if (next <= sim.now) return listenedS;
    until = next;
  }
}
