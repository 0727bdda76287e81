/**
 * Issue 10, "as deployed": every component is its own CLI process (bin/keybound.js): the service,
 * two brokers sharing Redis, three devices (`keybound device serve`), clients through `keybound
 * token` and `keybound mqtt-password`, and Debian's mosquitto_pub/mosquitto_sub on the wire. The
 * test drives them only through their command lines, files and network, as an operator would:
 * tokens issued and used through the relay; `keybound authz revoke` reaching a sleeping device at
 * its next wake; `keybound authz rotate-key` accepted by broker and device without restart; a
 * forged trust update refused; kill -9 and restart of each process losing nothing.
 * What the test itself builds: the device request envelopes (the PoP request of DESIGN.md, with
 * the library's buildPopRequest: there is no CLI command for one-shot device requests).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createTrustUpdate, encodeCoseKey, fromHex, fromUtf8, publicCoseKey, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { buildPopRequest, decodeAuthzInfoResponse, decodeResponseBody, encodeEnvelope } from '../device/index.js';
import { startRedis } from './support/redis-server.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/keybound.js');
const dir = mkdtempSync(join(tmpdir(), 'kb-deployed-'));
const data = join(dir, 'authz-data');
const f = (name: string) => join(dir, name);
const DEVICES = ['tube-1', 'tube-2', 'tube-3'] as const;
const BROKER = 'broker-1';
const APP_MQTT_SCOPE = JSON.stringify([['sensors/#', ['pub', 'sub']], ['ace/+/authz-info', ['pub']], ['ace/+/req', ['pub']], ['ace/+/res/app-1', ['sub']]]);
const BROKER_SCOPE = JSON.stringify([['sensors/#', ['pub', 'sub']], ['ace/#', ['pub', 'sub']]]);
const WAKE_EVERY = 2;
/** Each device's broker: both share Redis, so a request sent at either reaches a sleeping device. */
const DEVICE_BROKER: Record<string, number> = { 'tube-1': 0, 'tube-2': 1, 'tube-3': 0 };
const otherBroker = (i: number) => 1 - i;

/** A long-running process of ours, its output kept for waiting on lines and for failure reports. */
interface Proc {
  name: string;
  child: ChildProcess;
  out: string;
  args: string[];
}
const procs = new Map<string, Proc>();

