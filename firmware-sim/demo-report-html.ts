/**
 * The demo's own report (`keybound demo`, what `npm start` runs): the story of DESIGN.md told with
 * what the run did. A doctor's app gets a token and reaches an EKG (the connected flow, with the
 * gateway introspecting its reference token until the doctor's access is withdrawn); the EKG, now
 * a client, gets a token for a test tube that is never online and reaches it through the broker
 * (the disconnected flow); a thief replays what it overheard and is refused. Each flow is a
 * sequence chart drawn from the recorded messages (report.flows), then the checks, then the fleet
 * measurements the fleet report also shows.
 */
import type { FlowName } from './flow-trace.js';
import { escapeHtml as esc } from './html-escape.js';
import { formatNumber } from './number-format.js';
import { checksTable, fleetSections, reportPage, runLine, table, theftSummary } from './report-html.js';
import { sequenceChart, type Lane } from './sequence-chart.js';
import type { SimReport } from './sim-report.js';

export const DEMO_REPORT_TITLE = 'keybound demo: a doctor, an EKG and a test tube';

function lanes(r: SimReport, flow: FlowName): Lane[] {
  const relay: Lane = { actor: 'relay', label: /broker/i.test(r.relay) ? 'Broker (MQTT)' : 'Relay' };
  const authz: Lane = { actor: 'authz', label: 'Authorization service' };
  if (flow === 'connected') return [{ actor: 'app', label: "Doctor's app" }, authz, { actor: 'gateway', label: 'Gateway' }, relay, { actor: 'ekg', label: 'EKG' }];
  const ekg: Lane = { actor: 'ekg', label: 'EKG (as client)' };
  const tube: Lane = { actor: 'tube', label: 'Test tube (offline)' };
  return flow === 'disconnected' ? [ekg, authz, relay, tube] : [ekg, authz, relay, tube, { actor: 'thief', label: 'Thief' }];
}

function flowSection(r: SimReport, flow: FlowName, heading: string, text: string): string {
  const events = r.flows.events.filter((e) => e.flow === flow);
  if (events.length === 0) return `<h2 id="flow-${flow}">${esc(heading)}</h2><p>This run had no device in this flow.</p>`;
  const device = events[0]!.device;
  const more = r.flows.dropped[flow];
  const chart = sequenceChart(`chart-${flow}`, `${heading} (device ${device})`, lanes(r, flow), events);
  return `<h2 id="flow-${flow}">${esc(heading)}</h2>
<p>${text}</p>
${chart}${more ? `<p>${esc(formatNumber(more))} later messages of this flow are not drawn.</p>` : ''}`;
}

export function renderDemoReportHtml(r: SimReport): string {
  const c = r.connected;
  const refusedThief = r.flows.events.filter((e) => e.flow === 'theft' && e.outcome === 'refused').length;
  const n = (x: number, unit?: string) => esc(formatNumber(x, unit));
  const body = `${runLine(r)}
<p>Every arrow below is a message the demo really sent, in the order and at the (virtual) time it
was sent, recorded for one device per flow; the numbers are over the whole fleet of ${n(r.devices)} devices.</p>
${theftSummary(r)}
<h2 id="scenario-checks">Checks</h2>
${checksTable(r)}
${flowSection(
  r,
  'connected',
  "1. Connected: the doctor's app reaches the EKG",
  `The app asks the authorization service for a token bound to a key, hands it to the always-on EKG,
which verifies it offline, and reads it. Its calls through the gateway carry a reference token that the
gateway introspects and caches (${n(c.gatewayRequests)} requests, ${n(c.introspections)} introspections, ${n(c.cacheHits)} answered from the cache).
When the doctor's access is withdrawn the gateway serves from its cache until the entry ages out, then refuses (${n(c.revokedRefused)} of ${n(c.revokedTokens)} revoked tokens refused).`,
)}
${flowSection(
  r,
  'disconnected',
  '2. Disconnected: the EKG reaches a test tube that is never online',
  `The EKG, now a client, gets a token whose audience is the tube. The tube sleeps: the message waits in the
broker until it wakes (p50 ${n(r.timeToFirstAuthorizedRequest.p50S, 's')} to the first authorized request), and the tube checks the token
against the service key it was provisioned with. Nothing asks the service.`,
)}
${flowSection(
  r,
  'theft',
  '3. The thief replays what it overheard',
  `A thief listening on the air replays captured requests, presents the stolen token with its own or a guessed key,
takes it to another device${/broker/i.test(r.relay) ? ' and replays the device\'s CONNECT at the broker' : ''}: ${n(refusedThief)} refused tries are drawn here;
over the fleet ${n(r.theft.tries)} tries, ${n(r.theft.accepted)} accepted.`,
)}
${table(['attack', 'tries', 'accepted'], Object.entries(r.theft.byAttack).map(([k, v]) => [k, v.tries, v.accepted]))}
<h2 id="fleet">The fleet behind the story</h2>
${fleetSections(r)}`;
  return reportPage(DEMO_REPORT_TITLE, r, body);
}
