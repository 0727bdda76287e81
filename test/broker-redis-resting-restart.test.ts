/**
 * A persistent session at rest was watched only by a timer in the broker it left. On Redis,
 * aedes-persistence-redis keeps the session until a clean CONNECT under its id: once that broker
 * restarted (a deploy, a crash), nothing ever ended it, and it kept its filters and queued QoS 1
 * messages for a device that might never come back. The end is now in a ledger on the Redis
 * (broker/resting-session-ledger.ts) that every broker on it sweeps.
 *
 * As deployed: `keybound broker serve --redis` in its own processes on a real redis-server,
 * mqtt.js clients, the fixture issuer's tokens. The ledger's own rules (lease, done, due) are
 * checked against the same redis-server.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_CLIENT_ID_PREFIX, REDIS_RESTING_BACKFILLED, REDIS_RESTING_PREFIX, RESTING_LEASE_S, redisRestingSessionLedger } from '../broker/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { connect, createIssuer, now, password, sleep, wakeDevice } from './support/broker-fixture.js';
import { serveBroker, trustFile, type BrokerProcess } from './support/broker-process.js';
import { startRedis } from './support/redis-server.js';
import { jsonLines, stop } from './support/processes.js';

const GRACE_S = 2;
const issuer = createIssuer();
const trust = trustFile(issuer.trust);
let redis: ChildProcess;
let redisUrl: string;
let conn: Redis;
const brokers: BrokerProcess[] = [];
const open: MqttClient[] = [];

beforeAll(async () => {
  ({ process: redis, url: redisUrl } = await startRedis());
  conn = new Redis(redisUrl);
}, 30_000);
afterAll(async () => {
  for (const c of open) c.end(true);
  for (const b of brokers) await stop(b.proc);
  conn?.disconnect();
  redis?.kill('SIGTERM');
});

async function startBroker(): Promise<BrokerProcess> {
  const b = await serveBroker(trust, ['--redis', redisUrl, '--session-grace', String(GRACE_S)]);
  brokers.push(b);
  return b;
}

/** A device that subscribes at QoS 1 and sleeps with its session kept (clean=false). */
async function sleeper(url: string, id: string, exp: number): Promise<void> {
  const d = issuer.token({ scope: [[`ace/${id}/req`, ['sub']]], sub: id, exp });
  const c = await connect(url, id, password(d.token, d.key, id), { clean: false });
  await c.subscribeAsync(`ace/${id}/req`, { qos: 1 });
  await c.endAsync();
  // At rest once the broker has taken the close (its ledger entry): a message published before
  // that went to the closing connection, not to the session's queue.
  expect(await until(async () => (await conn.hvals(`${REDIS_RESTING_PREFIX}:who`)).some((w) => w.endsWith(` ${id}`)), 5000)).toBe(true);
}

/** A client queues one QoS 1 message for each device. */
async function queueFor(url: string, ids: string[]): Promise<void> {
  const c = issuer.token({ scope: [['ace/+/req', ['pub']]] });
  const client = await connect(url, `sender-${ids[0]}`, password(c.token, c.key, `sender-${ids[0]}`));
  for (const id of ids) await client.publishAsync(`ace/${id}/req`, 'queued', { qos: 1 });
  await client.endAsync();
  // aedes sends a QoS 1 PUBACK before it queues the message (lib/handlers/publish.js): a broker
  // killed at once can lose it. Killed only once the queue is in Redis.
  for (const id of ids) expect(await until(async () => (await conn.llen(`outgoing:${id}`)) === 1, 5000)).toBe(true);
}

/** The device wakes (clean=false) with a new token (closed after the file's tests). */
async function wake(url: string, id: string) {
  const woke = await wakeDevice(issuer, url, id);
  open.push(woke.client);
  return woke;
}

const endedLines = (b: BrokerProcess, id: string) => jsonLines(b.stderr).filter((l) => l.event === 'session_ended' && l.clientId === id).length;

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await sleep(100);
  return cond();
}

