import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerCommand, brokerServe } from '../cli/index.js';
import { coseKeyToMap, encodeCbor } from '../cose/index.js';
import { connect, createIssuer, now, password, sleep, storedFilters } from './support/broker-fixture.js';
import { jsonLines } from './support/processes.js';
import { serveBroker } from './support/broker-process.js';

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
}

describe('keybound broker (CLI function)', () => {
  it('answers usage errors with exit code 2', async () => {
    const a = io();
    expect(await brokerCommand([], a.io)).toBe(2);
    expect(a.out.stderr).toMatch(/which command\?[\s\S]*serve  /);
    const b = io();
    expect(await brokerCommand(['serve', '--trust', '/nonexistent'], b.io)).toBe(2);
    expect(b.out.stderr).toMatch(/--audience is required/);
    const c = io();
    expect(await brokerCommand(['serve', '--audience', 'x', '--trust', '/nonexistent', '--bogus'], c.io)).toBe(2);
    const issuer = createIssuer();
    const dir = mkdtempSync(join(tmpdir(), 'kb-cli-broker-'));
    writeFileSync(join(dir, 'keys.cbor'), encodeCbor(issuer.trust.map(coseKeyToMap)));
    const d = io();
    expect(await brokerCommand(['serve', '--audience', 'x', '--trust', join(dir, 'keys.cbor'), '--trl-poll', '30'], d.io)).toBe(2);
    expect(d.out.stderr).toMatch(/--trl-poll takes whole seconds from 1 to 86400 \(0: off\) and needs --authz-url/);
    for (const bad of ['--session-grace=-1', '1.5', 'day', '99999999']) {
      const e = io();
      expect(await brokerCommand(['serve', '--audience', 'x', '--trust', join(dir, 'keys.cbor'), ...(bad.startsWith('--') ? [bad] : ['--session-grace', bad])], e.io)).toBe(2);
      expect(e.out.stderr).toMatch(/--session-grace takes whole seconds/);
    }
    const f = io();
    expect(await brokerCommand(['serve', '--audience', 'x', '--trust', join(dir, 'keys.cbor'), '--session-grace', '-1'], f.io)).toBe(2);
    expect(f.out.stderr).toMatch(/--session-grace needs a value \(one that starts with "-" is written --session-grace=-…\)/);
  });

  it('--session-grace: a sleeping session ends that long after its token expired, its id free again', async () => {
    const issuer = createIssuer();
    const dir = mkdtempSync(join(tmpdir(), 'kb-cli-broker-'));
    writeFileSync(join(dir, 'keys.cbor'), encodeCbor(issuer.trust.map(coseKeyToMap)));
    const serve = async (grace: string[]) => {
      const a = io();
      const broker = await brokerServe(['--audience', 'broker-1', '--trust', join(dir, 'keys.cbor'), '--port', '0', ...grace], a.io);
      return { broker, url: /listening on (mqtt:\/\/[\d.:]+)/.exec(a.out.stdout)![1]! };
    };
    const short = await serve(['--session-grace', '1']);
    const long = await serve([]);
    try {
      const exp = Math.floor(now()) + 2;
      for (const { url } of [short, long]) {
        const d = issuer.token({ scope: [['ace/tube-9/req', ['sub']]], sub: 'tube-9', exp });
        const c = await connect(url, 'tube-9', password(d.token, d.key, 'tube-9'), { clean: false });
        await c.subscribeAsync('ace/tube-9/req', { qos: 1 });
        await c.endAsync();
      }
      while (now() < exp + 2) await sleep(100);
      expect(await storedFilters(short.broker, 'tube-9')).toEqual([]);
      // The default grace is a day: the device's session still waits for its next token.
      expect(await storedFilters(long.broker, 'tube-9')).toEqual(['ace/tube-9/req']);
    } finally {
      await short.broker.close();
      await long.broker.close();
    }
  }, 20_000);

  it('fails (exit 1) on a trust file that is not a key set or bundle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-cli-broker-'));
    writeFileSync(join(dir, 'bad.cbor'), Buffer.from([0x01]));
    const a = io();
    expect(await brokerCommand(['serve', '--audience', 'x', '--trust', join(dir, 'bad.cbor'), '--port', '0'], a.io)).toBe(1);
  });

  it('serves with a COSE_KeySet file, logging refusals to stderr without the token', async () => {
    const issuer = createIssuer();
    const dir = mkdtempSync(join(tmpdir(), 'kb-cli-broker-'));
    writeFileSync(join(dir, 'keys.cbor'), encodeCbor(issuer.trust.map(coseKeyToMap)));
    const a = io();
    const broker = await brokerServe(['--audience', 'broker-1', '--trust', join(dir, 'keys.cbor'), '--port', '0', '--ws-port', '0'], a.io);
    try {
      const url = /listening on (mqtt:\/\/[\d.:]+)/.exec(a.out.stdout)![1]!;
      expect(a.out.stdout).toMatch(/and ws:\/\//);
      const { token, key } = issuer.token({ scope: [['x/#', ['pub']]] });
      await (await connect(url, 'cli-ok', password(token, key, 'cli-ok'))).endAsync();
      const { token: other } = issuer.token({ scope: [['x/#', ['pub']]] });
      await connect(url, 'cli-thief', password(other, key, 'cli-thief')).catch(() => {});
      // stderr is JSON lines only (pino): the refusal is one of them, with its reason code.
      const lines = jsonLines(a.out.stderr);
      expect(lines.find((l) => l.event === 'connect_refused' && l.clientId === 'cli-thief')).toMatchObject({ code: 'bad_proof', audience: 'broker-1', level: 40 });
      expect(lines.find((l) => l.event === 'connect_admitted' && l.clientId === 'cli-ok')).toMatchObject({ audience: 'broker-1', level: 30 });
      expect(a.out.stderr).not.toContain(Buffer.from(other).toString('base64url').slice(0, 30));
      // No --authz-url: nothing fetches revocation lists, and it says so; no --redis: state is in memory.
      expect(lines.find((l) => l.event === 'no_revocation_source')).toMatchObject({ level: 40, msg: expect.stringContaining('ace/trl/broker-1') });
      expect(lines.find((l) => l.event === 'memory_store')).toMatchObject({ level: 30 });
      // It listens on loopback, as --help now says.
      expect(url).toMatch(/^mqtt:\/\/127\.0\.0\.1:/);
    } finally {
      await broker.close();
    }
  });
});

describe('keybound broker serve as a process', () => {
  it('SIGTERM: logs stopping (with the signal) and stopped, last, and exits 0 (walkthrough, stop 36: a stop left no line)', async () => {
    const issuer = createIssuer();
    const dir = mkdtempSync(join(tmpdir(), 'kb-cli-broker-stop-'));
    writeFileSync(join(dir, 'keys.cbor'), encodeCbor(issuer.trust.map(coseKeyToMap)));
    const b = await serveBroker(join(dir, 'keys.cbor'));
    const exited = new Promise<number | string | null>((r) => b.proc.once('exit', (code, sig) => r(code ?? sig)));
    const closed = new Promise((r) => b.proc.once('close', r));
    // At once: the broker has just said it listens (a supervisor's stop then found no handler).
    b.proc.kill('SIGTERM');
    const code = await exited;
    await closed;
    expect(code, b.stderr.slice(-1500)).toBe(0);
    expect(jsonLines(b.stderr).slice(-2).map((l) => [l.event, l.signal, l.level])).toEqual([['stopping', 'SIGTERM', 30], ['stopped', undefined, 30]]);
  }, 60_000);
});
