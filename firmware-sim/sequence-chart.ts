/**
 * A UML-style sequence chart as inline SVG, drawn from the run's recorded flow events (never
 * from a script): one lifeline per actor, one arrow per message, time going down. Answers carry
 * a mark and a word (✓ for an accepted request, ✗ and "refused: <code>" for a refusal), so the
 * chart reads without colour; colour only repeats it. All text is escaped.
 */
import type { FlowActor, FlowEvent } from './flow-trace.js';
import { escapeHtml as esc } from './html-escape.js';
import { formatNumber } from './number-format.js';

export interface Lane {
  actor: FlowActor;
  label: string;
}

const TIME_W = 90;
const LANE_W = 170;
const HEAD_H = 46;
const ROW_H = 28;

/** A thief's try that was accepted is the one outcome that must stand out. */
function kind(ev: FlowEvent): 'sent' | 'ok' | 'refused' | 'breach' {
  if (ev.outcome === 'ok' && (ev.to === 'thief' || ev.from === 'thief')) return 'breach';
  return ev.outcome;
}

const MARK: Record<ReturnType<typeof kind>, string> = { sent: '', ok: '✓ ', refused: '✗ ', breach: '✗ BREACH: ' };

export function sequenceChart(id: string, title: string, lanes: readonly Lane[], events: readonly FlowEvent[]): string {
  const x = new Map(lanes.map((l, i) => [l.actor, TIME_W + LANE_W / 2 + i * LANE_W]));
  const width = TIME_W + lanes.length * LANE_W;
  const height = HEAD_H + events.length * ROW_H + 16;
  const heads = lanes
    .map((l) => {
      const cx = x.get(l.actor)!;
      return `<g class="lane" data-actor="${l.actor}"><rect x="${cx - LANE_W / 2 + 8}" y="18" width="${LANE_W - 16}" height="22" rx="4" class="head"/><text x="${cx}" y="33" class="hl">${esc(l.label)}</text><line x1="${cx}" y1="40" x2="${cx}" y2="${height - 6}" class="life"/></g>`;
    })
    .join('');
  let lastTime = '';
  const rows = events
    .map((ev, i) => {
      const y = HEAD_H + i * ROW_H + 18;
      const x1 = x.get(ev.from);
      const x2 = x.get(ev.to);
      if (x1 === undefined || x2 === undefined) return '';
      const k = kind(ev);
      const time = `t = ${formatNumber(ev.atS, 's')}`;
      // The time once per instant: messages of one instant read as one exchange.
      const timeText = time === lastTime ? '' : `<text x="4" y="${y + 4}" class="tm">${esc(time)}</text>`;
      lastTime = time;
      const label = `${MARK[k]}${ev.what}`;
      const left = Math.min(x1, x2);
      return `<g class="msg ${k}" data-flow="${ev.flow}" data-from="${ev.from}" data-to="${ev.to}" data-outcome="${ev.outcome}"${ev.reason ? ` data-reason="${esc(ev.reason)}"` : ''}><title>${esc(`${time}: ${ev.from} → ${ev.to}: ${label}`)}</title>${timeText}<line x1="${x1}" y1="${y}" x2="${x2 + (x2 > x1 ? -3 : 3)}" y2="${y}" marker-end="url(#${id}-arrow-${k})"/><text x="${left + 6}" y="${y - 5}" class="ml">${esc(label)}</text></g>`;
    })
    .join('');
  const markers = (['sent', 'ok', 'refused', 'breach'] as const)
    .map((k) => `<marker id="${id}-arrow-${k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" class="ah ${k}"/></marker>`)
    .join('');
  return `<figure class="flow"><svg xmlns="http://www.w3.org/2000/svg" id="${id}" class="sequence" role="img" aria-label="${esc(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><defs>${markers}</defs><text x="0" y="12" class="t">${esc(title)}</text>${heads}${rows}</svg></figure>`;
}

/** The chart's CSS, for the page's style element (the page's CSP allows inline styles only). */
export const SEQUENCE_CHART_CSS = `svg.sequence .head{fill:#edf2f7;stroke:#4a5568} svg.sequence .hl{text-anchor:middle;font-size:12px;font-weight:600}
svg.sequence .life{stroke:#a0aec0;stroke-dasharray:4 3} svg.sequence .tm{font-size:11px;fill:#4a5568} svg.sequence .ml{font-size:11px}
svg.sequence .msg line{stroke-width:1.5} svg.sequence .sent line{stroke:#4a5568} svg.sequence .ok line{stroke:#276749}
svg.sequence .refused line{stroke:#c53030;stroke-dasharray:5 3} svg.sequence .breach line{stroke:#c53030;stroke-width:3}
svg.sequence .ok .ml{fill:#276749} svg.sequence .refused .ml,svg.sequence .breach .ml{fill:#c53030;font-weight:600}
svg.sequence .ah.sent{fill:#4a5568} svg.sequence .ah.ok{fill:#276749} svg.sequence .ah.refused,svg.sequence .ah.breach{fill:#c53030}`;