describe('a session at rest ends after the broker it left is gone', () => {
  it('a broker killed with the session at rest: the next broker on the Redis ends it; a session whose token lives keeps its queue', async () => {
    const first = await startBroker();

    const exp = Math.floor(now()) + 6; // its end (exp + GRACE_S) comes after the kill even on a slow machine
    await sleeper(first.url, 'tube-61', exp);
    await sleeper(first.url, 'tube-62', Math.floor(now()) + 3600);
    await queueFor(first.url, ['tube-61', 'tube-62']);
    first.proc.kill('SIGKILL'); // a crash: no close, no timer left anywhere
    await new Promise((r) => first.proc.once('exit', r));

    const second = await startBroker();
    // Its end is exp + GRACE_S; the sweep after it, within a second.
    expect(await until(() => endedLines(second, 'tube-61') === 1, (exp + GRACE_S - now()) * 1000 + 5000)).toBe(true);
    const ended = await wake(second.url, 'tube-61');
    expect(ended.sessionPresent).toBe(false);
    await sleep(300);
    expect(ended.box.got).toEqual([]);
    const kept = await wake(second.url, 'tube-62');
    expect(kept.sessionPresent).toBe(true);
    expect((await kept.box.next(1)).map((m) => m.payload.toString())).toEqual(['queued']);
    expect(endedLines(second, 'tube-62')).toBe(0);
    await stop(second.proc);
  }, 40_000);

  it('two brokers on one Redis: a session at rest is ended once, by one of them', async () => {
    const a = await startBroker();
    const exp = Math.floor(now()) + 3;
    await sleeper(a.url, 'tube-63', exp);
    await queueFor(a.url, ['tube-63']);
    // b starts after the session rests: its first sweep finds the entry and waits for its end,
    // while a's own timer waits for it too.
    const b = await startBroker();
    expect(await until(() => endedLines(a, 'tube-63') + endedLines(b, 'tube-63') > 0, (exp + GRACE_S - now()) * 1000 + 5000)).toBe(true);
    await sleep(1500);
    expect(endedLines(a, 'tube-63') + endedLines(b, 'tube-63')).toBe(1);
    const woke = await wake(b.url, 'tube-63');
    expect(woke.sessionPresent).toBe(false);
    await sleep(300);
    expect(woke.box.got).toEqual([]);
    expect(await conn.hvals(`${REDIS_RESTING_PREFIX}:who`)).not.toContainEqual(expect.stringContaining('tube-63'));
    await stop(a.proc);
    await stop(b.proc);
  }, 40_000);
});

describe('an upgrade: sessions that rested before the ledger existed', () => {
  it('the first broker of the new version records them (a token that lives: its record’s end; no record: a grace from now) and ends them', async () => {
    const old = await startBroker();
    const exp = Math.floor(now()) + 6; // its end comes after the kill even on a slow machine
    await sleeper(old.url, 'tube-65', exp);
    await sleeper(old.url, 'tube-66', Math.floor(now()) + 3600);
    await sleeper(old.url, 'tube-67', Math.floor(now()) + 3600);
    await queueFor(old.url, ['tube-65', 'tube-66', 'tube-67']);
    old.proc.kill('SIGKILL');
    await new Promise((r) => old.proc.once('exit', r));
    // What a broker of the earlier version leaves: sessions in aedes' store, no ledger. tube-66's
    // id record is gone too (as after its TTL), so its end is unknown.
    await conn.del(REDIS_RESTING_PREFIX, `${REDIS_RESTING_PREFIX}:who`, REDIS_RESTING_BACKFILLED);
    await conn.del(REDIS_CLIENT_ID_PREFIX + createHash('sha256').update('tube-66').digest('hex'));

    const started = now();
    const b = await startBroker();
    expect(await until(() => jsonLines(b.stderr).some((l) => l.event === 'sessions_at_rest_recorded'), 5000)).toBe(true);
    // These three, and any earlier test's session still in the store.
    expect(jsonLines(b.stderr).find((l) => l.event === 'sessions_at_rest_recorded')!.sessions).toBeGreaterThanOrEqual(3);
    // tube-67's entry ends with its id record: its token's expiry plus the grace.
    const ends = await conn.zscore(REDIS_RESTING_PREFIX, createHash('sha256').update('tube-67').digest('hex'));
    expect(Number(ends)).toBeGreaterThan(started + 3500);
    expect(await until(() => endedLines(b, 'tube-65') === 1 && endedLines(b, 'tube-66') === 1, (Math.max(exp, started) + GRACE_S - now()) * 1000 + 5000)).toBe(true);
    expect(endedLines(b, 'tube-67')).toBe(0);
    expect((await wake(b.url, 'tube-66')).sessionPresent).toBe(false);
    const kept = await wake(b.url, 'tube-67');
    expect(kept.sessionPresent).toBe(true);
    expect((await kept.box.next(1)).map((m) => m.payload.toString())).toEqual(['queued']);
    // Walked once: the next broker adds nothing.
    const again = await startBroker();
    await sleep(1000);
    expect(jsonLines(again.stderr).some((l) => l.event === 'sessions_at_rest_recorded')).toBe(false);
    await stop(again.proc);
    await stop(b.proc);
  }, 40_000);
});

