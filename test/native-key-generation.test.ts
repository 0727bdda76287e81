/**
 * nativeProvider.generateKeyPair under garbage-collector pressure, in its own process. Node 20's
 * KeyObject.export({ format: 'jwk' }) holds the key's mutex while it allocates; a collection there
 * may destroy the spent key-generation job, whose destructor takes the same mutex, and the thread
 * waits on itself for good. The broker bench hung so (gdb: ~KeyGenJob under ExportJWKEdKey), and
 * the service makes PoP keys the same way under load. With a 1 MiB young generation the old code
 * hung within 10,000 keys every time; the provider now takes the JWK from the generation itself.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const KEYS = 20_000;

function generateUnderPressure(curve: string): Promise<{ code: number | null; out: string }> {
  const script = `
    const { nativeProvider } = await import(${JSON.stringify(new URL('../cose/adapters/index.ts', import.meta.url).href)});
    let junk = [];
    for (let i = 0; i < ${KEYS}; i++) {
      const pair = nativeProvider.generateKeyPair(${JSON.stringify(curve)});
      if (pair.d.length < 32 || pair.x.length < 32 || (${JSON.stringify(curve)} !== 'Ed25519' && pair.y?.length !== 32)) throw new Error('short key');
      junk.push(new Array(50).fill(i));
      if (junk.length > 1000) junk = [];
    }
    process.stdout.write('generated');
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-semi-space-size=1', '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    // A deadlocked thread never exits by itself.
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('native key generation does not deadlock under GC pressure', () => {
  it(`generates ${KEYS} Ed25519 key pairs in a process with a tiny young generation`, async () => {
    const { code, out } = await generateUnderPressure('Ed25519');
    expect(out).toBe('generated');
    expect(code).toBe(0);
  }, 60_000);

  it('generates P-256 key pairs the same way, with y', async () => {
    const script = await generateUnderPressure('P-256');
    expect(script).toEqual({ code: 0, out: 'generated' });
  }, 60_000);
});
