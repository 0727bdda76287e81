/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), sharing no code with
 * prom-client: every line is a `# HELP`, a `# TYPE` or a sample `name{label="value",...} number`,
 * or the read fails. Samples are keyed `name{a="x",b="y"}` with labels sorted, so a test asks for
 * the exact series it expects.
 */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?|\.[0-9]+)|NaN|\+Inf|-Inf)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export interface Exposition {
  samples: Map<string, number>;
  types: Map<string, string>;
}

export function parsePrometheusText(text: string): Exposition {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      if (!NAME.test(line.slice(7).split(' ')[0]!)) throw new Error(`bad HELP line: ${line}`);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (!NAME.test(name ?? '') || !TYPES.has(type ?? '')) throw new Error(`bad TYPE line: ${line}`);
      types.set(name!, type!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const labels: string[] = [];
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = LABEL.exec(rest);
      if (!l) throw new Error(`bad labels in: ${line}`);
      labels.push(`${l[1]}="${l[2]}"`);
      rest = rest.slice(l[0].length);
    }
    const key = labels.length ? `${m[1]}{${labels.sort().join(',')}}` : m[1]!;
    if (samples.has(key)) throw new Error(`duplicate series: ${key}`);
    samples.set(key, Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]));
  }
  return { samples, types };
}

/** A series' value, 0 when absent (a labelled counter appears at its first increment). */
export function sample(e: Exposition, key: string): number {
  return e.samples.get(key) ?? 0;
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Exposition> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  if (!(res.headers.get('content-type') ?? '').startsWith('text/plain; version=0.0.4')) throw new Error(`content type ${res.headers.get('content-type')}`);
  return parsePrometheusText(await res.text());
}
