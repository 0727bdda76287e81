/**
 * A period in seconds as a setTimeout/setInterval delay. Node holds a delay in a signed 32-bit
 * count of milliseconds: anything longer (about 24.8 days) fires after 1 ms, with only a
 * TimeoutOverflowWarning, so a poller handed a month would poll hundreds of times a second
 * (README walkthrough: `--trl-poll 3000000`). A longer period waits the longest delay Node keeps.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function timerDelayMs(seconds: number): number {
  return Math.min(seconds * 1000, MAX_TIMER_MS);
}
