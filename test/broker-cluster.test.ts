import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coseKeyToMap, encodeCbor, tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { closedWithin, connect, createIssuer, inbox, password, refusal, sleep } from './support/broker-fixture.js';
import { freePort } from './support/redis-server.js';

// Two broker processes on one Debian redis-server (installed by .ci/run): this process runs
// broker A, a child process runs broker B through the CLI function.
const issuer = createIssuer();
const root = fileURLToPath(new URL('..', import.meta.url));
let redis: ChildProcess;
let child: ChildProcess;
let a: KeyboundBroker;
let urlA: string;
let urlB: string;
let redisUrl: string;

function waitForLine(proc: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, ms = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${seen.slice(-500)}`)), ms);
    proc[stream]!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${seen.slice(-500)}`)));
  });
}

beforeAll(async () => {
  const redisPort = await freePort();
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForLine(redis, 'stdout', /Ready to accept connections/);
  redisUrl = `redis://127.0.0.1:${redisPort}`;

  const dir = mkdtempSync(join(tmpdir(), 'kb-broker-'));
  const trustFile = join(dir, 'keys.cbor');
  writeFileSync(trustFile, encodeCbor(issuer.trust.map(coseKeyToMap)));
  const script = `import { brokerCommand } from ${JSON.stringify(join(root, 'cli/broker.ts'))};
process.exitCode = await brokerCommand(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr });`;
  child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, 'serve', '--audience', 'broker-1', '--trust', trustFile, '--port', '0', '--redis', redisUrl],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const [, port] = await waitForLine(child, 'stdout', /listening on mqtt:\/\/127\.0\.0\.1:(\d+)/);
  urlB = `mqtt://127.0.0.1:${port}`;

  a = await createBroker({ audience: 'broker-1', trust: issuer.trust, redis: redisUrl });
  urlA = (await a.listen(0)).url;
}, 60_000);

afterAll(async () => {
  await a?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  redis?.kill('SIGTERM');
});