function start(name: string, args: string[]): Proc {
  const child = spawn(process.execPath, [bin, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { name, child, out: '', args };
  child.stdout!.on('data', (d: Buffer) => (p.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (p.out += d.toString()));
  procs.set(name, p);
  return p;
}

async function waitFor(p: Proc, pattern: RegExp, from = 0, ms = 15_000): Promise<RegExpExecArray> {
  const end = Date.now() + ms;
  for (;;) {
    const m = pattern.exec(p.out.slice(from));
    if (m) return m;
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}): ${p.out.slice(-800)}`);
    if (Date.now() > end) throw new Error(`${p.name}: timed out waiting for ${pattern}: ${p.out.slice(-800)}\n${[...procs.values()].filter((q) => q !== p).map((q) => `--- ${q.name}: ${q.out.slice(-600)}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function kill9(name: string): Promise<void> {
  const p = procs.get(name)!;
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const gone = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await gone;
}

async function kb(...args: string[]): Promise<string> {
  try {
    return (await run(process.execPath, [bin, ...args], { cwd: dir, timeout: 60_000 })).stdout;
  } catch (e) {
    throw new Error(`keybound ${args.slice(0, 3).join(' ')}: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
}

let authzUrl = '';
const brokerUrls: string[] = [];
let redis: { process: ChildProcess; url: string };

async function startService(): Promise<void> {
  const p = start('authz', ['authz', 'serve', '--data-dir', data, '--port', String(authzPort || 0)]);
  authzUrl = (await waitFor(p, /listening on (\S+)/))[1]!;
  authzPort = Number(new URL(authzUrl).port);
}
let authzPort = 0;

/** Brokers 0 and 1 share Redis (a cluster) and carry the devices (DEVICE_BROKER). */
async function startBroker(i: number, port = 0): Promise<void> {
  const p = start(`broker-${i}`, [
    'broker', 'serve', '--audience', BROKER, '--trust', f('broker-1.cbor'), '--port', String(port),
    '--authz-url', authzUrl, '--client-id', 'broker-1-rs', '--client-secret-file', f('broker.secret'),
    '--trl-poll', '1', '--keys-refresh', '5', '--redis', redis.url,
    ...DEVICES.flatMap((d) => ['--device-audience', d]),
  ]);
  brokerUrls[i] = (await waitFor(p, /listening on (mqtt:\/\/\S+)/))[1]!;
}

async function startDevice(d: string): Promise<Proc> {
  const p = start(d, [
    'device', 'serve', '--bundle', f(`${d}.cbor`), '--data-dir', f(`${d}-data`), '--broker', brokerUrls[DEVICE_BROKER[d]!]!,
    '--wake-every', String(WAKE_EVERY), '--awake-ms', '700',
    '--client-secret-file', f(`${d}.secret`), '--broker-audience', BROKER, '--token-url', `${authzUrl}/token`,
  ]);
  // Not 15 s: a first wake whose SUBSCRIBE the broker could not store in time (Redis slow under a
  // loaded CI machine) fails at the broker's bound (SUBSCRIPTION_WRITE_WAIT_MS, 10 s) and is
  // retried after 2 s; what this waits for is that the device gets there (CI run 35 lost it here).
  await waitFor(p, /"event":"connected"/, 0, 30_000);
  return p;
}

/** `keybound token` for the app, bound to its PoP key; the token's raw CBOR is written to `out`. */
async function appToken(audience: string, scope: string, out: string): Promise<Uint8Array> {
  await kb('token', '--as-url', authzUrl, '--client-id', 'app-1', '--secret-file', f('app.secret'), '--audience', audience, '--scope', scope, '--pop-key', f('app-pop.cose'), '--out', out);
  return new Uint8Array(readFileSync(out));
}

async function mqttPassword(tokenFile: string, clientId: string): Promise<string> {
  return (await kb('mqtt-password', '--token', `@${tokenFile}`, '--pop-key', f('app-pop.cose'), '--audience', BROKER, '--client-id', clientId)).trim();
}

const hostPort = (url: string) => { const u = new URL(url); return ['-h', u.hostname, '-p', u.port]; };

async function mosquittoPub(brokerUrl: string, clientId: string, password: string, topic: string, file: string, extra: string[] = []): Promise<void> {
  await run('mosquitto_pub', [...hostPort(brokerUrl), '-V', 'mqttv311', '-i', clientId, '-u', 'ace', '-P', password, '-q', '1', '-t', topic, '-f', file, ...extra], { timeout: 20_000 });
}

/** mosquitto_sub for `count` messages, printed as hex; resolves once it is subscribed. */
async function mosquittoSub(brokerUrl: string, clientId: string, password: string, topic: string, count: number): Promise<{ messages: Promise<Uint8Array[]> }> {
  // stdbuf: mosquitto_sub's -d lines go to stdout, block-buffered on a pipe otherwise.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...hostPort(brokerUrl), '-V', 'mqttv311', '-d', '-i', clientId, '-u', 'ace', '-P', password, '-q', '1', '-t', topic, '-C', String(count), '-F', '%x', '-W', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!/received SUBACK/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto_sub: ${out.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // 'close', not 'exit': at 'exit' the child's stdout may still hold the payload's line (Node's
  // child_process docs), and the message read as missing (CI run 41).
  const messages = new Promise<Uint8Array[]>((resolve, reject) =>
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`mosquitto_sub exited ${code}: ${out.slice(-500)}`));
      resolve(out.split('\n').filter((l) => /^[0-9a-f]+$/.test(l.trim())).map((l) => fromHex(l.trim())));
    }),
  );
  return { messages };
}

const appKey: CoseKey = (() => {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', alg: -8, x: p.x, d: p.d };
})();

beforeAll(async () => {
  writeFileSync(f('app-pop.cose'), encodeCoseKey(appKey), { mode: 0o600 });
  mkdirSync(data, { mode: 0o700 });
  await kb('authz', 'register-device', BROKER, '--data-dir', data, '--scope', BROKER_SCOPE);
  for (const d of DEVICES) await kb('authz', 'register-device', d, '--data-dir', data, '--scope', '[["/result",1]]');
  await kb('authz', 'register-client', 'broker-1-rs', '--data-dir', data, '--secret-file', f('broker.secret'), '--audience', BROKER, '--resource-server');
  await kb('authz', 'register-client', 'app-1', '--data-dir', data, '--secret-file', f('app.secret'), '--audience', BROKER, ...DEVICES.flatMap((d) => ['--audience', d]), '--scope', APP_MQTT_SCOPE, '--scope', '[["/result",1]]');
  for (const d of DEVICES) {
    await kb('authz', 'register-client', d, '--data-dir', data, '--secret-file', f(`${d}.secret`), '--audience', BROKER, '--scope', JSON.stringify([[`ace/${d}/#`, ['pub', 'sub']]]));
  }
  await startService();
  await kb('authz', 'provision', BROKER, '--data-dir', data, '--out', f('broker-1.cbor'), '--issuer', authzUrl);
  redis = await startRedis();
  await startBroker(0);
  await startBroker(1);
  for (const d of DEVICES) await kb('authz', 'provision', d, '--data-dir', data, '--out', f(`${d}.cbor`), '--issuer', authzUrl, '--as-url', authzUrl, '--broker-url', brokerUrls[DEVICE_BROKER[d]!]!);
  for (const d of DEVICES) await startDevice(d);
}, 420_000);

