import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPasswordText, createBroker, type KeyboundBroker } from '../broker/index.js';
import { tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createIssuer, ed25519, now, password, sleep, type TokenSpec } from './support/broker-fixture.js';

// Debian's mosquitto-clients (installed by .ci/run): a second MQTT implementation that can only
// send a text password, so it uses the base64url form.
const issuer = createIssuer();
let broker: KeyboundBroker;
let port: number;
const log: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'kb-mosq-'));

beforeAll(async () => {
  broker = await createBroker({ audience: 'broker-1', trust: issuer.trust, logger: (l) => log.push(l) });
  port = (await broker.listen(0)).port;
});
afterAll(async () => {
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

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

/** mosquitto's connection options with a ready CONNECT password (one proof: reusing it is a replay). */
function connectArgs(clientId: string, pw: Buffer): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', clientId, '-u', 'ace', '-P', connectPasswordText(pw)];
}

function credentials(
  clientId: string,
  scope: TokenSpec['scope'],
  opts: { thief?: boolean; audience?: string; exp?: number } = {},
) {
  const { token, key } = issuer.token({ scope, ...(opts.audience ? { audience: opts.audience } : {}), ...(opts.exp !== undefined ? { exp: opts.exp } : {}) });
  // The proof names the token's own audience, so a wrong-audience refusal is about the token.
  const pw = password(token, opts.thief ? ed25519('thief') : key, clientId, opts.audience);
  return connectArgs(clientId, pw);
}

/** The broker's log lines that refused a CONNECT from `clientId`. */
const refusals = (clientId: string) => log.filter((l) => l.startsWith(`broker: refused CONNECT ${JSON.stringify(clientId)}:`));

// What mosquitto_pub 2.0.11 prints for a refused CONNECT (the CONNACK code in words, libmosquitto's
// mosquitto_connack_string), then "Error: The connection was refused."; its exit status is the
// CONNACK return code itself.
const CONNACK_4 = /Connection error: Connection Refused: bad user name or password\./;
const CONNACK_5 = /Connection error: Connection Refused: not authorised\./;

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
    expect(pub.code).toBe(4);
    expect(pub.stderr).toMatch(CONNACK_4);
    expect(refusals('mosq-thief').some((l) => l.includes('bad_proof'))).toBe(true);
  });

  it('refuses a replayed CONNECT (the same password text twice): CONNACK 4, reason replay', async () => {
    const { token, key } = issuer.token({ scope: [['sensors/#', ['pub']]] });
    const args = [...connectArgs('mosq-once', password(token, key, 'mosq-once')), '-t', 'sensors/once', '-m', 'x', '-q', '1'];
    const first = await run('mosquitto_pub', args);
    expect(first.code).toBe(0);
    expect(refusals('mosq-once')).toEqual([]);
    const again = await run('mosquitto_pub', args);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(CONNACK_4);
    expect(refusals('mosq-once')).toHaveLength(1);
    expect(refusals('mosq-once')[0]).toMatch(/: replay/);
  });

  it('refuses a token for another audience: CONNACK 5, reason wrong_audience', async () => {
    const pub = await run('mosquitto_pub', [...credentials('mosq-other-aud', [['sensors/#', ['pub']]], { audience: 'broker-2' }), '-t', 'sensors/x', '-m', 'x']);
    expect(pub.code).toBe(5);
    expect(pub.stderr).toMatch(CONNACK_5);
    expect(refusals('mosq-other-aud').some((l) => l.includes(': wrong_audience'))).toBe(true);
  });

  it('refuses an expired token: CONNACK 5, reason expired', async () => {
    const pub = await run('mosquitto_pub', [...credentials('mosq-late', [['sensors/#', ['pub']]], { exp: Math.floor(now()) - 1 }), '-t', 'sensors/x', '-m', 'x']);
    expect(pub.code).toBe(5);
    expect(pub.stderr).toMatch(CONNACK_5);
    expect(refusals('mosq-late').some((l) => l.includes(': expired'))).toBe(true);
  });

  it('refuses a token once the signed revocation list on ace/trl/<audience> names it: CONNACK 5, reason revoked', async () => {
    const scope: TokenSpec['scope'] = [['sensors/#', ['pub']]];
    const { token, key } = issuer.token({ scope });
    const pub = (clientId: string) => run('mosquitto_pub', [...connectArgs(clientId, password(token, key, clientId)), '-t', 'sensors/r', '-m', 'x', '-q', '1']);
    expect((await pub('mosq-revokee')).code).toBe(0); // admitted before the list
    // mosquitto_pub publishes the binary list from a file, as any admitted client may.
    const trl = join(dir, 'trl.cbor');
    writeFileSync(trl, issuer.revoke('broker-1', tokenHash(token, nativeProvider)));
    const revokedBefore = broker.stats.revoked;
    const sent = await run('mosquitto_pub', [...credentials('mosq-trl', []), '-t', 'ace/trl/broker-1', '-f', trl, '-q', '1']);
    expect(sent.code).toBe(0);
    for (let i = 0; i < 20 && broker.stats.revoked === revokedBefore; i++) await sleep(50);
    expect(broker.stats.revoked).toBe(revokedBefore + 1);
    const after = await pub('mosq-revokee');
    expect(after.code).toBe(5);
    expect(after.stderr).toMatch(CONNACK_5);
    expect(refusals('mosq-revokee')).toHaveLength(1);
    expect(refusals('mosq-revokee')[0]).toMatch(/: revoked/);
  });

  it('drops a publish outside scope: never delivered to a subscriber whose filter covers it', async () => {
    // The subscriber may read all of sensors/#; the publisher may write only sensors/k/temp.
    const sub = run('mosquitto_sub', [...credentials('mosq-watch', [['sensors/#', ['sub']]]), '-t', 'sensors/#', '-v', '-q', '1', '-W', '3'], 6000);
    await sleep(500);
    const pubScope: TokenSpec['scope'] = [['sensors/k/temp', ['pub']]];
    const outside = await run('mosquitto_pub', [...credentials('mosq-pub-out', pubScope), '-t', 'sensors/k/door', '-m', 'open', '-q', '1']);
    // Dropped, not refused: the PUBLISH is acknowledged and the client leaves cleanly.
    expect(outside.code).toBe(0);
    const inside = await run('mosquitto_pub', [...credentials('mosq-pub-in', pubScope), '-t', 'sensors/k/temp', '-m', '20', '-q', '1']);
    expect(inside.code).toBe(0);
    const got = await sub;
    // -W: mosquitto_sub gives up after 3 s without the -C count and exits 27 (timeout).
    expect(got.code).toBe(27);
    expect(got.stderr).toMatch(/Timed out/);
    expect(got.stdout.trim().split('\n')).toEqual(['sensors/k/temp 20']);
    expect(log.some((l) => l.startsWith('broker: dropped PUBLISH from "mosq-pub-out" on "sensors/k/door"'))).toBe(true);
    expect(log.some((l) => l.includes('"mosq-pub-in"') && l.includes('dropped'))).toBe(false);
  });

  it('gets SUBACK 0x80 outside scope', async () => {
    const sub = await run('mosquitto_sub', [...credentials('mosq-narrow', [['sensors/#', ['sub']]]), '-t', 'alerts/#', '-C', '1', '-W', '2', '-d']);
    // mosquitto_sub prints the granted QoS list in debug mode: 128 is the refusal (MQTT 3.1.1 §3.9.3).
    expect(sub.stdout).toMatch(/Subscribed \(mid: 1\): 128/);
    expect(sub.stderr).toMatch(/All subscription requests were denied/);
  });
});
