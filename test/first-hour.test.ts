/**
 * README "First hour", run as written (issue 15): the fenced `sh` blocks of that section, taken
 * from README.md at test time (no copy kept here), fed in order to ONE bash process in a fresh
 * temporary directory, as a user pastes them into one shell. Real processes throughout: the
 * service and the broker from bin/keybound.js, Debian's curl, mosquitto_pub and mosquitto_sub,
 * and headless Chromium for the person who signs in between two blocks.
 *
 * What the README asks of the user beforehand is done here: `keybound` on PATH (what `npm link`
 * does: a symlink to bin/keybound.js) and cbor-x resolvable from the directory (what `npm install
 * cbor-x` does: a symlink to ours). The ports come from AS_PORT / MQTT_PORT, which the README's
 * first line honours: free ones here, never fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/chromium.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function sectionBlocks(title: string): string[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no "## ${title}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** One bash fed block by block on stdin; each block's output (stdout and stderr) collected. */
class Shell {
  private out = '';
  private marks = 0;
  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.on('data', (d: Buffer) => (this.out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (this.out += d.toString()));
  }

  async run(block: string, timeoutMs: number): Promise<string> {
    const mark = `__block_${++this.marks}_done__`;
    const from = this.out.length;
    this.proc.stdin.write(`${block}\necho ${mark}\n`);
    const deadline = Date.now() + timeoutMs;
    while (!this.out.includes(mark, from)) {
      if (Date.now() > deadline || this.proc.exitCode !== null) throw new Error(`block ${this.marks} did not finish; output:\n${this.out.slice(from)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return this.out.slice(from, this.out.indexOf(mark, from));
  }
}

const MINUTE = 60_000;
const blocks = sectionBlocks('First hour');
const dir = mkdtempSync(join(tmpdir(), 'kb-first-hour-'));
let shell: Shell;
let asPort: number;
let mqttPort: number;
let browser: Browser | undefined;

beforeAll(async () => {
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  symlinkSync(join(root, 'bin', 'keybound.js'), join(bin, 'keybound'));
  const work = join(dir, 'work');
  mkdirSync(join(work, 'node_modules'), { recursive: true });
  symlinkSync(join(root, 'node_modules', 'cbor-x'), join(work, 'node_modules', 'cbor-x'));
  asPort = await freePort();
  mqttPort = await freePort();
  const proc = spawn('bash', [], {
    cwd: work,
    detached: true, // its own process group: afterAll ends it and every job it started, and nothing else
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, AS_PORT: String(asPort), MQTT_PORT: String(mqttPort) },
  });
  shell = new Shell(proc);
}, MINUTE);

afterAll(async () => {
  await browser?.close();
  const pid = shell?.proc.pid;
  if (pid !== undefined && shell.proc.exitCode === null) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

const at = (f: string) => join(dir, 'work', f);

describe('README "First hour", verbatim', () => {
  it('has the blocks this test walks (register, serve, curl JSON, curl CBOR, keybound token, MQTT, sign-in, poll)', () => {
    expect(blocks).toHaveLength(8);
    // Every port is $AS_PORT / $MQTT_PORT; the fixed numbers appear only as their defaults.
    expect(blocks[0]!.split('\n')[0]).toBe(': "${AS_PORT:=8080}" "${MQTT_PORT:=1883}"');
    expect(blocks.join('\n').split('\n').slice(1).join('\n')).not.toMatch(/\b8080\b|\b1883\b/);
  });

  it('registers with --init, writes strong secrets at 0600, and lists without secrets', async () => {
    const out = await shell.run(blocks[0]!, 3 * MINUTE);
    expect(out).toContain('registered device tube-123');
    expect(out).toContain('wrote a new random secret to ekg.secret (mode 0600');
    expect(out).toMatch(/clients \(2\)\n {2}ekg-abc {2}auth=secret/);
    expect(out).toMatch(/devices \(2\)/);
    expect(statSync(at('ekg.secret')).mode & 0o777).toBe(0o600);
    expect(statSync(at('as-data')).mode & 0o777).toBe(0o700);
    expect(out).not.toContain(readFileSync(at('ekg.secret'), 'utf8').trim());
  }, 4 * MINUTE);

  it('serves, and publishes its keys', async () => {
    const out = await shell.run(blocks[1]!, 2 * MINUTE);
    expect(out).toContain(`listening on http://127.0.0.1:${asPort}`);
    expect(JSON.parse(readFileSync(at('jwks.json'), 'utf8')).keys.length).toBeGreaterThan(0);
  }, 3 * MINUTE);

  it('gives a token to curl in JSON (token_type "PoP"), which verifies with /jwks.json', async () => {
    const out = await shell.run(blocks[2]!, 2 * MINUTE);
    expect(out).toContain('PoP token, 3600 s');
    expect(out).toMatch(/Verification: OK \(COSE_Sign1, alg EdDSA, kid h'[0-9a-f]+', audience "tube-123"\)/);
  }, 3 * MINUTE);

  it('gives a token to curl in application/ace+cbor encoded by cbor-x as the README says', async () => {
    const out = await shell.run(blocks[3]!, 2 * MINUTE);
    expect(out).toMatch(/token_type 2, \d+-byte token, 3600 s/);
  }, 3 * MINUTE);

  it('keybound token: a key file at 0600 and a token that verifies', async () => {
    const out = await shell.run(blocks[4]!, 2 * MINUTE);
    expect(out).toMatch(/bound to a new key written to ekg-pop\.json \(mode 0600\)/);
    expect(statSync(at('ekg-pop.json')).mode & 0o777).toBe(0o600);
    expect(out).toMatch(/Verification: OK .*audience "tube-123"/);
  }, 3 * MINUTE);

  it('mosquitto_pub and mosquitto_sub through the broker with keybound mqtt-password; a replayed password is refused', async () => {
    const out = await shell.run(blocks[5]!, 4 * MINUTE);
    expect(out).toContain(`listening on mqtt://127.0.0.1:${mqttPort}`);
    // mosquitto_sub printed the retained message published with the first password.
    expect(out).toMatch(/^21\.5$/m);
    // The second use of one password: the broker refuses (mosquitto_pub exits non-zero).
    expect(out).toMatch(/Connection (Refused|error)[^\n]*\n(?:[^\n]*\n)*refused: that proof was used/);
    expect(out.match(/refused: that proof was used/g)).toHaveLength(1);
  }, 5 * MINUTE);

  it('a person signs in with Chromium at the page the device flow names, and the TV gets a token for alice', async () => {
    const out = await shell.run(blocks[6]!, 3 * MINUTE);
    expect(out).toContain('registered user alice');
    const m = /open (http:\/\/127\.0\.0\.1:\d+\/device), sign in as alice, enter ([A-Z0-9-]+)/.exec(out);
    expect(m, out).not.toBeNull();
    browser = await launchChromium();
    const page = await (await browser.newContext()).newPage();
    await page.goto(m![1]!);
    await page.fill('#username', 'alice');
    await page.fill('#password', readFileSync(at('alice.password'), 'utf8').trim());
    await page.click('#login');
    await page.fill('#user_code', m![2]!);
    await page.click('#continue');
    expect(await page.textContent('#code')).toBe(m![2]!);
    await page.click('#approve');
    await page.waitForSelector('#message');

    // The same page with a wrong password: refused, in words. A plain visit to /login points there.
    const other = await (await browser.newContext()).newPage();
    await other.goto(`http://127.0.0.1:${asPort}/login`);
    await other.click('#device-link');
    await other.fill('#username', 'alice');
    await other.fill('#password', 'not-her-password');
    await other.click('#login');
    expect(await other.textContent('#error')).toContain('Wrong user name or password');

    const polled = await shell.run(blocks[7]!, 2 * MINUTE);
    expect(polled).toMatch(/sub\(2\) +"alice"/);
    expect(polled).toMatch(/Verification: OK .*audience "tube-123"/);
  }, 6 * MINUTE);

  it('left the secrets and keys it wrote readable by their owner only', () => {
    for (const f of ['ekg.secret', 'sensor-app.secret', 'tv-app.secret', 'ekg-pop.json', 'sensor-pop.json', 'broker-1.cbor', 'sensor.token']) {
      expect(existsSync(at(f)), f).toBe(true);
      expect(statSync(at(f)).mode & 0o077, f).toBe(0);
    }
  });
});
