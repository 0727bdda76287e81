/**
 * Review: Redis down mid-flight. mqemitter-redis re-emits its connections' errors on an event
 * emitter nobody listened to, so the first connection error after redis-server died threw, and
 * `keybound broker serve --redis` exited: one Redis blip took every broker of the cluster down
 * with all its clients. The broker must stay up, refuse what it cannot check (fail closed:
 * no CONNECT admitted without the shared replay store), and work again when Redis is back.
 * bin/keybound.js as its own process; redis-server killed with SIGKILL and started again on
 * the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createIssuer, password, refusal, sleep } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { freePort } from './support/redis-server.js';
import { stop, waitForLine } from './support/processes.js';

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
  broker = await serveBroker(trustFile(issuer.trust), ['--redis', `redis://127.0.0.1:${redisPort}`]);
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

    redis!.kill('SIGKILL');
    await new Promise((r) => redis!.once('exit', r));
    redis = undefined;
    await sleep(1000);
    expect(broker.proc.exitCode).toBeNull();
    for (const clean of [true, false]) {
      const code = await refusal(connect(url, `during-${clean}`, password(t.token, t.key, `during-${clean}`), { clean, connectTimeout: 15_000 }));
      expect([3, 5]).toContain(code); // refused with a CONNACK (fail closed), not admitted, not a dead socket
    }
    expect(broker.proc.exitCode).toBeNull();

    redis = await startRedisOn(redisPort);
    let code = -1;
    for (let i = 0; i < 40 && code !== 0; i++) {
      await sleep(250);
      code = await refusal(connect(url, `after-${i}`, password(t.token, t.key, `after-${i}`)));
    }
    expect(code).toBe(0);
    expect(broker.stderr).toMatch(/broker: Redis: /);
  }, 60_000);
});
