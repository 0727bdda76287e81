/**
 * The fleet report as one self-contained HTML page: inline SVG bar charts drawn here, inline CSS, no
 * script, no network (a Content-Security-Policy forbids every fetch), so it opens anywhere. All
 * text is escaped; the JSON report is embedded for tools, in a non-executed script element. Every
 * number goes through formatNumber (one format in every report); checks carry a mark and a word.
 * The demo's own page (demo-report-html.ts) reuses the shell, the sections and the checks.
 */
import { escapeHtml as esc } from './html-escape.js';
import { formatNumber, formatPair } from './number-format.js';
import { scenarioChecks, type Verdict } from './scenario-checks.js';
import { SEQUENCE_CHART_CSS } from './sequence-chart.js';
import type { SimReport } from './sim-report.js';

interface Bar {
  label: string;
  values: number[];
}

const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5'];

/** A horizontal grouped bar chart: one row per label, one bar per series. */
export function barChart(title: string, unit: string, series: string[], bars: Bar[]): string {
  const rowH = 14 * series.length + 10;
  const labelW = 260;
  const plotW = 420;
  const height = 40 + bars.length * rowH + 24;
  const max = Math.max(1e-12, ...bars.flatMap((b) => b.values));
  const rows = bars
    .map((b, i) => {
      const y = 34 + i * rowH;
      const rects = b.values
        .map((v, s) => {
          const w = Math.max(1, (v / max) * plotW);
          const yy = y + s * 14;
          return `<rect x="${labelW}" y="${yy}" width="${w.toFixed(1)}" height="12" fill="${COLORS[s % COLORS.length]}"><title>${esc(`${b.label} ${series[s]}: ${formatNumber(v, unit)}`)}</title></rect><text x="${(labelW + w + 4).toFixed(1)}" y="${yy + 10}" class="v">${esc(formatNumber(v))}</text>`;
        })
        .join('');
      return `<text x="${labelW - 6}" y="${y + 10}" class="l">${esc(b.label)}</text>${rects}`;
    })
    .join('');
  const legend = series.map((s, i) => `<rect x="${labelW + i * 150}" y="${height - 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${labelW + 14 + i * 150}" y="${height - 7}" class="v">${esc(s)}</text>`).join('');
  return `<figure><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(title)}" width="${labelW + plotW + 80}" height="${height}" viewBox="0 0 ${labelW + plotW + 80} ${height}"><text x="0" y="16" class="t">${esc(title)} (${esc(unit)})</text>${rows}${legend}</svg></figure>`;
}

/** A table; numbers in cells are formatted (and right-aligned), strings are escaped. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => (typeof c === 'number' ? `<td class="n">${esc(formatNumber(c))}</td>` : `<td>${esc(c)}</td>`)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const MARKS: Record<Verdict, string> = { pass: '✔', fail: '✘', 'not run': '–', info: 'ℹ' };

/** The scenario checks with a mark and a word per verdict (never colour alone). */
export function checksTable(r: SimReport): string {
  const rows = scenarioChecks(r)
    .map(
      (c) =>
        `<tr class="check ${c.verdict.replace(' ', '-')}"><td>${esc(c.name)}</td><td class="n">${esc(c.value)}</td><td class="verdict" data-verdict="${c.verdict}"><span class="mark" aria-hidden="true">${MARKS[c.verdict]}</span> ${c.verdict === 'fail' ? 'FAIL' : esc(c.verdict)}</td><td>${esc(c.expect ?? '')}</td></tr>`,
    )
    .join('');
  return `<table id="checks"><thead><tr><th>check</th><th>measured</th><th>verdict</th><th>passes when</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The page shell both reports share: CSP, inline CSS, the embedded JSON. */
export function reportPage(title: string, r: SimReport, body: string): string {
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;max-width:1100px;color:#1a202c}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #cbd5e0;padding:.2rem .5rem;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
svg .t{font-weight:600;font-size:13px} svg .l{text-anchor:end;font-size:11px} svg .v{font-size:11px}
.ok{color:#276749;font-weight:600} .bad{color:#c53030;font-weight:600}
td.verdict{font-weight:600;white-space:nowrap} #checks td.n{white-space:nowrap} tr.pass td.verdict{color:#276749} tr.fail td.verdict{color:#c53030;background:#fff5f5} tr.not-run td.verdict,tr.info td.verdict{color:#4a5568;font-weight:400}
${SEQUENCE_CHART_CSS}
</style></head><body>
<h1>${esc(title)}</h1>
${body}
<script type="application/json" id="report-json">${json}</script>
</body></html>
`;
}