afterAll(async () => {
  for (const p of procs.values()) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  redis?.process.kill('SIGKILL');
});

describe('as deployed: every component its own CLI process', () => {
  it('tokens from `keybound token` are used through the relay: mosquitto across the two brokers, and a device request', async () => {
    const brokerToken = await appToken(BROKER, APP_MQTT_SCOPE, f('app-broker.token'));
    expect(brokerToken.length).toBeGreaterThan(50);
    // mosquitto_sub at broker 1, mosquitto_pub at broker 0: Redis carries the message across.
    const sub = await mosquittoSub(brokerUrls[1]!, 'app-1', await mqttPassword(f('app-broker.token'), 'app-1'), 'sensors/+/temp', 1);
    writeFileSync(f('reading'), '21.5');
    await mosquittoPub(brokerUrls[0]!, 'app-1-pub', await mqttPassword(f('app-broker.token'), 'app-1-pub'), 'sensors/7/temp', f('reading'));
    expect(fromUtf8((await sub.messages)[0]!)).toBe('21.5');

    // A device token from `keybound token`, delivered and used through the relay while tube-1 sleeps.
    const answers = await deviceExchange('tube-1', await appToken('tube-1', '[["/result",1]]', f('tube-1.token')), true);
    expect(decodeAuthzInfoResponse(answers[0]!)).toEqual({});
    const res = decodeResponseBody(answers[1]!);
    expect(res.code).toBe(205);
    expect(fromUtf8(res.payload!)).toContain('tube-1: result negative');
  }, 120_000);

  it('`keybound authz revoke` reaches a sleeping device at its next wake: the same token is then refused', async () => {
    const dev = procs.get('tube-1')!;
    const from = dev.out.length;
    expect(await kb('authz', 'revoke', '--data-dir', data, '--token', `@${f('tube-1.token')}`)).toContain('revocation lists changed: tube-1');
    await waitFor(dev, /"event":"revocation_list_applied","audience":"tube-1","revoked":1\b/, from, 30_000);
    const [answer] = await deviceExchange('tube-1', new Uint8Array(readFileSync(f('tube-1.token'))), false);
    expect(decodeResponseBody(answer!)).toMatchObject({ code: 401 });
  }, 120_000);

  it('a key rotation is accepted by the brokers and a device without restart; a forged trust update is refused', async () => {
    const dev = procs.get('tube-2')!;
    const from = dev.out.length;
    const rotated = await kb('authz', 'rotate-key', '--data-dir', data);
    expect(rotated).toMatch(/new signing key [0-9a-f]+/);
    // The device applies the update signed by the key it already trusts, at its next wake.
    const seq = Number((await waitFor(dev, /"event":"trust_updated","audience":"tube-2","seq":(\d+),"anchors":2/, from, 30_000))[1]);
    expect(seq).toBeGreaterThanOrEqual(2);
    // New tokens (new kid): the device and both Redis brokers take them.
    await new Promise((r) => setTimeout(r, 1500)); // the service re-reads its keys within a second
    const answers = await deviceExchange('tube-2', await appToken('tube-2', '[["/result",1]]', f('tube-2.token')), true);
    expect(decodeResponseBody(answers[1]!).code).toBe(205);
    await appToken(BROKER, APP_MQTT_SCOPE, f('app-broker-2.token'));
    for (const url of brokerUrls.slice(0, 2)) {
      await mosquittoPub(url, 'app-1-rot', await mqttPassword(f('app-broker-2.token'), 'app-1-rot'), 'sensors/8/temp', f('reading'));
    }
    // A forged update (an attacker's key, a huge seq) published on the device's trust topic: dropped.
    const attacker = nativeProvider.generateKeyPair('Ed25519');
    const evil: CoseKey = { kty: 'OKP', crv: 'Ed25519', alg: -8, kid: new Uint8Array([0xee]), x: attacker.x, d: attacker.d };
    writeFileSync(f('forged.trust'), createTrustUpdate({ seq: 1_000_000, keys: [publicCoseKey(evil)], iat: Math.floor(Date.now() / 1000), aud: 'tube-2' }, evil, { provider: nativeProvider }));
    const b = procs.get(`broker-${DEVICE_BROKER['tube-2']}`)!;
    const bFrom = b.out.length;
    await mosquittoPub(brokerUrls[DEVICE_BROKER['tube-2']!]!, 'app-1-evil', await mqttPassword(f('app-broker.token'), 'app-1-evil'), 'ace/tube-2/trust', f('forged.trust'), ['-r']);
    await waitFor(b, /trust update refused/, bFrom);
    const devFrom = dev.out.length;
    await waitFor(dev, /"event":"asleep"/, devFrom, 30_000);
    await waitFor(dev, /"event":"asleep"/, dev.out.length, 30_000);
    expect(dev.out.slice(devFrom)).not.toMatch(/"seq":1000000/);
  }, 180_000);

  it('kill -9 and restart of every process loses nothing', async () => {
    // The service: same data dir, same port; the revocation and the rotated key are still there.
    await kill9('authz');
    await startService();
    await appToken(BROKER, APP_MQTT_SCOPE, f('app-broker-3.token'));
    // The brokers: restarted, they read lists and updates back (Redis, or the service's poll).
    for (const i of [0, 1]) {
      await kill9(`broker-${i}`);
      await startBroker(i, Number(new URL(brokerUrls[i]!).port));
    }
    for (const url of brokerUrls.slice(0, 2)) await mosquittoPub(url, 'app-1-after', await mqttPassword(f('app-broker-3.token'), 'app-1-after'), 'sensors/9/temp', f('reading'));
    // The devices: the accepted token, the applied trust update and the revocation survive.
    for (const d of DEVICES) {
      await kill9(d);
      const p = await startDevice(d);
      const started = JSON.parse(/\{[^\n]*"event":"started"[^\n]*\}/.exec(p.out)![0]) as { trust_seq: number; tokens: number };
      expect(started.trust_seq).toBeGreaterThanOrEqual(2);
      if (d === 'tube-2') expect(started.tokens).toBeGreaterThanOrEqual(1);
    }
    // tube-2 still holds its token: a request naming it by hash only is served.
    const ok = await requestAfterReboot('tube-2', new Uint8Array(readFileSync(f('tube-2.token'))));
    expect(ok.code).toBe(205);
    // tube-1 still refuses the revoked one.
    const refused = await requestAfterReboot('tube-1', new Uint8Array(readFileSync(f('tube-1.token'))));
    expect(refused).toMatchObject({ code: 401 });
    expect(refused.error).not.toBe('replay');
  }, 240_000);
});

