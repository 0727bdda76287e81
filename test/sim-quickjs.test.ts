/**
 * `keybound sim --engine quickjs`: each simulated device's code runs in its own QuickJS engine
 * (the full device bundle), with the simulator's flash as its storage, its TRNG model as its
 * randomness and its crypto charged to the same energy model. Same seed, same fleet: the report
 * must equal the Node engine's in every field but the engine's own (a device that decided
 * differently in QuickJS would change the counts), and it shows the real heap beside the RAM model.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { parseSimArgs, simCommand } from '../cli/index.js';
import { MAX_QUICKJS_DEVICES, runFleet, type SimReport } from '../firmware-sim/index.js';

const fixedNow = () => new Date('2026-12-02T00:00:00Z');
const withoutEngine = (r: SimReport) => ({ ...r, engine: undefined, profiles: r.profiles.map((p) => ({ ...p, quickjsPeakHeapBytes: undefined })) });

describe('sim --engine quickjs', () => {
  let quickjs: SimReport;
  let node: SimReport;
  beforeAll(async () => {
    quickjs = await runFleet({ scenario: 'mixed', devices: 6, seed: 'qjs', engine: 'quickjs', now: fixedNow });
    node = await runFleet({ scenario: 'mixed', devices: 6, seed: 'qjs', now: fixedNow });
  }, 300_000);

  it('decides exactly as the Node engine: same authorizations, refusals, theft, revocation, energy', () => {
    expect(quickjs.engine).toBe('quickjs');
    expect(node.engine).toBe('node');
    expect(withoutEngine(quickjs)).toEqual(withoutEngine(node));
    expect(quickjs.authorizations.succeeded).toBeGreaterThan(0);
    expect(quickjs.theft.tries).toBeGreaterThan(0);
    expect(quickjs.theft.accepted).toBe(0);
  });

  it('reports each profile\'s real QuickJS heap beside the RAM model and the part\'s RAM', () => {
    for (const p of quickjs.profiles) {
      expect(p.quickjsPeakHeapBytes).toBeGreaterThan(p.keyboundRamBytes);
      expect(p.partRamBytes).toBeGreaterThan(0);
    }
    for (const p of node.profiles) expect(p.quickjsPeakHeapBytes).toBeUndefined();
  });

  it('refuses a fleet over the bound and the broker relay with a clear error', async () => {
    expect(parseSimArgs(['--engine', 'quickjs', '--devices', String(MAX_QUICKJS_DEVICES + 1)])).toMatch(/--engine quickjs takes at most 16 devices/);
    expect(parseSimArgs(['--engine', 'quickjs', '--relay', 'broker', '--devices', '2'])).toMatch(/--relay sim only/);
    expect(parseSimArgs(['--engine', 'v8'])).toMatch(/--engine must be node or quickjs/);
    await expect(runFleet({ scenario: 'mixed', devices: MAX_QUICKJS_DEVICES + 1, seed: 1, engine: 'quickjs' })).rejects.toThrow(/at most 16 devices/);
  });

  it('the CLI prints the heap line', async () => {
    let out = '';
    const io = { stdout: { write: (s: string) => void (out += s) }, stderr: { write: () => undefined, isTTY: false } };
    const code = await simCommand(['--engine', 'quickjs', '--devices', '2', '--scenario', 'disconnected', '--seed', '7'], io as never);
    expect(code).toBe(0);
    expect(out).toMatch(/QuickJS heap per device \(real\) vs RAM model: \w+ \d+ KB vs \d+ KB \(part \d+ KB\)/);
  }, 300_000);
});