describe('a ledger Redis will not write', () => {
  it('the session is still ended by the broker it left (its own timer), and the failure is logged', async () => {
    // The ledger's key taken by a value of another type: every write to it fails (WRONGTYPE).
    await conn.set(REDIS_RESTING_PREFIX, 'not a sorted set');
    const b = await startBroker();
    const exp = Math.floor(now()) + 3;
    const d = issuer.token({ scope: [['ace/tube-64/req', ['sub']]], sub: 'tube-64', exp });
    const c = await connect(b.url, 'tube-64', password(d.token, d.key, 'tube-64'), { clean: false });
    await c.subscribeAsync('ace/tube-64/req', { qos: 1 });
    await c.endAsync();
    expect(await until(() => jsonLines(b.stderr).some((l) => l.event === 'session_rest_not_recorded' && l.clientId === 'tube-64'), 5000)).toBe(true);
    expect(await until(() => endedLines(b, 'tube-64') === 1, (exp + GRACE_S - now()) * 1000 + 5000)).toBe(true);
    const woke = await wake(b.url, 'tube-64');
    expect(woke.sessionPresent).toBe(false);
    await stop(b.proc);
    await conn.del(REDIS_RESTING_PREFIX);
  }, 40_000);
});

describe('the ledger (resting-session-ledger.ts) on a real redis-server', () => {
  it('an entry is taken once when due, comes back after its lease if not done, and `done` spares one that rested again', async () => {
    await conn.del(REDIS_RESTING_PREFIX, `${REDIS_RESTING_PREFIX}:who`);
    const ledger = redisRestingSessionLedger(conn, nativeProvider);
    await ledger.rest('dev-a', 'c0ffee', 1000);
    await ledger.rest('dev b with spaces', 'beef', 1005);
    expect(await ledger.take(999)).toEqual({ due: [], next: 1000 });

    const first = await ledger.take(1001);
    expect(first.due).toEqual([{ clientId: 'dev-a', connection: 'c0ffee', held: 'c0ffee dev-a' }]);
    expect(first.next).toBe(1005);
    // Leased: another broker sweeping at the same moment gets nothing.
    expect((await ledger.take(1001)).due).toEqual([]);
    // Its broker died before `done`: back after the lease.
    const again = await ledger.take(1001 + RESTING_LEASE_S);
    expect(again.due.map((e) => e.clientId).sort()).toEqual(['dev b with spaces', 'dev-a']);
    expect(again.due.find((e) => e.clientId === 'dev b with spaces')!.connection).toBe('beef');

    // dev-a came back and rested again (another connection) before its old entry was done.
    await ledger.rest('dev-a', 'f00d', 5000);
    await ledger.done(again.due.find((e) => e.clientId === 'dev-a')!);
    await ledger.done(again.due.find((e) => e.clientId === 'dev b with spaces')!);
    expect(await conn.zcard(REDIS_RESTING_PREFIX)).toBe(1);
    expect(await ledger.take(4999)).toEqual({ due: [], next: 5000 });
    expect((await ledger.take(5000)).due).toEqual([{ clientId: 'dev-a', connection: 'f00d', held: 'f00d dev-a' }]);
  });

  it('takes at most 100 entries a call, the earliest first', async () => {
    await conn.del(REDIS_RESTING_PREFIX, `${REDIS_RESTING_PREFIX}:who`);
    const ledger = redisRestingSessionLedger(conn, nativeProvider);
    for (let i = 0; i < 150; i++) await ledger.rest(`d${i}`, 'aa', 100 + i);
    const first = await ledger.take(1000);
    expect(first.due).toHaveLength(100);
    expect(first.due[0]!.clientId).toBe('d0');
    expect(first.next).toBe(200); // d100: the earliest left
    expect((await ledger.take(1000)).due).toHaveLength(50);
  });
});
