/**
 * A throwaway Redis Cluster of three primaries (Debian's redis-server and redis-cli, installed by
 * .ci/run) on free loopback ports, each in a temporary directory for its nodes.conf; resolves once
 * every slot is served (cluster_state:ok on each node). Stop it with `stopCluster`.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startRedisServer } from './redis-server.js';
import { stop } from './processes.js';

const run = promisify(execFile);

export interface RedisCluster {
  ports: number[];
  urls: string[];
  processes: ChildProcess[];
  dir: string;
}

const startNode = (dir: string, port: number): Promise<ChildProcess> =>
  startRedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir]);

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const processes = await Promise.all(ports.map((p) => startNode(dir, p)));
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { timeout: 30_000 });
  for (let i = 0; i < 100; i++) {
    const states = await Promise.all(ports.map(async (p) => (await run('redis-cli', ['-p', String(p), 'cluster', 'info'])).stdout));
    if (states.every((s) => s.includes('cluster_state:ok'))) return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), processes, dir };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the Redis Cluster did not reach cluster_state:ok');
}

export async function stopCluster(cluster: RedisCluster | undefined): Promise<void> {
  if (!cluster) return;
  for (const p of cluster.processes) await stop(p);
  rmSync(cluster.dir, { recursive: true, force: true });
}

/** How many keys each primary holds (DBSIZE), to show that the keys spread over the nodes. */
export async function keysPerNode(cluster: RedisCluster): Promise<number[]> {
  return Promise.all(cluster.ports.map(async (p) => Number((await run('redis-cli', ['-p', String(p), 'dbsize'])).stdout.trim())));
}
