import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coseKeyToMap, encodeCbor } from '../cose/index.js';
import { connect, createIssuer, password } from './support/broker-fixture.js';

// Issue 5: 1000 clients connecting with tokens and publishing QoS 1 from one load process (this
// one) to a broker in another process (the CLI), on loopback: every message delivered.
const CLIENTS = 1000;
const MESSAGES_EACH = 5;
const CONNECT_BATCH = 100;
const issuer = createIssuer();
const root = fileURLToPath(new URL('..', import.meta.url));
let child: ChildProcess;
let url: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kb-load-'));
  const trustFile = join(dir, 'keys.cbor');
  writeFileSync(trustFile, encodeCbor(issuer.trust.map(coseKeyToMap)));
  const script = `import { brokerCommand } from ${JSON.stringify(join(root, 'cli/broker.ts'))};
process.exitCode = await brokerCommand(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr });`;
  child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, 'serve', '--audience', 'broker-1', '--trust', trustFile, '--port', '0'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its JSON log (a line per admission): drained, or the pipe fills and the broker blocks writing it.
  child.stderr!.resume();
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
    setTimeout(() => reject(new Error('broker did not start')), 30_000);
  });
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

describe(`${CLIENTS} token-holding clients publishing QoS 1`, () => {
  it('admits every client and delivers every message, none lost', async () => {
    const started = Date.now();
    const s = issuer.token({ scope: [['load/#', ['sub']]] });
    const sink = await connect(url, 'sink', password(s.token, s.key, 'sink'));
    await sink.subscribeAsync('load/#', { qos: 1 });
    const seen = new Set<string>();
    sink.on('message', (_t, payload) => seen.add(payload.toString()));

    const clients: MqttClient[] = [];
    for (let i = 0; i < CLIENTS; i += CONNECT_BATCH) {
      const batch = [];
      for (let j = i; j < Math.min(CLIENTS, i + CONNECT_BATCH); j++) {
        const id = `load-${j}`;
        const { token, key } = issuer.token({ scope: [[`load/${id}`, ['pub']]] });
        batch.push(connect(url, id, password(token, key, id), { keepalive: 120, connectTimeout: 30_000 }));
      }
      clients.push(...(await Promise.all(batch)));
    }
    const connectedMs = Date.now() - started;
    await Promise.all(
      clients.map(async (c, j) => {
        for (let k = 0; k < MESSAGES_EACH; k++) await c.publishAsync(`load/load-${j}`, `${j}:${k}`, { qos: 1 });
      }),
    );
    const deadline = Date.now() + 30_000;
    while (seen.size < CLIENTS * MESSAGES_EACH && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    console.log(`broker load: ${CLIENTS} CONNECTs in ${connectedMs} ms, ${seen.size}/${CLIENTS * MESSAGES_EACH} QoS 1 messages in ${Date.now() - started} ms total`);
    expect(seen.size).toBe(CLIENTS * MESSAGES_EACH);
    await Promise.all(clients.map((c) => c.endAsync()));
    await sink.endAsync();
  }, 90_000);
});
