/**
 * The report as one self-contained HTML page: inline SVG bar charts drawn here, inline CSS, no
 * script, no network (a Content-Security-Policy forbids every fetch), so it opens anywhere. All
 * text is escaped; the JSON report is embedded for tools, in a non-executed script element.
 */
import type { SimReport } from './sim-report.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
// Counts are integers and print as such ("4", not "4.00"); measurements keep 2-3 digits.
const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(3));

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
          return `<rect x="${labelW}" y="${yy}" width="${w.toFixed(1)}" height="12" fill="${COLORS[s % COLORS.length]}"><title>${esc(`${b.label} ${series[s]}: ${fmt(v)} ${unit}`)}</title></rect><text x="${(labelW + w + 4).toFixed(1)}" y="${yy + 10}" class="v">${esc(fmt(v))}</text>`;
        })
        .join('');
      return `<text x="${labelW - 6}" y="${y + 10}" class="l">${esc(b.label)}</text>${rects}`;
    })
    .join('');
  const legend = series.map((s, i) => `<rect x="${labelW + i * 150}" y="${height - 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${labelW + 14 + i * 150}" y="${height - 7}" class="v">${esc(s)}</text>`).join('');
  return `<figure><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(title)}" width="${labelW + plotW + 80}" height="${height}" viewBox="0 0 ${labelW + plotW + 80} ${height}"><text x="0" y="16" class="t">${esc(title)} (${esc(unit)})</text>${rows}${legend}</svg></figure>`;
}

