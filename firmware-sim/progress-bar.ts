/**
 * Progress of a long run, drawn only when the stream is a TTY or the caller asks for it. On a
 * terminal: one line redrawn in place with `\r`, at most every 100 ms of wall time. Anywhere
 * else (a CI log, a file, a pipe): plain lines, one per tenth of the work, never a `\r`. Either
 * way `finish()` shows the run at 100%, so the last thing printed is the whole fleet done.
 */
import { formatNumber } from './number-format.js';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const WIDTH = 30;
const MIN_REDRAW_MS = 100;
/** Off a terminal, a line per 10% of the devices: 11 lines at most, whatever the fleet size. */
const PLAIN_STEPS = 10;

export function createProgressBar(stream: ProgressStream, opts: { force?: boolean; label?: string; now?: () => number } = {}) {
  const enabled = opts.force === true || stream.isTTY === true;
  const tty = stream.isTTY === true;
  const now = opts.now ?? (() => performance.now());
  const label = opts.label ?? 'sim';
  let last = -Infinity;
  let lastStep = -1;
  let drawn = false;
  let total = 0;
  let shown = -1;
  const text = (done: number): string => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const pct = `${Math.floor(frac * 100)}%`;
    const counts = `${formatNumber(Math.min(done, total))}/${formatNumber(total)} devices`;
    if (!tty) return `${label}: ${counts} (${pct})\n`;
    const full = Math.round(frac * WIDTH);
    return `\r${label} [${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}] ${counts} ${pct}`;
  };
  return {
    enabled,
    update(done: number, of: number): void {
      if (!enabled) return;
      total = of;
      if (tty) {
        const t = now();
        if (t - last < MIN_REDRAW_MS && done < of) return;
        last = t;
      } else {
        const step = of > 0 ? Math.floor((Math.min(done, of) / of) * PLAIN_STEPS) : PLAIN_STEPS;
        if (step === lastStep) return;
        lastStep = step;
      }
      stream.write(text(done));
      shown = Math.min(done, of);
      drawn = true;
    },
    /** The run is over: show 100% (unless just shown) and end the line. */
    finish(): void {
      if (!enabled || !drawn) return;
      if (shown !== total) stream.write(text(total));
      if (tty) stream.write('\n');
    },
  };
}
