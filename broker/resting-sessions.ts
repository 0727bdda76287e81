/**
 * Persistent sessions at rest end. MQTT 3.1.1 §3.1.2.4 keeps a clean=false session's state (its
 * subscriptions, the QoS 1/2 messages queued for it) after its connection closes and sets no end:
 * aedes keeps it until a clean CONNECT under its id. A session of a token that expired long ago
 * would then hold memory (or Redis) for ever, and keep queueing what it may never receive. Here a
 * session's end is its token's expiry plus a grace (client-id-owners.ts PERSISTENT_SESSION_GRACE_S):
 * a timer per session at rest, cancelled when its id connects again at this broker; at the end
 * the caller (hooks.ts) frees the id if that session still holds it, and drops the session.
 * Bounded: past `max` sessions at rest, the one resting longest is no longer watched (it then
 * ends at a clean CONNECT under its id, as in aedes).
 */
import type { Clock } from '../cose/index.js';
// setTimeout takes at most MAX_TIMER_MS; longer waits are re-armed.
import { MAX_TIMER_MS } from './timer-delay.js';

/** Sessions at rest watched at once (as many as client ids remembered: MAX_CLIENT_ID_OWNERS). */
export const MAX_RESTING_SESSIONS = 100_000;

export interface RestingSessions {
  /** The connection of a persistent session closed: `end` it at `until` (seconds) unless its id comes back. */
  rest(clientId: string, connection: string, until: number): void;
  /** Its id connected again here: the session is no longer at rest. */
  wake(clientId: string): void;
  /** Stops every timer (the broker closes). */
  close(): void;
  readonly size: number;
}

export function createRestingSessions(clock: Clock, end: (clientId: string, connection: string) => void, max = MAX_RESTING_SESSIONS): RestingSessions {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const wake = (clientId: string): void => {
    const timer = timers.get(clientId);
    if (timer === undefined) return;
    clearTimeout(timer);
    timers.delete(clientId);
  };
  const arm = (clientId: string, connection: string, until: number): void => {
    const ms = Math.max(0, (until - clock()) * 1000);
    const timer = setTimeout(() => {
      if (until > clock()) return arm(clientId, connection, until);
      timers.delete(clientId);
      end(clientId, connection);
    }, Math.min(ms, MAX_TIMER_MS));
    timer.unref?.();
    timers.set(clientId, timer);
  };
  return {
    rest(clientId, connection, until) {
      wake(clientId);
      if (!Number.isFinite(until)) return; // a token without an expiry: its session ends as in aedes
      if (timers.size >= max) wake(timers.keys().next().value!);
      arm(clientId, connection, until);
    },
    wake,
    close() {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
    get size() {
      return timers.size;
    },
  };
}
