/**
 * Review (rev2), the device's data directory as deployed (issue 10): it holds the device key, PoP
 * keys, tokens, the trust set and replay state. Attacks: a link planted at the temporary name a
 * write goes through (the device must not write through it into another file), and `keybound
 * device serve` on a directory others can write to (they could swap or roll back its files).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirLockedError, fileStorage, lockDataDir } from '../device/adapters/index.js';
import { createFixtureIssuer } from './support/device-issuer.js';
import { serveDevice } from './support/device-process.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-review-data-dir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('review: the device data directory', () => {
  it('a link planted at the temporary name is not written through: its target keeps its bytes and mode', () => {
    const data = join(dir, 'data-link');
    mkdirSync(data, { mode: 0o700 });
    const victim = join(dir, 'victim.conf');
    writeFileSync(victim, 'operator config\n', { mode: 0o644 });
    chmodSync(victim, 0o644);
    symlinkSync(victim, join(data, '.tokens.tmp'));
    const storage = fileStorage(data);
    storage.put('tokens', new Uint8Array([1, 2, 3]));
    expect(readFileSync(victim, 'utf8')).toBe('operator config\n');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(lstatSync(join(data, 'tokens')).isFile()).toBe(true);
    expect([...storage.get('tokens')!]).toEqual([1, 2, 3]);
  });

  for (const mode of [0o777, 0o770, 0o702]) {
    it(`device serve refuses a data dir of mode ${mode.toString(8)} before it writes anything`, async () => {
      const data = join(dir, `data-${mode.toString(8)}`);
      mkdirSync(data);
      chmodSync(data, mode);
      const bundle = join(dir, 'bundle.cbor');
      writeFileSync(bundle, createFixtureIssuer(() => Math.floor(Date.now() / 1000)).bundleFor('tube-dir'));
      const d = serveDevice(['--bundle', bundle, '--data-dir', data, '--broker', 'mqtt://127.0.0.1:9', '--wake-every', '0']);
      expect(await d.exited).not.toBe(0);
      expect(d.stderr).toMatch(/writable by group or others.*ERR_DEVICE_DATA_DIR_UNSAFE/);
      expect(readdirSync(data)).toEqual([]);
    }, 30_000);
  }

  // README walkthrough (stop 35): two `device serve` on one --data-dir each kept their own replay
  // windows, token store and trust set, and overwrote each other's files.
  it('a second device serve on the same data dir is refused while the first runs; after it stops (or dies) the dir is free', async () => {
    const home = join(dir, 'shared-home');
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(join(home, 'bundle.cbor'), createFixtureIssuer(() => Math.floor(Date.now() / 1000)).bundleFor('tube-lock'), { mode: 0o600 });
    const serveCoapOnly = async () => {
      const device = serveDevice(['--bundle', join(home, 'bundle.cbor'), '--data-dir', join(home, 'data'), '--coap-port', '0', '--coap-only', '--log-level', 'info']);
      await device.waitFor((e) => e.event === 'coap_listening');
      return { device };
    };
    const first = await serveCoapOnly();
    try {
      const second = serveDevice(['--bundle', join(home, 'bundle.cbor'), '--data-dir', join(home, 'data'), '--coap-port', '0', '--coap-only']);
      expect(await Promise.race([second.exited, new Promise((r) => setTimeout(() => r('still running after 20 s'), 20_000))])).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`in use by another device process \\(pid ${first.device.proc.pid};.*ERR_DEVICE_DATA_DIR_LOCKED`));
    } finally {
      first.device.proc.kill('SIGTERM');
      await first.device.exited;
    }
    expect(readdirSync(join(home, 'data'))).not.toContain('.lock');
    // Stopped cleanly: the next start takes it.
    const again = await serveCoapOnly();
    // Killed (a crash, a power cut): its lock stays, naming a process that is gone; the next start takes it over.
    again.device.proc.kill('SIGKILL');
    await again.device.exited;
    expect(readFileSync(join(home, 'data', '.lock'), 'utf8').split('\n')[0]).toBe(String(again.device.proc.pid));
    const third = await serveCoapOnly();
    third.device.proc.kill('SIGTERM');
    await third.device.exited;
  }, 60_000);

  it('lockDataDir: one holder per directory in a process; a stale lock (a dead pid, or our own pid from an earlier start) is taken over', () => {
    const d = join(dir, 'lock-unit');
    mkdirSync(d, { mode: 0o700 });
    const a = lockDataDir(d);
    expect(() => lockDataDir(d)).toThrow(DataDirLockedError);
    a.release();
    a.release(); // twice: harmless, and never removes a lock another took meanwhile
    const b = lockDataDir(d);
    b.release();
    // A container restarted with the volume: the old lock names pid 1, as this start may be.
    writeFileSync(join(d, '.lock'), `${process.pid}\n`);
    lockDataDir(d).release();
    // Another live process (our parent) holds it: refused, naming it.
    writeFileSync(join(d, '.lock'), `${process.ppid}\n`);
    expect(() => lockDataDir(d)).toThrow(new RegExp(`pid ${process.ppid};`));
    expect(readFileSync(join(d, '.lock'), 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('lockDataDir after a power cut: a lock whose pid now belongs to another process (another boot, or another start time) is taken over; the live holder\'s is not', () => {
    // Carried from stop 36: an embedded board boots the same services in the same order, so the
    // dead host's pid is some other process after the reboot, and the directory stayed locked.
    const d = join(dir, 'lock-reboot');
    mkdirSync(d, { mode: 0o700 });
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const parentStart = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
    // What a host writes: its pid, this boot, its start time.
    const own = lockDataDir(d);
    const ownStat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    expect(readFileSync(join(d, '.lock'), 'utf8')).toBe(`${process.pid}\n${boot}\n${ownStat.slice(ownStat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
    own.release();
    // The live parent, as it would have written it: held.
    writeFileSync(join(d, '.lock'), `${process.ppid}\n${boot}\n${parentStart}\n`);
    expect(() => lockDataDir(d)).toThrow(new RegExp(`pid ${process.ppid};`));
    // Written in another boot by a host that got the parent's pid: stale.
    const otherBoot = boot.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    writeFileSync(join(d, '.lock'), `${process.ppid}\n${otherBoot}\n${parentStart}\n`);
    lockDataDir(d).release();
    // This boot, but the pid was another process's, started at another time: stale.
    writeFileSync(join(d, '.lock'), `${process.ppid}\n${boot}\n${BigInt(parentStart) + 1n}\n`);
    lockDataDir(d).release();
    // Lines that are not what a host writes are not read as an identity: the pid alone decides.
    writeFileSync(join(d, '.lock'), `${process.ppid}\nnot-a-boot-id\n1\n`);
    expect(() => lockDataDir(d)).toThrow(DataDirLockedError);
  });
});
