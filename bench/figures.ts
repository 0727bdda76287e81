/**
 * Every figure the bench measures, kept for `npm run bench -- --json FILE` next to the printed
 * table, so figures can be compared over time: {name, value, unit, baseline, ratio, goal}.
 * `baseline` is the same-run figure the value is compared with; `ratio` = value / baseline
 * (or as the figure's own note says); `goal` is what the issue asks, as text ("≥ 0.5x", "≤ 24 KB").
 */
export interface Figure {
  /** Stable, section-prefixed name: "authz.tokens_per_s.cached_secret". */
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  goal?: string;
  /** Whether the value meets the goal, when the bench can tell. */
  met?: boolean;
}

const figures: Figure[] = [];

/** Records one figure (and returns it, so a caller can print from it). */
export function recordFigure(figure: Figure): Figure {
  if (!Number.isFinite(figure.value)) throw new RangeError(`bench figure ${figure.name}: value ${figure.value} is not a number`);
  if (figures.some((f) => f.name === figure.name)) throw new RangeError(`bench figure ${figure.name} recorded twice`);
  figures.push(figure);
  return figure;
}

export function recordedFigures(): readonly Figure[] {
  return figures;
}
