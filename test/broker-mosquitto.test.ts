import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPasswordText, createBroker, type KeyboundBroker } from '../broker/index.js';
import { createIssuer, ed25519, password } from './support/broker-fixture.js';

// Debian's mosquitto-clients (installed by .ci/run): a second MQTT implementation that can only
// send a text password, so it uses the base64url form.
const issuer = createIssuer();
let broker: KeyboundBroker;
let port: number;

beforeAll(async () => {
  broker = await createBroker({ audience: 'broker-1', trust: issuer.trust });
  port = (await broker.listen(0)).port;
});
afterAll(async () => broker.close());

function run(cmd: string, args: string[], timeoutMs = 8000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

function credentials(clientId: string, scope: Array<readonly [string, ReadonlyArray<'pub' | 'sub'>]>, opts: { thief?: boolean } = {}) {
  const { token, key } = issuer.token({ scope });
  const pw = password(token, opts.thief ? ed25519('thief') : key, clientId);
  return ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', clientId, '-u', 'ace', '-P', connectPasswordText(pw)];
}

describe('mosquitto_pub / mosquitto_sub with the base64url password', () => {
  it('subscribes and publishes within scope', async () => {
    const sub = run('mosquitto_sub', [...credentials('mosq-sub', [['sensors/#', ['sub']]]), '-t', 'sensors/#', '-C', '1', '-W', '6', '-q', '1']);
    await new Promise((r) => setTimeout(r, 500));
    const pub = await run('mosquitto_pub', [...credentials('mosq-pub', [['sensors/+/temp', ['pub']]]), '-t', 'sensors/k/temp', '-m', '19.5', '-q', '1']);
    expect(pub.code).toBe(0);
    const got = await sub;
    expect(got.code).toBe(0);
    expect(got.stdout.trim()).toBe('19.5');
  });

  it('is refused with the token but without its key', async () => {
    const pub = await run('mosquitto_pub', [...credentials('mosq-thief', [['sensors/#', ['pub']]], { thief: true }), '-t', 'sensors/x', '-m', 'x']);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/bad user name or password/i);
  });

  it('gets SUBACK 0x80 outside scope', async () => {
    const sub = await run('mosquitto_sub', [...credentials('mosq-narrow', [['sensors/#', ['sub']]]), '-t', 'alerts/#', '-C', '1', '-W', '2', '-d']);
    // mosquitto_sub prints the granted QoS list in debug mode: 128 is the refusal (MQTT 3.1.1 §3.9.3).
    expect(sub.stdout).toMatch(/Subscribed \(mid: 1\): 128/);
    expect(sub.stderr).toMatch(/All subscription requests were denied/);
  });
});