/**
 * A request by token hash to a device that has just rebooted: for one window it refuses iat-fresh
 * proofs (its jti cache did not survive: device/resource-server-core.ts) and sends a cnonce hint;
 * the client proves freshness with it, as a real client does.
 */
async function requestAfterReboot(device: string, token: Uint8Array): Promise<ReturnType<typeof decodeResponseBody>> {
  const first = decodeResponseBody((await deviceExchange(device, token, false))[0]!);
  if (first.error !== 'replay' || !first.hints?.cnonce) return first;
  return decodeResponseBody((await deviceExchange(device, token, false, first.hints.cnonce))[0]!);
}

/**
 * Sent at the broker the device is NOT on (Redis carries it into the sleeping device's session):
 * (optionally) the token on ace/<d>/authz-info, then a PoP request on ace/<d>/req, each a
 * [client id, body] envelope sent by mosquitto_pub; the answers are read at the device's broker by
 * mosquitto_sub on ace/<d>/res/app-1 (its implicit filter: the token's subject is its client id).
 */
async function deviceExchange(device: string, token: Uint8Array, sendToken: boolean, nonce?: Uint8Array): Promise<Uint8Array[]> {
  const home = DEVICE_BROKER[device]!;
  const url = brokerUrls[otherBroker(home)]!;
  const sub = await mosquittoSub(brokerUrls[home]!, 'app-1', await mqttPassword(f('app-broker.token'), 'app-1'), `ace/${device}/res/app-1`, sendToken ? 2 : 1);
  const pw = () => mqttPassword(f('app-broker.token'), 'app-1-pub');
  if (sendToken) {
    writeFileSync(f('envelope'), encodeEnvelope('app-1', token));
    await mosquittoPub(url, 'app-1-pub', await pw(), `ace/${device}/authz-info`, f('envelope'));
  }
  const request = { method: 'GET', resource: '/result', payload: new Uint8Array(0) };
  writeFileSync(f('envelope'), encodeEnvelope('app-1', buildPopRequest({ token, popKey: appKey, audience: device, request, ...(nonce ? { nonce } : { now: Math.floor(Date.now() / 1000) }) }, nativeProvider)));
  await mosquittoPub(url, 'app-1-pub', await pw(), `ace/${device}/req`, f('envelope'));
  return sub.messages;
}
