/**
 * `keybound demo --out DIR` writes a whole service's data into DIR: it registers a fleet and signs
 * with the keys it finds there. Pointed at a live service's --data-dir (a README reader's easy
 * mistake: "--out ./as-data"), it wrote its 26 demo devices and clients into the production store
 * (walkthrough, stop 36). A directory that is not empty and not an earlier demo's is refused
 * before anything is written; an earlier demo's directory may be used again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/index.js';

const root = mkdtempSync(join(tmpdir(), 'keybound-demo-out-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } } };
}

describe('keybound demo --out', () => {
  it("refuses a service's data directory and writes nothing into it", async () => {
    const data = join(root, 'as-data');
    const reg = io();
    expect(await main(['authz', 'register-device', 'tube-123', '--data-dir', data, '--init', '--clockless', '--scope', 'read_result'], reg.io)).toBe(0);
    const before = readdirSync(data).sort();
    const store = readFileSync(join(data, 'authz.sqlite'));
    const demo = io();
    expect(await main(['demo', '--out', data, '--devices', '6'], demo.io)).toBe(2);
    expect(demo.out.stderr).toMatch(/not empty.*service's data/);
    expect(readdirSync(data).sort()).toEqual(before);
    expect(readFileSync(join(data, 'authz.sqlite')).equals(store)).toBe(true);
  });

  it('refuses any other non-empty directory', async () => {
    const other = join(root, 'notes');
    rmSync(other, { recursive: true, force: true });
    mkdirSync(other);
    writeFileSync(join(other, 'todo.txt'), 'mine\n');
    const demo = io();
    expect(await main(['demo', '--out', other, '--devices', '6'], demo.io)).toBe(2);
    expect(readdirSync(other)).toEqual(['todo.txt']);
  });

  it('refuses a marker that is a link (review 37): the file it points at is not written', async () => {
    const shared = join(root, 'common-out');
    rmSync(shared, { recursive: true, force: true });
    mkdirSync(shared);
    const victim = join(root, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(shared, '.keybound-demo'));
    const demo = io();
    expect(await main(['demo', '--out', shared, '--devices', '6'], demo.io)).toBe(2);
    expect(demo.out.stderr).toMatch(/not a regular file/);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readdirSync(shared)).toEqual(['.keybound-demo']);
  });

  it("runs in a new directory, and again in that demo's own directory", async () => {
    const out = join(root, 'demo-out');
    const first = io();
    expect(await main(['demo', '--out', out, '--devices', '6'], first.io)).toBe(0);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    const again = io();
    expect(await main(['demo', '--out', out, '--devices', '6'], again.io)).toBe(0);
    expect(again.out.stdout).toContain('report:');
  }, 120_000);
});

describe('keybound demo interrupted', () => {
  it('SIGINT removes the temporary directory it made (it holds signing keys), exit 130', async () => {
    const bin = fileURLToPath(new URL('../bin/keybound.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'demo', '--devices', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    for (let i = 0; i < 600 && !/SQLite in (\S+)/.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
    const dir = /SQLite in (\S+)/.exec(stdout)![1]!;
    for (let i = 0; i < 600 && !existsSync(join(dir, 'keys')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(dir, 'keys'))).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain(`interrupted; removed ${dir}`);
    expect(existsSync(dir)).toBe(false);
  }, 120_000);
});