describe('two broker processes sharing Redis', () => {
  it('delivers a message published at one broker to a subscriber at the other', async () => {
    const s = issuer.token({ scope: [['plant/#', ['sub']]] });
    const sub = await connect(urlB, 'sub-b', password(s.token, s.key, 'sub-b'));
    const box = inbox(sub);
    await sub.subscribeAsync('plant/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300)); // mqemitter-redis subscribes asynchronously
    const p = issuer.token({ scope: [['plant/#', ['pub']]] });
    const pub = await connect(urlA, 'pub-a', password(p.token, p.key, 'pub-a'));
    await pub.publishAsync('plant/boiler/temp', '88', { qos: 1 });
    expect((await box.next(1, 5000)).map((m) => `${m.topic}=${m.payload}`)).toEqual(['plant/boiler/temp=88']);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  /** What a fresh subscriber at `url` gets of the retained message on `topic` within a short wait. */
  async function retainedAt(url: string, topic: string, id: string): Promise<string[]> {
    const r = issuer.token({ scope: [['lamp/#', ['sub']]] });
    const c = await connect(url, id, password(r.token, r.key, id));
    const box = inbox(c);
    await c.subscribeAsync(topic, { qos: 1 });
    await sleep(400);
    await c.endAsync();
    return box.got.map((m) => m.payload.toString());
  }

  it('lets a retained message republished at the other broker by a longer-lived token outlive the first token', async () => {
    const short = issuer.token({ scope: [['lamp/#', ['pub']]], exp: Math.floor(Date.now() / 1000) + 2 });
    const pa = await connect(urlA, 'lamp-a', password(short.token, short.key, 'lamp-a'));
    await pa.publishAsync('lamp/1', 'on (short token)', { qos: 1, retain: true });
    await sleep(300);
    const long = issuer.token({ scope: [['lamp/#', ['pub']]] });
    const pb = await connect(urlB, 'lamp-b', password(long.token, long.key, 'lamp-b'));
    await pb.publishAsync('lamp/1', 'on (long token)', { qos: 1, retain: true });
    await sleep(3500); // past the short token's expiry and a sweep at both brokers
    expect(await retainedAt(urlA, 'lamp/1', 'lamp-r1')).toEqual(['on (long token)']);
    expect(await retainedAt(urlB, 'lamp/1', 'lamp-r2')).toEqual(['on (long token)']);
    pa.end(true);
    await pb.endAsync();
  });

  it('clears on time a retained message whose broker has gone: the expiry survives in the shared store', async () => {
    const gone = await createBroker({ audience: 'broker-1', trust: issuer.trust, redis: redisUrl });
    const urlGone = (await gone.listen(0)).url;
    const short = issuer.token({ scope: [['lamp/#', ['pub']]], exp: Math.floor(Date.now() / 1000) + 2 });
    const p = await connect(urlGone, 'lamp-gone', password(short.token, short.key, 'lamp-gone'));
    await p.publishAsync('lamp/2', 'left behind', { qos: 1, retain: true });
    await p.endAsync();
    await sleep(300);
    await gone.close();
    // A broker started now learns the expiry from the store and clears the topic when it passes.
    const next = await createBroker({ audience: 'broker-1', trust: issuer.trust, redis: redisUrl });
    try {
      const urlNext = (await next.listen(0)).url;
      expect(await retainedAt(urlNext, 'lamp/2', 'lamp-r3')).toEqual(['left behind']);
      await sleep(3200);
      expect(await retainedAt(urlB, 'lamp/2', 'lamp-r4')).toEqual([]);
    } finally {
      await next.close();
    }
  });

  it('refuses at the second broker a CONNECT already used at the first (shared jti store)', async () => {
    const { token, key } = issuer.token({ scope: [['plant/#', ['sub']]] });
    const pw = password(token, key, 'roamer');
    await (await connect(urlA, 'roamer', pw)).endAsync();
    expect(await refusal(connect(urlB, 'roamer', pw))).toBe(4);
    // A fresh proof for the same token is fine at either broker.
    await (await connect(urlB, 'roamer', password(token, key, 'roamer'))).endAsync();
  });

  it('keeps a QoS 1 message for a persistent session across brokers', async () => {
    const d = issuer.token({ scope: [['ace/tube-9/req', ['sub']]] });
    const first = await connect(urlA, 'device-tube-9', password(d.token, d.key, 'device-tube-9'), { clean: false });
    await first.subscribeAsync('ace/tube-9/req', { qos: 1 });
    await first.endAsync();
    const c = issuer.token({ scope: [['ace/tube-9/req', ['pub']]] });
    const client = await connect(urlB, 'ekg-9', password(c.token, c.key, 'ekg-9'));
    await client.publishAsync('ace/tube-9/req', 'queued', { qos: 1 });
    await client.endAsync();
    const again = await connect(urlB, 'device-tube-9', password(d.token, d.key, 'device-tube-9'), { clean: false });
    const box = inbox(again);
    expect((await box.next(1, 5000)).map((m) => m.payload.toString())).toEqual(['queued']);
    await again.endAsync();
  });

  it('disconnects at the second broker a client whose token a list published at the first revokes', async () => {
    const { token, key } = issuer.token({ scope: [['plant/#', ['sub']]] });
    const victim = await connect(urlB, 'revoked-at-b', password(token, key, 'revoked-at-b'));
    const admin = issuer.token({ scope: [] });
    const a1 = await connect(urlA, 'trl-at-a', password(admin.token, admin.key, 'trl-at-a'));
    await a1.publishAsync('ace/trl/broker-1', Buffer.from(issuer.revoke('broker-1', tokenHash(token, nativeProvider))), { qos: 1 });
    expect(await closedWithin(victim, 5000)).toBe(true);
    expect(await refusal(connect(urlB, 'revoked-at-b', password(token, key, 'revoked-at-b')))).toBe(5);
    await a1.endAsync();
    // A broker that starts after the list was published reads it back from the shared retained
    // store: a restart never forgets a revocation.
    const late = await createBroker({ audience: 'broker-1', trust: issuer.trust, redis: redisUrl });
    try {
      expect(late.stats.revoked).toBe(1);
      const urlC = (await late.listen(0)).url;
      expect(await refusal(connect(urlC, 'revoked-at-c', password(token, key, 'revoked-at-c')))).toBe(5);
    } finally {
      await late.close();
    }
  });
});
