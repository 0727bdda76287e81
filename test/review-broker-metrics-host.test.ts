/**
 * Review (issue 15, the broker's --metrics-port listener), as deployed: `keybound broker serve`
 * as a process. /metrics of the broker has no token (ops-listener.ts: loopback is the guard), so
 * `--metrics-host 0.0.0.0` serves the audiences and rates to anyone who can reach the port. That
 * is allowed (a Prometheus on another host), but never silently: the broker logs one
 * `metrics_exposed` warning; on loopback (the default) none.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('--client-secret-file readable by others is announced', () => {
  it('mode 0644: one secret_file_readable warning naming the option, never the secret', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kb-review-broker-secret-')), 'secret');
    writeFileSync(file, 'broker-introspection-secret-0123\n');
    chmodSync(file, 0o644);
    const b = await serveBroker(trustFile(createIssuer().trust), ['--authz-url', 'http://127.0.0.1:9', '--client-id', 'broker-1-rs', '--client-secret-file', file]);
    try {
      const lines = await startupLines(b);
      expect(lines.filter((l) => l.event === 'secret_file_readable').map((l) => [l.option, l.level])).toEqual([['client-secret-file', 40]]);
      expect(b.stderr).not.toContain('broker-introspection-secret');
    } finally {
      await stop(b.proc);
    }
  }, 90_000);
});
