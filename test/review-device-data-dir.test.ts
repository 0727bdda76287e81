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
import { fileStorage } from '../device/adapters/index.js';
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
});
