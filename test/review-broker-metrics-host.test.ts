/**
 * Review (issue 15, the broker's --metrics-port listener), as deployed: `keybound broker serve`
 * as a process. /metrics of the broker has no token (ops-listener.ts: loopback is the guard), so
 * `--metrics-host 0.0.0.0` serves the audiences and rates to anyone who can reach the port. That
 * is allowed (a Prometheus on another host), but never silently: the broker logs one
 * `metrics_exposed` warning; on loopback (the default) none.
 */
import { describe, expect, it } from 'vitest';
import { createIssuer } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { jsonLines, stop } from './support/processes.js';

/** The broker's log lines once its start-up lines are in (the warning precedes the listening line). */
async function startupLines(b: BrokerProcess): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 100 && !b.stderr.includes('"event":"listening"'); i++) await new Promise((r) => setTimeout(r, 50));
  return jsonLines(b.stderr);
}

describe('--metrics-host off loopback is announced', () => {
  const trust = trustFile(createIssuer().trust);

  it('--metrics-host 0.0.0.0: one metrics_exposed warning, and /metrics answers (the widening is honoured)', async () => {
    const b = await serveBroker(trust, ['--metrics-port', '0', '--metrics-host', '0.0.0.0']);
    try {
      const lines = await startupLines(b);
      expect(lines.filter((l) => l.event === 'metrics_exposed').map((l) => [l.host, l.level])).toEqual([['0.0.0.0', 40]]);
      const port = new URL(b.metricsUrl!).port;
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      await stop(b.proc);
    }
  }, 90_000);

  it('the default (loopback): no warning', async () => {
    const b = await serveBroker(trust, ['--metrics-port', '0']);
    try {
      const lines = await startupLines(b);
      expect(lines.some((l) => l.event === 'listening')).toBe(true);
      expect(lines.filter((l) => l.event === 'metrics_exposed')).toEqual([]);
    } finally {
      await stop(b.proc);
    }
  }, 90_000);
});
