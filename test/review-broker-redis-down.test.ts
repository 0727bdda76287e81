/**
 * Review: Redis down mid-flight. mqemitter-redis re-emits its connections' errors on an event
 * emitter nobody listened to, so the first connection error after redis-server died threw, and
 * `keybound broker serve --redis` exited: one Redis blip took every broker of the cluster down
 * with all its clients. The broker must stay up, refuse what it cannot check (fail closed:
 * no CONNECT admitted without the shared replay store), and work again when Redis is back.
 * bin/keybound.js as its own process; redis-server killed with SIGKILL and started again on
 * the same port. Issue 15 adds: /readyz says so while Redis is gone (and again once it is back),
 * refusals carry the reason `redis_unavailable` (CONNACK 3) in the log and the metrics, and a
 * Redis unreachable at start is one line and an exit code, not a hang or a stack trace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createIssuer, password, refusal, sleep } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { sample, scrape } from './support/prometheus-text.js';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/redis-server.js';
import { jsonLines, stop, waitForLine } from './support/processes.js';

const issuer = createIssuer();
let redisPort: number;
let redis: ChildProcess | undefined;
let broker: BrokerProcess;
let url: string;

async function startRedisOn(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForLine(proc, /Ready to accept connections/);
  return proc;
}

beforeAll(async () => {
  redisPort = await freePort();
  redis = await startRedisOn(redisPort);
  broker = await serveBroker(trustFile(issuer.trust), ['--redis', `redis://127.0.0.1:${redisPort}`, '--metrics-port', '0']);
  url = broker.url;
}, 60_000);

afterAll(async () => {
  await stop(broker?.proc);
  redis?.kill('SIGKILL');
});

describe('Redis down mid-flight', () => {
  it('the broker stays up and refuses CONNECTs it cannot check, then admits again once Redis is back', async () => {
    const t = issuer.token({ scope: [['x/#', ['pub', 'sub']]] });
    await (await connect(url, 'before', password(t.token, t.key, 'before'))).endAsync(); // the positive case

    const m = broker.metricsUrl!;
    expect((await fetch(`${m}/readyz`)).status).toBe(200);
    redis!.kill('SIGKILL');
    await new Promise((r) => redis!.once('exit', r));
    redis = undefined;
    await sleep(1000);
    expect(broker.proc.exitCode).toBeNull();
    // Not ready while Redis is gone, and /readyz says which check fails; health is still fine.
    const down = await readyz(m, 503);
    expect(down).toEqual({ status: 'not ready', checks: { listening: true, trust: true, redis: false } });
    expect((await fetch(`${m}/healthz`)).status).toBe(200);
    for (const clean of [true, false]) {
      const code = await refusal(connect(url, `during-${clean}`, password(t.token, t.key, `during-${clean}`), { clean, connectTimeout: 15_000 }));
      expect([3, 5]).toContain(code); // refused with a CONNACK (fail closed), not admitted, not a dead socket
    }
    expect(broker.proc.exitCode).toBeNull();
    const refusedDown = jsonLines(broker.stderr).filter((l) => l.event === 'connect_refused' && String(l.clientId).startsWith('during-'));
    expect(refusedDown.map((l) => l.code)).toEqual(['redis_unavailable', 'redis_unavailable']);
    expect(sample(await scrape(`${m}/metrics`), 'keybound_broker_connects_refused_total{reason="redis_unavailable"}')).toBe(2);

    redis = await startRedisOn(redisPort);
    let code = -1;
    for (let i = 0; i < 40 && code !== 0; i++) {
      await sleep(250);
      code = await refusal(connect(url, `after-${i}`, password(t.token, t.key, `after-${i}`)));
    }
    expect(code).toBe(0);
    expect(broker.stderr).toMatch(/broker: Redis: /);
    expect(await readyz(m, 200)).toEqual({ status: 'ready', checks: { listening: true, trust: true, redis: true } });
  }, 60_000);
});

/** /readyz once it answers `status` (Redis' state reaches the connections within a few retries). */
async function readyz(base: string, status: number): Promise<unknown> {
  let last = 0;
  for (let i = 0; i < 60; i++) {
    const res = await fetch(`${base}/readyz`);
    last = res.status;
    if (res.status === status) return res.json();
    await sleep(250);
  }
  throw new Error(`/readyz stayed ${last}, not ${status}`);
}

describe('Redis unreachable at start', () => {
  const bin = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));
  it('exits 1 with one line naming host, port, the reason code and what to do; no stack trace, no password', async () => {
    const port = await freePort(); // nothing listens there
    const proc = spawn(process.execPath, [bin, 'broker', 'serve', '--audience', 'broker-1', '--trust', trustFile(issuer.trust), '--port', '0', '--redis', `redis://:pa55-w0rd-in-url@127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exit = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    expect(exit).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`Redis at 127.0.0.1:${port} is not reachable (ECONNREFUSED)`);
    expect(stderr).toMatch(/start redis-server there or fix --redis \(redis_unavailable\)\n$/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr).not.toContain('pa55-w0rd-in-url');
  }, 30_000);

  it('a URL that is not redis:// is refused the same way', async () => {
    const proc = spawn(process.execPath, [bin, 'broker', 'serve', '--audience', 'broker-1', '--trust', trustFile(issuer.trust), '--port', '0', '--redis', 'http://127.0.0.1:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)))).toBe(1);
    expect(stderr).toMatch(/^keybound broker serve: --redis takes a redis:\/\/host:port URL \(redis_unavailable\)\n$/);
  }, 30_000);
});
