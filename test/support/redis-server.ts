/**
 * A throwaway redis-server (Debian package, installed by .ci/run) on a free loopback port, for
 * the tests that run brokers as a cluster: no persistence to disk, killed by the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts redis-server on `port` with more options; resolves once it accepts connections. */
export async function startRedisServer(port: number, extra: string[] = []): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    proc.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('Ready to accept connections')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${seen.slice(-300)}`)));
  });
  return proc;
}

/** Starts redis-server; resolves once it accepts connections. Stop it with `process.kill()`. */
export async function startRedis(): Promise<{ process: ChildProcess; url: string }> {
  const port = await freePort();
  return { process: await startRedisServer(port), url: `redis://127.0.0.1:${port}` };
}