function table(headers: string[], rows: Array<Array<string | number>>): string {
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function renderReportHtml(r: SimReport): string {
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
      label: h.upToS >= Number.MAX_SAFE_INTEGER ? `> ${all[i - 1]!.upToS} s` : `≤ ${h.upToS} s`,
      values: [h.count],
    })),
  );
  const refusals = barChart(
    'Refusals by reason (all scenarios, thief included)',
    'count',
    ['refused'],
    Object.entries(r.refusals).map(([k, v]) => ({ label: k, values: [v] })),
  );
  const theftOk = r.theft.accepted === 0;
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>keybound fleet simulation: ${esc(r.scenario)}, ${r.devices} devices, seed ${esc(r.seed)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;max-width:1000px;color:#1a202c}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #cbd5e0;padding:.2rem .5rem;text-align:left}
svg .t{font-weight:600;font-size:13px} svg .l{text-anchor:end;font-size:11px} svg .v{font-size:11px}
.ok{color:#276749;font-weight:600} .bad{color:#c53030;font-weight:600}
</style></head><body>
<h1>keybound fleet simulation</h1>
<p>Scenario <b>${esc(r.scenario)}</b>, <b>${r.devices}</b> devices, seed <b>${esc(r.seed)}</b>; ${esc(r.issuer)}; ${esc(r.relay)}.
${r.simulatedHours} simulated hours, ${r.events} events. Generated <time id="generated-at">${esc(r.generatedAt)}</time>.</p>
<p>Authorizations: ${r.authorizations.succeeded} of ${r.authorizations.attempted} succeeded.</p>
<p id="theft-summary" class="${theftOk ? 'ok' : 'bad'}">Theft: ${r.theft.accepted} stolen tokens or proofs accepted out of ${r.theft.tries} tries.</p>
<h2>Energy</h2>${energy}
<h2>Bytes on air</h2>${bytes}
${table(['token type', 'authorizations', 'token CWT', 'token JWT', 'on air CWT', 'on air JWT'], r.bytesOnAir.map((b) => [b.tokenType, b.count, b.tokenCwt, b.tokenJwt, b.airCwt, b.airJwt]))}
<h2>Time to first authorized request</h2>${ttf}
<p>p50 ${r.timeToFirstAuthorizedRequest.p50S} s, p90 ${r.timeToFirstAuthorizedRequest.p90S} s, max ${r.timeToFirstAuthorizedRequest.maxS} s (devices wake every few minutes: the token waits in the relay).</p>
<h2>Refusals</h2>${refusals}
<h2 id="why-not-authorized">Why not authorized</h2>
<p>${r.authorizations.attempted - r.authorizations.succeeded} of ${r.authorizations.attempted} devices were not authorized${r.unauthorized.length ? ', each for the reason its device (or the client) gave:' : '.'}</p>
${r.unauthorized.length ? table(['reason', 'profile', 'token type', 'devices'], r.unauthorized.map((u) => [u.reason, u.profile, u.tokenType, u.devices])) : ''}
<h2>Scenario checks</h2>
${table(['check', 'result'], [
    ['theft: tries / accepted', `${r.theft.tries} / ${r.theft.accepted}`],
    ...Object.entries(r.theft.byAttack).map(([k, v]) => [`  ${k}`, `${v.tries} / ${v.accepted}`]),
    ['revocation: revoked / applied by sleeping devices', `${r.revocation.revoked} / ${r.revocation.devicesApplied}`],
    ['revocation: delay p50 / max (s)', `${r.revocation.p50DelayS} / ${r.revocation.maxDelayS}`],
    ['revocation: requests after / accepted', `${r.revocation.requestsAfter} / ${r.revocation.acceptedAfter}`],
    ['reboot storm: reboots / requests / served', `${r.reboots.reboots} / ${r.reboots.requests} / ${r.reboots.succeeded}`],
    ['reboot storm: replays across reboot refused', `${r.reboots.replaysRefused} of ${r.reboots.replaysTried}`],
    ['AEAD nonce reuse (all devices)', r.reboots.nonceReuse],
    ['flash writes / bytes', `${r.reboots.flashWrites} / ${r.reboots.flashBytes}`],
    ['clock-less: refused after exi / reused token refused / renewed', `${r.clockless.expiredRefused} / ${r.clockless.reusedTokenRefused} / ${r.clockless.renewed}`],
    ['connected: gateway requests / introspections / cache hits', `${r.connected.gatewayRequests} / ${r.connected.introspections} / ${r.connected.cacheHits}`],
    ['connected: reference tokens / cache entries expired / evicted', `${r.connected.referenceTokens} / ${r.connected.cacheExpired} / ${r.connected.cacheEvictions}`],
    ['connected: revoked / served from cache after / refused after (max stale s)', `${r.connected.revokedTokens} / ${r.connected.servedAfterRevocation} / ${r.connected.revokedRefused} (${r.connected.maxServedAfterRevocationS})`],
    ['flash: refused writes / max wear (fraction of endurance)', `${r.flash.refusedWrites} / ${r.flash.maxWearFraction}`],
  ])}
<h2>Hardware profiles</h2>
${table(['profile', 'part', 'RFC 7228 class', 'devices', 'keybound RAM B', 'token budget B', 'sessions', 'flash region B', 'max flash wear', 'mean active mJ', 'battery %/day', 'verifies'], r.profiles.map((p) => [p.profile, p.part, p.rfc7228Class, p.devices, p.keyboundRamBytes, p.tokenBudgetBytes, p.maxSessions, p.flashRegionBytes, p.maxFlashWearFraction, p.meanActiveMilliJoule, p.meanBatteryPctPerDay, p.cryptoVerifies]))}
${r.engine === 'quickjs' ? `<h2>QuickJS heap (device code run in QuickJS)</h2>
${table(['profile', 'part RAM B', 'RAM model (keybound share) B', 'QuickJS peak heap B'], r.profiles.map((p) => [p.profile, p.partRamBytes, p.keyboundRamBytes, p.quickjsPeakHeapBytes ?? 0]))}` : ''}
<h2>Radio</h2>
${table(['messages', 'frames', 'link attempts', 'lost on air (requeued)', 'TRL deliveries', 'wakes'], [[r.radio.messages, r.radio.frames, r.radio.linkAttempts, r.radio.lostOnAir, r.radio.trlDeliveries, r.radio.wakes]])}
<script type="application/json" id="report-json">${json}</script>
</body></html>
`;
}
