/**
 * Review of issue 9, finding 5 (a Will is never sent for a revoked token), across the cluster: a
 * broker killed with SIGKILL leaves its clients' Wills in the shared persistence, and a surviving
 * peer publishes them (aedes, with no client). The peer did not know whose token a Will was
 * under, so it sent the Will of a client whose token had been revoked after its broker died.
 * Now the Will carries its token's hash into persistence and the peer drops it when the hash is
 * revoked. Broker A runs in a child process (killed with SIGKILL); B in this one; both on one
 * redis-server, with a short aedes heartbeat so that B finds A dead within a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createBroker, type KeyboundBroker } from '../broker/index.js';
import { AUDIENCE, connect, createIssuer, inbox, password } from './support/broker-fixture.js';
import { trustFile } from './support/broker-process.js';
import { startRedis } from './support/redis-server.js';
import { stop, waitForLine } from './support/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const issuer = createIssuer();
const HEARTBEAT_MS = 250;
let redis: ChildProcess;
let a: ChildProcess;
let urlA: string;
let b: KeyboundBroker;
let urlB: string;

beforeAll(async () => {
  let redisUrl: string;
  ({ process: redis, url: redisUrl } = await startRedis());
  const trust = trustFile(issuer.trust);
  const script = `import { readFileSync } from 'node:fs';
import { createBroker, trustFromBytes } from ${JSON.stringify(join(root, 'broker/index.ts'))};
const broker = await createBroker({ audience: ${JSON.stringify(AUDIENCE)}, trust: trustFromBytes(new Uint8Array(readFileSync(${JSON.stringify(trust)})), Date.now() / 1000), redis: ${JSON.stringify(redisUrl)}, aedes: { heartbeatInterval: ${HEARTBEAT_MS} } });
const { url } = await broker.listen(0);
console.log('listening on ' + url);`;
  a = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  a.stderr!.resume(); // its JSON log: drained, so a full pipe never blocks it
  urlA = (await waitForLine(a, /listening on (mqtt:\/\/127\.0\.0\.1:\d+)/))[1]!;
  b = await createBroker({ audience: AUDIENCE, trust: issuer.trust, redis: redisUrl, aedes: { heartbeatInterval: HEARTBEAT_MS } });
  urlB = (await b.listen(0)).url;
}, 60_000);

afterAll(async () => {
  await stop(a);
  await b?.close();
  redis?.kill('SIGTERM');
});

describe('the Will of a client of a dead peer', () => {
  it('is not sent when its token was revoked after its broker died; an unrevoked one still is', async () => {
    const w = issuer.token({ scope: [['lamp/#', ['sub']]] });
    const watcher = await connect(urlB, 'dead-peer-watcher', password(w.token, w.key, 'dead-peer-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('lamp/#', { qos: 1 });
    const revoked = issuer.token({ scope: [['lamp/1/#', ['pub']]] });
    const kept = issuer.token({ scope: [['lamp/2/#', ['pub']]] });
    const c1 = await connect(urlA, 'lamp-1', password(revoked.token, revoked.key, 'lamp-1'), { will: { topic: 'lamp/1/status', payload: Buffer.from('gone-1'), qos: 1, retain: false } });
    const c2 = await connect(urlA, 'lamp-2', password(kept.token, kept.key, 'lamp-2'), { will: { topic: 'lamp/2/status', payload: Buffer.from('gone-2'), qos: 1, retain: false } });
    for (const c of [c1, c2]) c.on('error', () => {});

    a.kill('SIGKILL'); // A dies with both clients connected: their Wills wait in Redis
    await b.publishRevocationList(AUDIENCE, issuer.revoke(AUDIENCE, tokenHash(revoked.token, nativeProvider)));

    const got = await box.next(2, 4000);
    expect(got.map((m) => m.payload.toString())).toContain('gone-2'); // the positive case
    expect(got.map((m) => m.payload.toString())).not.toContain('gone-1');
    for (const c of [c1, c2]) c.end(true);
    await watcher.endAsync();
  }, 30_000);
});
