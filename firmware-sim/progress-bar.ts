/**
 * A one-line progress bar on a terminal. Drawn only when the stream is a TTY or the caller asks
 * for it, so CI logs never get carriage-return garbage; redrawn at most every 100 ms of wall time.
 */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const WIDTH = 30;
const MIN_REDRAW_MS = 100;

export function createProgressBar(stream: ProgressStream, opts: { force?: boolean; label?: string; now?: () => number } = {}) {
  const enabled = opts.force === true || stream.isTTY === true;
  const now = opts.now ?? (() => performance.now());
  let last = -Infinity;
  let drawn = false;
  return {
    enabled,
    update(done: number, total: number): void {
      if (!enabled) return;
      const t = now();
      if (t - last < MIN_REDRAW_MS && done < total) return;
      last = t;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const full = Math.round(frac * WIDTH);
      stream.write(`\r${opts.label ?? 'sim'} [${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}] ${done}/${total} devices`);
      drawn = true;
    },
    finish(): void {
      if (enabled && drawn) stream.write('\n');
    },
  };
}