/** Run facts, one line: scenario, fleet, seed, service, relay, time. */
export function runLine(r: SimReport): string {
  return `<p>Scenario <b>${esc(r.scenario)}</b>, <b>${esc(formatNumber(r.devices))}</b> devices, seed <b>${esc(r.seed)}</b>; ${esc(r.issuer)}; ${esc(r.relay)}.
${esc(formatNumber(r.simulatedHours, 'simulated hours'))}, ${esc(formatNumber(r.events, 'events'))}. Generated <time id="generated-at">${esc(r.generatedAt)}</time>.</p>`;
}

/** The measurements: energy, bytes on air, time to first request, refusals, failures, hardware, radio. */
export function fleetSections(r: SimReport): string {
  const energy = barChart(
    'Energy per authorization (device side: token, proof, first request, radio)',
    'mJ',
    ['mean'],
    r.energyPerAuthorization.map((e) => ({ label: `${e.profile} · ${e.tokenType}`, values: [e.meanMilliJoule] })),
  );
  const bytes = barChart(
    'Bytes on air per authorization, CWT vs the same token as a JWT',
    'bytes',
    ['CWT', 'JWT'],
    r.bytesOnAir.map((b) => ({ label: b.tokenType, values: [b.airCwt, b.airJwt] })),
  );
  const ttf = barChart(
    'Time to first authorized request',
    'devices',
    ['count'],
    r.timeToFirstAuthorizedRequest.histogram.map((h, i, all) => ({
      label: h.upToS >= Number.MAX_SAFE_INTEGER ? `> ${formatNumber(all[i - 1]!.upToS, 's')}` : `≤ ${formatNumber(h.upToS, 's')}`,
      values: [h.count],
    })),
  );
  const refusals = barChart(
    'Refusals by reason (all scenarios, thief included)',
    'count',
    ['refused'],
    Object.entries(r.refusals).map(([k, v]) => ({ label: k, values: [v] })),
  );
  const t = r.timeToFirstAuthorizedRequest;
  const notAuthorized = r.authorizations.attempted - r.authorizations.succeeded;
  return `<h2>Energy</h2>${energy}
<h2>Bytes on air</h2>${bytes}
${table(['token type', 'authorizations', 'token CWT (B)', 'token JWT (B)', 'on air CWT (B)', 'on air JWT (B)'], r.bytesOnAir.map((b) => [b.tokenType, b.count, b.tokenCwt, b.tokenJwt, b.airCwt, b.airJwt]))}
<h2>Time to first authorized request</h2>${ttf}
<p>p50 ${esc(formatNumber(t.p50S, 's'))}, p90 ${esc(formatNumber(t.p90S, 's'))}, max ${esc(formatNumber(t.maxS, 's'))} (devices wake every few minutes: the token waits in the relay).</p>
<h2>Refusals</h2>${refusals}
<h2 id="why-not-authorized">Why not authorized</h2>
<p>${esc(formatNumber(notAuthorized))} of ${esc(formatNumber(r.authorizations.attempted))} devices were not authorized${r.unauthorized.length ? ', each for the reason its device (or the client) gave:' : '.'}</p>
${r.unauthorized.length ? table(['reason', 'profile', 'token type', 'devices'], r.unauthorized.map((u) => [u.reason, u.profile, u.tokenType, u.devices])) : ''}
<h2>Hardware profiles</h2>
${table(['profile', 'part', 'RFC 7228 class', 'devices', 'keybound RAM (B)', 'token budget (B)', 'OSCORE contexts', 'flash region (B)', 'max flash wear', 'mean active (mJ)', 'battery (%/day)', 'verifies', 'AEAD ops'], r.profiles.map((p) => [p.profile, p.part, p.rfc7228Class, p.devices, p.keyboundRamBytes, p.tokenBudgetBytes, p.maxSessions, p.flashRegionBytes, p.maxFlashWearFraction, p.meanActiveMilliJoule, p.meanBatteryPctPerDay, p.cryptoVerifies, p.cryptoAeads]))}
<h2 id="battery-life">Battery life</h2>
<p>Idle duty cycle: wake every ${esc(formatNumber(r.assumptions.wakeIntervalS, 's'))}, listen ${esc(formatNumber(r.assumptions.listenWindowS, 's'))} after each wake, ${esc(r.assumptions.temperature)} temperatures. Each wake pays start-up (and Wi-Fi re-association), one poll with its backoff, turnarounds and ACK, and the listen window at RX current; the battery side adds the converter, cut-off, pulse derating and self-discharge. Authorizations and requests come on top (see Energy).</p>
${table(
  ['profile', 'battery', 'supply', 'cut-off (V)', 'limited by', 'clock drift (ppm)', 'mean current (µA)', 'peak (mA)', 'peak above rating', 'usable (mAh)', 'life (days)', `life, listen ${formatNumber(r.assumptions.listenWindowS / 2, 's')} (days)`, 'change (%)'],
  r.batteryLife.map((b) => [b.profile, b.battery, b.supply, b.cutoffV, b.limitedBy, b.clockDriftPpm, b.averageMicroAmp, b.peakMilliAmp, b.aboveRating ? 'yes: derated' : 'no', b.usableMah, b.lifeDays, b.lifeDaysHalfListen, b.changePct]),
)}
${r.engine === 'quickjs' ? `<h2>QuickJS heap (device code run in QuickJS)</h2>
${table(['profile', 'part RAM (B)', 'RAM model, keybound share (B)', 'QuickJS peak heap (B)'], r.profiles.map((p) => [p.profile, p.partRamBytes, p.keyboundRamBytes, p.quickjsPeakHeapBytes ?? 0]))}` : ''}
<h2>Radio</h2>
${table(['messages', 'frames', 'link attempts', 'lost on air (requeued)', 'TRL deliveries', 'wakes'], [[r.radio.messages, r.radio.frames, r.radio.linkAttempts, r.radio.lostOnAir, r.radio.trlDeliveries, r.radio.wakes]])}
<h2 id="sources">Sources of the model's figures</h2>
<p>Every figure of the hardware, radio, battery and crypto models names one of these (firmware-sim/model-sources.ts); estimates say so, and why, next to the figure.</p>
<ul>${r.sources.map((s) => `<li><b>${esc(s.id)}</b>: ${esc(s.document)}</li>`).join('')}</ul>`;
}

export function theftSummary(r: SimReport): string {
  const ok = r.theft.accepted === 0;
  return `<p id="theft-summary" class="${ok ? 'ok' : 'bad'}"><span aria-hidden="true">${ok ? '✔' : '✘'}</span> Theft: ${esc(formatNumber(r.theft.accepted))} stolen tokens or proofs accepted out of ${esc(formatNumber(r.theft.tries))} tries.</p>`;
}

export function renderReportHtml(r: SimReport): string {
  return reportPage(
    `keybound fleet simulation: ${r.scenario}, ${formatNumber(r.devices)} devices, seed ${r.seed}`,
    r,
    `${runLine(r)}
<p>Authorizations: ${esc(formatPair(r.authorizations.succeeded, r.authorizations.attempted).replace(' / ', ' of '))} succeeded.</p>
${theftSummary(r)}
<h2 id="scenario-checks">Scenario checks</h2>
${checksTable(r)}
${fleetSections(r)}`,
  );
}
