/**
 * Fair same-run comparison for the bench sections: warm-up, fixed time per round, rounds of the
 * two sides interleaved (A, B, A, B ...), and the median of the per-round ratios, so that drift
 * on a shared machine hits both sides alike.
 */

/** Time per measured round; 1.5 s each side keeps a section under a minute. */
export const ROUND_MS = 1500;
export const ROUNDS = 3; // per side, interleaved
export const WARMUP_MS = 300;

export function opsPerSecond(fn: () => void, ms: number): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 16; i++) fn();
    n += 16;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (n * 1000) / elapsed;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Interleaves A and B; returns each side's median ops/s and the median of the round ratios A/B. */
export function compare(a: () => void, b: () => void, roundMs = ROUND_MS): { a: number; b: number; ratio: number } {
  opsPerSecond(a, WARMUP_MS);
  opsPerSecond(b, WARMUP_MS);
  const as: number[] = [];
  const bs: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const x = opsPerSecond(a, roundMs);
    const y = opsPerSecond(b, roundMs);
    as.push(x);
    bs.push(y);
    ratios.push(x / y);
  }
  return { a: median(as), b: median(bs), ratio: median(ratios) };
}
