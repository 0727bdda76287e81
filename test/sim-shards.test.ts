/**
 * A fleet in shards and worker threads (issue 13): the report is a function of the seed and the
 * fleet only, byte for byte, whether one thread runs every shard or two threads share them.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { DeviceFigureTable, FleetWorkerError, MAX_WORKERS, ed25519PublicKey, hostProvider, runFleet, type SimReport } from '../firmware-sim/index.js';
import { fromHex, portableProvider, toHex, type CoseKey } from '../cose/index.js';
import { parseSimArgs } from '../cli/index.js';

const fixedNow = () => new Date('2030-01-01T00:00:00.000Z');
// 36 mixed devices in shards of 12: three shards, every role in each.
const fleet = { scenario: 'mixed', devices: 36, shardDevices: 12, now: fixedNow } as const;

describe('a sharded fleet', () => {
  let one: SimReport;
  let two: SimReport;
  let progress: number[];
  beforeAll(async () => {
    one = await runFleet({ ...fleet, seed: 'shards', workers: 1 });
    progress = [];
    two = await runFleet({ ...fleet, seed: 'shards', workers: 2, onProgress: (done, total) => void progress.push(done, total) });
  }, 60_000);

  it('gives the same report bytes with one worker and with two', () => {
    expect(JSON.stringify(two)).toBe(JSON.stringify(one));
    // Not an empty report that would match anything: every shard's devices are counted and ran.
    expect(one.devices).toBe(36);
    expect(one.profiles.reduce((a, p) => a + p.devices, 0)).toBe(36);
    expect(one.authorizations.attempted).toBe(36);
    expect(one.authorizations.succeeded).toBeGreaterThan(30);
    expect(one.flash.writes).toBeGreaterThan(0);
    expect(one.profiles.every((p) => p.cryptoVerifies > 0 && p.meanActiveMilliJoule > 0 && p.meanBatteryPctPerDay > 0)).toBe(true);
  });

  it('keeps every promise in every shard: no theft, no use after revocation, no nonce reuse', () => {
    expect(one.theft.tries).toBeGreaterThanOrEqual(3 * 2);
    expect(one.theft.accepted).toBe(0);
    expect(one.revocation.revoked).toBe(6);
    expect(one.revocation.acceptedAfter).toBe(0);
    expect(one.reboots.nonceReuse).toBe(0);
    // The story is told once, by the first device of each flow (shard 0).
    expect(new Set(one.flows.events.map((e) => e.device))).toEqual(new Set(['dev-00000', 'dev-00001', 'dev-00002']));
  });

  it('reports progress over the whole fleet from the workers, ending at every device', () => {
    const dones = progress.filter((_, i) => i % 2 === 0);
    expect(progress[1]).toBe(36);
    expect(dones.at(-1)).toBe(36);
  });

  it('another seed gives another report (the comparison above can fail)', async () => {
    const other = await runFleet({ ...fleet, seed: 'shards-2', workers: 2 });
    expect(JSON.stringify(other)).not.toBe(JSON.stringify(one));
  }, 60_000);

  it('refuses impossible worker and shard counts, and workers with a broker or QuickJS', async () => {
    for (const workers of [0, -1, 1.5, MAX_WORKERS + 1]) await expect(runFleet({ ...fleet, seed: 1, workers })).rejects.toThrow(RangeError);
    await expect(runFleet({ ...fleet, seed: 1, shardDevices: 0 })).rejects.toThrow(RangeError);
    await expect(runFleet({ scenario: 'mixed', devices: 6, seed: 1, shardDevices: 3, workers: 2, engine: 'quickjs' })).rejects.toThrow(/Node engine only/);
    expect(parseSimArgs(['--workers', '0'])).toMatch(/--workers must be/);
    expect(parseSimArgs(['--workers', 'two'])).toMatch(/--workers must be/);
    expect(parseSimArgs(['--workers', String(MAX_WORKERS + 1)])).toMatch(/--workers must be/);
    expect(parseSimArgs(['--workers', '2', '--relay', 'broker', '--devices', '4'])).toMatch(/--relay sim and --engine node only/);
    expect(parseSimArgs(['--workers', '2'])).toMatchObject({ workers: 2 });
    expect(new FleetWorkerError('x').code).toBe('ERR_SIM_WORKER');
  });

  it('refuses device figure rows of the wrong shape (what a worker posts back)', () => {
    expect(() => DeviceFigureTable.fromRows(new Float64Array(7))).toThrow(RangeError);
    expect(() => new DeviceFigureTable(2, new Float64Array(3))).toThrow(RangeError);
  });
});

describe("the simulator host's crypto (node:crypto, same bytes as the portable provider)", () => {
  it('derives the RFC 8032 §7.1 TEST 1 public key from its secret', () => {
    const d = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    expect(toHex(ed25519PublicKey(d))).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  });
  it('signs EdDSA and ECDSA exactly as the portable provider (RFC 6979: a seed reproduces a token)', () => {
    const msg = new Uint8Array([1, 2, 3]);
    const d = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const ed: CoseKey = { kty: 'OKP', crv: 'Ed25519', d, x: ed25519PublicKey(d) };
    expect(toHex(hostProvider.sign(ed, undefined, msg))).toBe(toHex(portableProvider.sign(ed, undefined, msg)));
    const kp = portableProvider.generateKeyPair('P-256');
    const ec: CoseKey = { kty: 'EC2', crv: 'P-256', x: kp.x, y: kp.y!, d: kp.d };
    const sig = hostProvider.sign(ec, 'SHA-256', msg);
    expect(toHex(sig)).toBe(toHex(portableProvider.sign(ec, 'SHA-256', msg)));
    expect(hostProvider.verify(ec, 'SHA-256', msg, sig)).toBe(true);
    const tampered = sig.slice();
    tampered[5]! ^= 1;
    expect(hostProvider.verify(ec, 'SHA-256', msg, tampered)).toBe(false);
  });
});

describe('`keybound sim --workers` as deployed', () => {
  it('runs its worker threads when started from a checkout in another working directory', { timeout: 120_000 }, async () => {
    // The README's setup links the CLI and runs it in an empty directory: the threads' loader must
    // be found from the simulator's files (it once failed: "Cannot find package 'tsx'").
    const { spawn } = await import('node:child_process');
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const elsewhere = mkdtempSync(join(tmpdir(), 'kb-sim-cwd-'));
    try {
      const bin = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));
      // Two shards of 2,000 (the CLI's shard size), so two threads run.
      const args = [bin, 'sim', '--scenario', 'disconnected', '--devices', '4000', '--workers', '2', '--seed', 'cwd', '--json', join(elsewhere, 'report.json')];
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, args, { cwd: elsewhere, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (c) => {
          if (c !== 0) console.error(stderr.slice(-2000));
          resolve(c);
        });
      });
      expect(code).toBe(0);
      expect((JSON.parse(readFileSync(join(elsewhere, 'report.json'), 'utf8')) as SimReport).devices).toBe(4000);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
