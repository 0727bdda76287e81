/**
 * A server command connected to Redis, then refused its start (a port in use, a certificate file
 * that does not exist): it printed the error and then never exited, the Redis connection alone
 * keeping it alive. A supervisor saw a hung process, not a failed one. Real processes, a real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/processes.js';
import { startRedis } from './support/redis-server.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-redis-refused-'));
let redis: { process: ChildProcess; url: string };
let taken: Server;
let takenPort = 0;

beforeAll(async () => {
  redis = await startRedis();
  taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  takenPort = (taken.address() as { port: number }).port;
});
afterAll(() => {
  redis.process.kill();
  taken.close();
});

/** The command's exit, or 'hung' if it is still running after `ms`. */
async function run(args: string[], ms = 20_000): Promise<{ code: number | null | 'hung'; stderr: string }> {
  const r = await runCli(args, { ms });
  return { code: r.timedOut ? 'hung' : r.code, stderr: r.stderr };
}

describe('a start refused after connecting to Redis exits', () => {
  it('authz serve --split-token-redis on a port in use: exit 1, no hang', async () => {
    const r = await run(['authz', 'serve', '--data-dir', join(dir, 'as'), '--init', '--port', String(takenPort), '--split-token-redis', redis.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EADDRINUSE/);
  }, 60_000);

  it('gateway serve --redis with a missing --tls-cert: exit 2, no hang', async () => {
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, '{"keys":[]}');
    const missing = join(dir, 'missing.pem');
    const r = await run(['gateway', 'serve', '--redis', redis.url, '--upstream', 'http://127.0.0.1:1', '--audience', 'api', '--jwks', jwks, '--tls-cert', missing, '--tls-key', missing, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tls-cert .* does not exist/);
  }, 60_000);

  it('gateway serve --redis on a port in use: exit 1, no hang', async () => {
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, '{"keys":[]}');
    const r = await run(['gateway', 'serve', '--redis', redis.url, '--upstream', 'http://127.0.0.1:1', '--audience', 'api', '--jwks', jwks, '--port', String(takenPort)]);
    expect(r.code).toBe(1);
  }, 60_000);
});
