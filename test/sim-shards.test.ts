/**
 * A fleet in shards and worker threads (issue 13): the report is a function of the seed and the
 * fleet only, byte for byte, whether one thread runs every shard or two threads share them.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { DeviceFigureTable, FleetWorkerError, MAX_WORKERS, runFleet, type SimReport } from '../firmware-sim/index.js';
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
