/**
 * Issue 15, the broker as an operator runs it: a small HTTP listener of its own (loopback by
 * default) with /healthz, /readyz and Prometheus /metrics, scraped after real MQTT traffic and
 * read by a strict parser of the text format for the exact increments: CONNECTs admitted and
 * refused by reason code, PUBLISHes refused by reason, revocation lists applied, admission
 * latency. And the CLI's --metrics-port, --log-level and LOG_LEVEL.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coseKeyToMap, encodeCbor, tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { brokerCommand, brokerServe } from '../cli/index.js';
import { AUDIENCE, connect, createIssuer, ed25519, password, refusal } from './support/broker-fixture.js';
import { jsonLines } from './support/processes.js';
import { sample, scrape } from './support/prometheus-text.js';

const issuer = createIssuer();
let broker: KeyboundBroker;
let url = '';
let metricsUrl = '';

beforeAll(async () => {
  broker = await createBroker({ audience: AUDIENCE, trust: issuer.trust });
  const a = await broker.listen({ port: 0, metricsPort: 0 });
  url = a.url;
  metricsUrl = a.metricsUrl!;
});
afterAll(() => broker?.close());

describe('the broker\'s /metrics (exact increments after real MQTT traffic)', () => {
  it('counts admissions, refusals by reason, dropped publishes by reason, lists applied, and admission latency', async () => {
    const before = await scrape(`${metricsUrl}/metrics`);
    const a = issuer.token({ scope: [['x/#', ['pub', 'sub']]] });
    const pwA = password(a.token, a.key, 'm-a');
    const clientA = await connect(url, 'm-a', pwA);
    const b = issuer.token({ scope: [['x/#', ['pub']]] });
    await (await connect(url, 'm-b', password(b.token, b.key, 'm-b'))).endAsync();
    expect(await refusal(connect(url, 'm-a2', pwA))).toBe(4); // the proof binds m-a: bad_proof
    const replayed = password(b.token, b.key, 'm-r');
    await (await connect(url, 'm-r', replayed)).endAsync();
    expect(await refusal(connect(url, 'm-r', replayed))).toBe(4); // replay
    const other = issuer.token({ scope: [['x/#', ['pub']]], audience: 'broker-2' });
    expect(await refusal(connect(url, 'm-w', password(other.token, other.key, 'm-w')))).toBe(5); // wrong_audience
    const thief = ed25519('thief');
    expect(await refusal(connect(url, 'm-t', password(a.token, thief, 'm-t')))).toBe(4); // bad_proof
    // Two PUBLISHes outside the scope: acknowledged and dropped (hooks.ts), counted.
    await clientA.publishAsync('y/1', 'no', { qos: 1 });
    await clientA.publishAsync('y/2', 'no', { qos: 1 });
    await clientA.publishAsync('x/1', 'yes', { qos: 1 });
    // A signed revocation list, applied, and the revoked client disconnected.
    await broker.publishRevocationList(AUDIENCE, issuer.revoke(AUDIENCE, tokenHash(a.token, nativeProvider)));
    await clientA.endAsync(true);
    const after = await scrape(`${metricsUrl}/metrics`);
    const delta = (key: string) => sample(after, key) - sample(before, key);

    expect(after.types.get('keybound_broker_connects_admitted_total')).toBe('counter');
    expect(delta('keybound_broker_connects_admitted_total')).toBe(3);
    expect(delta('keybound_broker_connects_refused_total{reason="bad_proof"}')).toBe(2);
    expect(delta('keybound_broker_connects_refused_total{reason="replay"}')).toBe(1);
    expect(delta('keybound_broker_connects_refused_total{reason="wrong_audience"}')).toBe(1);
    expect(delta('keybound_broker_publishes_refused_total{reason="outside_scope"}')).toBe(2);
    expect(delta('keybound_broker_revocation_lists_applied_total')).toBe(1);
    expect(after.types.get('keybound_broker_connect_admission_seconds')).toBe('histogram');
    expect(delta('keybound_broker_connect_admission_seconds_count')).toBe(7);
    expect(delta('keybound_broker_connect_admission_seconds_bucket{le="+Inf"}')).toBe(7);
  }, 30_000);
});

describe('the broker\'s ops listener', () => {
  it('listens on loopback by default; /healthz, /readyz with its checks; GET only; nothing else', async () => {
    expect(new URL(metricsUrl).hostname).toBe('127.0.0.1');
    const h = await fetch(`${metricsUrl}/healthz`);
    expect([h.status, await h.json()]).toEqual([200, { status: 'ok' }]);
    const r = await fetch(`${metricsUrl}/readyz`);
    expect([r.status, await r.json()]).toEqual([200, { status: 'ready', checks: { listening: true, trust: true } }]);
    expect((await fetch(`${metricsUrl}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${metricsUrl}/admin`)).status).toBe(404);
  });

  it('a broker closing is no longer ready, and its listener goes with it', async () => {
    const b = await createBroker({ audience: AUDIENCE, trust: issuer.trust });
    const { metricsUrl: m } = await b.listen({ port: 0, metricsPort: 0 });
    expect(b.readiness()).toEqual({ ready: true, checks: { listening: true, trust: true } });
    await b.close();
    expect(b.readiness().ready).toBe(false);
    await expect(fetch(`${m}/healthz`)).rejects.toThrow();
  });

  it('without metricsPort there is no HTTP listener at all', async () => {
    const b = await createBroker({ audience: AUDIENCE, trust: issuer.trust });
    try {
      expect((await b.listen({ port: 0 })).metricsUrl).toBeUndefined();
    } finally {
      await b.close();
    }
  });
});

describe('keybound broker serve: --metrics-port, --log-level, LOG_LEVEL', () => {
  function io() {
    const out = { stdout: '', stderr: '' };
    return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
  }
  const trust = join(mkdtempSync(join(tmpdir(), 'kb-ops-broker-')), 'keys.cbor');
  writeFileSync(trust, encodeCbor(issuer.trust.map(coseKeyToMap)));
  const args = ['--audience', AUDIENCE, '--trust', trust, '--port', '0'];

  it('prints the metrics URL on stdout (stdout: the one human line; stderr: JSON lines only)', async () => {
    const c = io();
    const b = await brokerServe([...args, '--metrics-port', '0'], c.io);
    try {
      const m = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(c.out.stdout)?.[1];
      expect(m).toBeDefined();
      await scrape(`${m}/metrics`);
      const mqtt = /listening on (mqtt:\/\/[\d.:]+)/.exec(c.out.stdout)![1]!;
      const t = issuer.token({ scope: [['x/#', ['pub']]] });
      await (await connect(mqtt, 'cli-m', password(t.token, t.key, 'cli-m'))).endAsync();
      expect(c.out.stdout.trim().split('\n')).toHaveLength(1);
      const lines = jsonLines(c.out.stderr); // throws on any line that is not JSON
      expect(lines.find((l) => l.event === 'connect_admitted')).toMatchObject({ clientId: 'cli-m', level: 30, name: 'broker' });
    } finally {
      await b.close();
    }
  });

  it('--log-level warn logs refusals and not admissions; LOG_LEVEL does the same; the flag wins', async () => {
    for (const [extra, env] of [[['--log-level', 'warn'], undefined], [[], 'warn'], [['--log-level', 'warn'], 'trace']] as const) {
      const saved = process.env.LOG_LEVEL;
      if (env === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = env;
      const c = io();
      const b = await brokerServe([...args, ...extra], c.io).finally(() => (saved === undefined ? delete process.env.LOG_LEVEL : (process.env.LOG_LEVEL = saved)));
      try {
        const mqtt = /listening on (mqtt:\/\/[\d.:]+)/.exec(c.out.stdout)![1]!;
        const t = issuer.token({ scope: [['x/#', ['pub']]] });
        await (await connect(mqtt, 'lv-ok', password(t.token, t.key, 'lv-ok'))).endAsync();
        await refusal(connect(mqtt, 'lv-bad', password(t.token, ed25519('x'), 'lv-bad')));
        const lines = jsonLines(c.out.stderr);
        expect(lines.some((l) => l.event === 'connect_refused' && l.clientId === 'lv-bad'), `${extra} ${env}`).toBe(true);
        expect(lines.some((l) => l.event === 'connect_admitted'), `${extra} ${env}`).toBe(false);
      } finally {
        await b.close();
      }
    }
  }, 30_000);

  it('refuses an unknown level and --metrics-host without --metrics-port, as usage errors', async () => {
    const a = io();
    expect(await brokerCommand(['serve', ...args, '--log-level', 'verbose'], a.io)).toBe(2);
    expect(a.out.stderr).toMatch(/--log-level must be one of fatal, error, warn, info, debug, trace, silent/);
    const b = io();
    expect(await brokerCommand(['serve', ...args, '--metrics-host', '0.0.0.0'], b.io)).toBe(2);
    expect(b.out.stderr).toMatch(/--metrics-host needs --metrics-port/);
  });
});

describe('keybound broker serve: a metrics port in use', () => {
  it('fails with the listen error and leaves nothing running (the MQTT port is free again)', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const busy = (taken.address() as { port: number }).port;
    const mqttPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const trust = join(mkdtempSync(join(tmpdir(), 'kb-ops-busy-')), 'keys.cbor');
    writeFileSync(trust, encodeCbor(issuer.trust.map(coseKeyToMap)));
    const out = { stdout: '', stderr: '' };
    const code = await brokerCommand(['serve', '--audience', AUDIENCE, '--trust', trust, '--port', String(mqttPort), '--metrics-port', String(busy)], {
      stdout: { write: (t: string) => (out.stdout += t) },
      stderr: { write: (t: string) => (out.stderr += t) },
    });
    taken.close();
    expect(code).toBe(1);
    expect(out.stderr).toMatch(/EADDRINUSE/);
    // The broker that had started listening on MQTT was closed: its port can be taken again.
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(mqttPort, '127.0.0.1', () => resolve());
    });
    again.close();
  });
});
