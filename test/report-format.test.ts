/**
 * Reports a person reads at a glance (issue 15): one number format, a progress bar that writes
 * plain lines off a terminal and always ends at 100%, checks with a verdict (a failing promise
 * shows FAIL, a case the run did not have shows "not run"), the demo's own report with the flows
 * recorded as they ran, and the same seed still giving the same bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  DEMO_REPORT_TITLE,
  FlowTrace,
  MAX_FLOW_EVENTS,
  checksSummary,
  createProgressBar,
  formatNumber,
  formatPair,
  renderDemoReportHtml,
  renderReportHtml,
  runFleet,
  scenarioChecks,
  storyTellers,
  type SimReport,
} from '../firmware-sim/index.js';
import { simCommand } from '../cli/index.js';

const fixedNow = () => new Date('2027-01-15T00:00:00Z');

describe('formatNumber: the one number format', () => {
  it.each([
    [0, undefined, '0'],
    [999, undefined, '999'],
    [1000, undefined, '1,000'],
    [10_000, 'devices', '10,000 devices'],
    [-1_234_567, undefined, '-1,234,567'],
    [1234.5, 'mJ', '1,235 mJ'],
    [12.3456, 's', '12.35 s'],
    [0.5, undefined, '0.5'],
    [0.000012345, undefined, '0.0000123'],
    [1e-9, undefined, '1.00e-9'],
    [-0.25, undefined, '-0.25'],
    [Number.NaN, undefined, 'n/a'],
  ])('%s %s -> %s', (x, unit, want) => expect(formatNumber(x, unit)).toBe(want));

  it('does not follow the host locale', () => {
    const original = Number.prototype.toLocaleString;
    Number.prototype.toLocaleString = () => 'LOCALE';
    try {
      expect(formatNumber(1234567)).toBe('1,234,567');
    } finally {
      Number.prototype.toLocaleString = original;
    }
  });

  it('pairs counts', () => expect(formatPair(1200, 3, 0)).toBe('1,200 / 3 / 0'));
});

describe('the progress bar', () => {
  const sink = (isTTY?: boolean) => {
    const s = { text: '', write: (t: string) => void (s.text += t), ...(isTTY === undefined ? {} : { isTTY }) };
    return s;
  };

  it('off a terminal: plain lines, no carriage return, one per tenth, ending at 100%', () => {
    const s = sink(false);
    const bar = createProgressBar(s, { force: true, label: 'mixed' });
    for (let done = 0; done <= 9_500; done += 250) bar.update(done, 10_000);
    bar.finish();
    expect(s.text).not.toContain('\r');
    const lines = s.text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(11);
    expect(lines[0]).toBe('mixed: 0/10,000 devices (0%)');
    // The run stopped reporting at 95%; finish() still shows it whole.
    expect(lines.at(-1)).toBe('mixed: 10,000/10,000 devices (100%)');
  });

  it('does not print 100% twice when the last update already showed it', () => {
    const s = sink(false);
    const bar = createProgressBar(s, { force: true });
    bar.update(10, 10);
    bar.finish();
    expect(s.text).toBe('sim: 10/10 devices (100%)\n');
  });

  it('on a terminal: redraws one line with \\r and ends at 100% with a newline', () => {
    const s = sink(true);
    let t = 0;
    const bar = createProgressBar(s, { now: () => (t += 1000) });
    bar.update(3, 10);
    bar.update(7, 10);
    bar.finish();
    expect(s.text.startsWith('\r')).toBe(true);
    expect(s.text.endsWith('10/10 devices 100%\n')).toBe(true);
    expect(s.text).toContain('[' + '#'.repeat(30) + ']');
  });

  it('writes nothing off a terminal unless asked', () => {
    const bar = createProgressBar({ write: () => { throw new Error('wrote'); } });
    bar.update(1, 2);
    bar.finish();
    expect(bar.enabled).toBe(false);
  });

  it('`keybound sim --progress` into a pipe prints plain lines ending at 100%', async () => {
    let err = '';
    const code = await simCommand(['--scenario', 'theft', '--devices', '6', '--seed', '1', '--progress'], { stdout: { write: () => true }, stderr: { write: (s: string) => void (err += s) } });
    expect(code).toBe(0);
    expect(err).not.toContain('\r');
    expect(err.trimEnd().split('\n').at(-1)).toBe('theft: 6/6 devices (100%)');
  }, 60_000);
});

describe('scenario checks carry verdicts', () => {
  let base: SimReport;
  const get = async () => (base ??= await runFleet({ scenario: 'mixed', devices: 24, seed: 'checks', now: fixedNow }));
  const verdict = (r: SimReport, name: string) => scenarioChecks(r).find((c) => c.name === name)?.verdict;

  it('a clean run passes every judged check', async () => {
    const r = await get();
    const checks = scenarioChecks(r);
    expect(checks.filter((c) => c.verdict === 'fail')).toEqual([]);
    expect(checks.filter((c) => c.verdict === 'pass').length).toBeGreaterThan(8);
    expect(checksSummary(checks)).toMatch(/^\d+ pass, 0 fail, 0 not run$/);
  }, 60_000);

  it('an accepted theft, a missed revocation or a nonce reuse is a FAIL, shown with a mark and the word', async () => {
    const r = structuredClone(await get());
    r.theft.accepted = 1;
    r.revocation.acceptedAfter = 1;
    r.reboots.nonceReuse = 1;
    expect(verdict(r, 'theft: tries / accepted')).toBe('fail');
    expect(verdict(r, 'revocation: requests after / accepted')).toBe('fail');
    expect(verdict(r, 'AEAD nonce reuse (all devices)')).toBe('fail');
    const html = renderReportHtml(r);
    expect(html).toMatch(/<tr class="check fail"><td>theft: tries \/ accepted<\/td><td class="n">[^<]+<\/td><td class="verdict" data-verdict="fail"><span class="mark" aria-hidden="true">✘<\/span> FAIL<\/td>/);
    expect(html).toContain('id="theft-summary" class="bad"><span aria-hidden="true">✘</span>');
  }, 60_000);

  it('a case the run did not have is "not run", not a pass', async () => {
    const r = await runFleet({ scenario: 'theft', devices: 4, seed: 'only-theft', now: fixedNow });
    expect(verdict(r, 'revocation: revoked / applied by sleeping devices')).toBe('not run');
    expect(verdict(r, 'theft: tries / accepted')).toBe('pass');
    expect(renderReportHtml(r)).toContain('data-verdict="not run"><span class="mark" aria-hidden="true">–</span> not run');
  }, 60_000);
});

describe('the flows recorded for the demo report', () => {
  it('keeps one device per flow and at most MAX_FLOW_EVENTS each, counting the rest', () => {
    const tellers = storyTellers([
      { id: 'a', role: 'disconnected' },
      { id: 'b', role: 'connected' },
      { id: 'c', role: 'theft' },
      { id: 'd', role: 'theft' },
    ]);
    expect([...tellers]).toEqual([
      ['b', 'connected'],
      ['a', 'disconnected'],
      ['c', 'theft'],
    ]);
    const trace = new FlowTrace(tellers, () => 1.23456);
    for (let i = 0; i < MAX_FLOW_EVENTS + 5; i++) trace.note('c', { from: 'thief', to: 'relay', what: `try ${i}`, outcome: 'sent' });
    trace.note('d', { from: 'thief', to: 'relay', what: 'not a teller', outcome: 'sent' });
    const r = trace.result();
    expect(r.events.length).toBe(MAX_FLOW_EVENTS);
    expect(r.dropped).toEqual({ connected: 0, disconnected: 0, theft: 5 });
    expect(r.events[0]).toEqual({ atS: 1.235, flow: 'theft', device: 'c', from: 'thief', to: 'relay', what: 'try 0', outcome: 'sent' });
  });

  it('records what the run did: the thief refused with the codes the fleet counted, at the times it ran', async () => {
    const r = await runFleet({ scenario: 'mixed', devices: 24, seed: 'flows', now: fixedNow });
    const theft = r.flows.events.filter((e) => e.flow === 'theft');
    const refusedThief = theft.filter((e) => e.to === 'thief' && e.outcome === 'refused');
    expect(refusedThief.length).toBeGreaterThanOrEqual(3);
    for (const e of refusedThief) expect(Object.keys(r.refusals)).toContain(e.reason);
    expect(theft.some((e) => e.to === 'thief' && e.outcome === 'ok')).toBe(false);
    for (const flow of ['connected', 'disconnected', 'theft'] as const) {
      const times = r.flows.events.filter((e) => e.flow === flow).map((e) => e.atS);
      expect(times.length, flow).toBeGreaterThan(3);
      expect([...times].sort((a, b) => a - b), `${flow} in time order`).toEqual(times);
    }
    // Another seed, another run: the chart is not a fixed picture.
    const other = await runFleet({ scenario: 'mixed', devices: 24, seed: 'flows-2', now: fixedNow });
    expect(other.flows.events.map((e) => e.atS)).not.toEqual(r.flows.events.map((e) => e.atS));
  }, 60_000);

  it('the demo report has its own title and is the same bytes for the same seed', async () => {
    const a = await runFleet({ scenario: 'mixed', devices: 24, seed: 'same', now: fixedNow });
    const b = await runFleet({ scenario: 'mixed', devices: 24, seed: 'same', now: fixedNow });
    const html = renderDemoReportHtml(a);
    expect(renderDemoReportHtml(b)).toBe(html);
    expect(html).toContain(`<title>${DEMO_REPORT_TITLE}</title>`);
    expect(renderReportHtml(a)).not.toContain(DEMO_REPORT_TITLE);
    expect(html.match(/<svg[^>]*class="sequence"/g)?.length).toBe(3);
  }, 60_000);
});
