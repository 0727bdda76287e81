/**
 * The one number format of every report (HTML, JSON summary lines, the CLI's account): integers
 * with thousands separators ("10,000"), measurements to three significant digits at most (no
 * float noise, "0.000123" keeps its digits), and a fixed unit after a space when one is given. It
 * does not depend on the host's locale, so one seed still gives the same report byte for byte.
 */
const SEPARATOR = ',';

function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, SEPARATOR);
}

export function formatNumber(x: number, unit?: string): string {
  let text: string;
  if (!Number.isFinite(x)) text = Number.isNaN(x) ? 'n/a' : x > 0 ? '∞' : '-∞';
  else if (Number.isInteger(x)) text = (x < 0 ? '-' : '') + group(String(Math.abs(x)));
  else {
    const a = Math.abs(x);
    // >= 100: whole units; >= 1: two decimals; below 1: three significant digits (an exponent
    // below a millionth, where decimals would be mostly zeros).
    const body = a >= 100 ? group(a.toFixed(0)) : a >= 1 ? a.toFixed(2) : a >= 1e-6 ? Number(a.toPrecision(3)).toString() : a.toExponential(2);
    text = (x < 0 ? '-' : '') + body;
  }
  return unit ? `${text} ${unit}` : text;
}

/** "3 / 7": two or more counts side by side, each formatted. */
export function formatPair(...xs: number[]): string {
  return xs.map((x) => formatNumber(x)).join(' / ');
}
