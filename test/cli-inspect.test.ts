import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createCwt, encodeCoseKey, coseKeyToJwk, portableProvider, publicCoseKey, toBase64Url, toHex, utf8, type CoseKey } from '../cose/index.js';
import { inspect, main, type CliIo } from '../cli/index.js';

const NOW = 1_764_000_000;
const clock = () => NOW;

function collector(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

const pair = portableProvider.generateKeyPair('Ed25519');
const asKey: CoseKey = { kty: 'OKP', crv: 'Ed25519', kid: utf8('as-1'), x: pair.x, d: pair.d };
const holder = portableProvider.generateKeyPair('Ed25519');
const token = createCwt(
  { iss: 'https://as.example', sub: 'ekg-abc', aud: 'tube-123', exp: NOW + 3600, iat: NOW, cti: new Uint8Array(8), cnf: { coseKey: { kty: 'OKP', crv: 'Ed25519', x: holder.x } }, scope: 'read_result' },
  asKey,
);
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keybound-inspect-'));
  writeFileSync(join(dir, 'token.cbor'), token);
  writeFileSync(join(dir, 'token.hex'), `${toHex(token)}\n`);
  writeFileSync(join(dir, 'as.cosekey'), encodeCoseKey(asKey)); // private: must never be printed
  writeFileSync(join(dir, 'as.jwk'), JSON.stringify(coseKeyToJwk(publicCoseKey(asKey))));
  const other = portableProvider.generateKeyPair('Ed25519');
  writeFileSync(join(dir, 'stolen.jwk'), JSON.stringify(coseKeyToJwk({ kty: 'OKP', crv: 'Ed25519', x: other.x })));
  writeFileSync(join(dir, 'broken.jwk'), `{"kty":"OKP","d":"${toBase64Url(pair.d)}",`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  const io = collector();
  const code = await inspect(args, io, { clock });
  return { code, out: io.out(), err: io.err() };
}

describe('keybound inspect: reading a token', () => {
  for (const [form, arg] of [['hex', () => toHex(token)], ['base64url', () => toBase64Url(token)], ['@file (raw CBOR)', () => `@${join(dir, 'token.cbor')}`], ['@file (hex text)', () => `@${join(dir, 'token.hex')}`]] as const) {
    it(`reads ${form} and prints structure and named claims`, async () => {
      const r = await run([arg()]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain('Token: 201 bytes');
      expect(r.out).toContain("<<{1: -8, 4: h'61732d31'}>>");
      expect(r.out).toMatch(/iss\(1\)\s+"https:\/\/as.example"/);
      expect(r.out).toMatch(/exp\(4\)\s+1764003600 \(2025-11-24T17:00:00Z\)/);
      expect(r.out).toMatch(/cnf\(8\)\s+COSE_Key\(1\): OKP Ed25519/);
      expect(r.out).toContain('Verification: not checked');
    });
  }
  it('fails with one line on stderr for input that is not a token', async () => {
    for (const bad of ['zz!', 'a1', `@${join(dir, 'missing')}`, toHex(token) + '00']) {
      const r = await run([bad]);
      expect(r.code).toBe(1);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/^keybound inspect: /);
    }
  });
  it('refuses a wrong command line with exit 2', async () => {
    expect((await run([])).code).toBe(2);
    expect((await run(['--bogus', toHex(token)])).code).toBe(2);
    expect((await run([toHex(token), '--key'])).code).toBe(2);
    expect((await run([toHex(token), toHex(token)])).code).toBe(2);
  });
});

describe('keybound inspect --key: verification', () => {
  it('verifies with a COSE_Key file (private key given, never printed) and with a JWK file', async () => {
    for (const file of ['as.cosekey', 'as.jwk']) {
      const r = await run([toHex(token), '--key', join(dir, file)]);
      expect(r.code).toBe(0);
      expect(r.out).toContain("Verification: OK (COSE_Sign1, alg EdDSA, kid h'61732d31', audience not checked)");
      expect(r.out).not.toContain(toHex(pair.d));
      expect(r.out + r.err).not.toContain(toBase64Url(pair.d));
    }
  });
  it('checks the audience only when asked', async () => {
    const ok = await run([toHex(token), '--key', join(dir, 'as.jwk'), '--audience', 'tube-123']);
    expect(ok.code).toBe(0);
    const wrong = await run([toHex(token), '--key', join(dir, 'as.jwk'), '--audience', 'tube-999']);
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain('Verification: FAILED ERR_CWT_WRONG_AUDIENCE: aud(3) does not name this audience');
  });
  it('says why a stolen-key token or an expired one does not verify', async () => {
    const stolen = await run([toHex(token), '--key', join(dir, 'stolen.jwk')]);
    expect(stolen.code).toBe(1);
    expect(stolen.out).toContain('Verification: FAILED ERR_COSE_BAD_SIGNATURE');
    const io = collector();
    const late = await inspect([toHex(token), '--key', join(dir, 'as.jwk')], io, { clock: () => NOW + 7200 });
    expect(late).toBe(1);
    expect(io.out()).toContain('Verification: FAILED ERR_CWT_EXPIRED: exp(4) has passed');
  });
  it('fails in one line, without quoting the file, on an unreadable key', async () => {
    const r = await run([toHex(token), '--key', join(dir, 'broken.jwk')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('keybound inspect: --key: the file is not valid JSON\n');
    const cbor = await run([toHex(token), '--key', join(dir, 'token.cbor')]);
    expect(cbor.code).toBe(1);
    expect(cbor.err).toMatch(/^keybound inspect: --key: not a COSE_Key or JWK \(ERR_/);
  });
});

describe('keybound inspect --sample and main dispatch', () => {
  it('makes, prints and verifies a fresh sample PoP token', async () => {
    const r = await run(['--sample']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/hex:\nd83dd284/);
    expect(r.out).toContain('Verification: OK (COSE_Sign1, alg EdDSA');
  });
  it('prints help, and one clear line with exit 2 for an unknown command', async () => {
    const help = collector();
    expect(await main(['--help'], help)).toBe(0);
    expect(help.out()).toMatch(/inspect +decode and verify a token/);
    const bad = collector();
    expect(await main(['frobnicate'], bad)).toBe(2);
    expect(bad.err()).toBe('keybound: unknown command "frobnicate" (try keybound --help)\n');
  });
  it('runs as a process: node bin/keybound.js inspect --sample', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/keybound.js', 'inspect', '--sample'], { timeout: 20_000 });
    expect(stdout).toContain('Verification: OK');
  }, 30_000);
});
