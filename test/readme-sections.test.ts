/**
 * README sections of what landed with DPoP/mTLS and CoAP, as a new user runs them: their `sh`
 * blocks in an empty directory, `keybound` this checkout's CLI, only the ports made ephemeral and
 * a server the README starts in the foreground put in the background (a second terminal).
 * - "CoAP transport", first block, beside a service with the `coap_oscore` device tube-7 ("The
 *   ACE-OSCORE profile"): it once named a device of another profile and a `token.cbor` nothing in
 *   the README made.
 * - "DPoP and JWT access tokens" then "Certificate-bound tokens": the mTLS client once named an
 *   audience never registered, and the x5t#S256 command printed hex.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The `sh` blocks of a `## ` section (its `### ` parts included), in order. */
function blocksOf(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  const rest = readme.slice(start + 1);
  const section = rest.slice(0, rest.indexOf('\n## ', 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const scripts: ChildProcess[] = [];
afterAll(() => {
  for (const script of scripts) {
    try {
      process.kill(-script.pid!, 'SIGKILL'); // the servers it started
    } catch {
      // already gone
    }
  }
});

/** `lines` as one bash script in `dir` (its own process group); everything it printed. */
async function runScript(dir: string, lines: string[]): Promise<string> {
  const file = join(dir, 'readme.sh');
  writeFileSync(file, ['set -uo pipefail', `keybound() { node ${JSON.stringify(join(root, 'bin/keybound.js'))} "$@"; }`, ...lines].join('\n'));
  const script = spawn('bash', [file], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  scripts.push(script);
  let out = '';
  script.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  script.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => script.once('exit', resolve));
  return out;
}

describe("README 'CoAP transport'", () => {
  it('runs as written: token.cbor from the service (0600), /result read under OSCORE, the POST outside the scope refused', async () => {
    const block = blocksOf('CoAP transport')[0]!;
    expect(block).toMatch(/--token-response token\.cbor/);
    const dir = mkdtempSync(join(tmpdir(), 'kb-readme-coap-'));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules')); // the block's cbor-x
    writeFileSync(join(dir, 'reading.cbor'), Uint8Array.of(0xa1, 0x01, 0x18, 0x2a));
    const [asPort, coapPort] = [await freePort(), await freePort()];
    const asWritten = block
      .replaceAll('npx keybound', 'keybound')
      .replaceAll('127.0.0.1:8080', `127.0.0.1:${asPort}`)
      .replaceAll('5683', String(coapPort))
      // The device runs in the background, as in a second terminal; on until CoAP listens.
      .replace(/(keybound device serve [^\n]*)\n/, `$1 > device.log &\nuntil grep -q coap_listening device.log; do sleep 0.2; done\n`);
    const out = await runScript(dir, [
        `keybound authz register-device tube-7 --data-dir ./as-data --init --profile coap_oscore --scope '[["/result",1]]'`,
        `keybound authz serve --data-dir ./as-data --port ${asPort} > as.out 2> as.log &`,
        'until grep -q listening as.out; do sleep 0.2; done',
        asWritten,
        'echo "LAST-EXIT $?"',
    ]);
    expect(out).toMatch(/tube-7: result negative/);
    expect(out).toMatch(/^2\.05$/m);
    expect(out).not.toMatch(/warning|refused|does not exist|unknown/);
    // The token answer holds the Master Secret: written owner-only.
    expect(statSync(join(dir, 'token.cbor')).mode & 0o077).toBe(0);
    // ["/result",1] is GET only: the POST gets the device's protected 4.03, as the README says.
    expect(out).toMatch(/^4\.03$/m);
    expect(out).toMatch(/LAST-EXIT 1/);
  }, 90_000);
});

describe("README 'DPoP and JWT access tokens' and 'Certificate-bound tokens'", () => {
  it('runs as written: bank-app gets a JWT bound to its certificate, whose x5t#S256 the README command computes', async () => {
    const [dpop, mtls] = blocksOf('DPoP and JWT access tokens for HTTP clients');
    const dir = mkdtempSync(join(tmpdir(), 'kb-readme-mtls-'));
    const [asPort, tlsPort] = [await freePort(), await freePort()];
    const background = (block: string, port: number, name: string) =>
      block.replace(/(keybound authz serve [^\n]*)\n/, `$1 > ${name}.out 2> ${name}.log &\nuntil grep -q listening ${name}.out; do sleep 0.2; done\n`).replaceAll(/127\.0\.0\.1:\d+|--port \d+/g, (m) => m.replace(/\d+$/, String(port)));
    const ec = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
    const out = await runScript(dir, [
      'keybound authz register-device tube-123 --data-dir ./as-data --init --scope read_result',
      // The files the README says are yours: a server CA and certificate for 127.0.0.1, a client CA and bank-app's.
      `openssl req -x509 ${ec} -keyout ca.key -out ca.pem -subj /CN=ca -days 1 2>/dev/null`,
      `openssl req ${ec} -keyout key.pem -subj /CN=127.0.0.1 2>/dev/null | openssl x509 -req -CA ca.pem -CAkey ca.key -out cert.pem -days 1 -extfile <(echo subjectAltName=IP:127.0.0.1) 2>/dev/null`,
      `openssl req -x509 ${ec} -keyout client-ca.key -out client-ca.pem -subj /CN=client-ca -days 1 2>/dev/null`,
      `openssl req ${ec} -keyout bank-app.key -subj /O=Bank/CN=bank-app 2>/dev/null | openssl x509 -req -CA client-ca.pem -CAkey client-ca.key -out bank-app.pem -days 1 2>/dev/null`,
      /openssl req -x509 [^`]*phone-7\.pem/.exec(readme)![0],
      background(dpop!, asPort, 'as').replaceAll('npx keybound', 'keybound'),
      `${background(mtls!, tlsPort, 'tls').replaceAll('npx keybound', 'keybound').trimEnd()} > answer.json`,
      'node -p \'JSON.parse(Buffer.from(JSON.parse(require("fs").readFileSync("answer.json", "utf8")).access_token.split(".")[1], "base64url")).cnf["x5t#S256"]\'',
      /openssl x509 -in bank-app\.pem [^`]*/.exec(readme)![0],
    ]);
    expect(out).not.toMatch(/warning|unknown audience|ERR_/);
    expect(JSON.parse(readFileSync(join(dir, 'answer.json'), 'utf8'))).toMatchObject({ token_type: 'Bearer', scope: 'read' });
    const thumbprints = out.match(/^[A-Za-z0-9_-]{43}$/gm);
    expect(thumbprints).toHaveLength(2);
    expect(thumbprints![0]).toBe(thumbprints![1]);
  }, 90_000);
});
