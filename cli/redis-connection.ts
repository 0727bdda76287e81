/**
 * The Redis a gateway (`--redis`) or the service (`--split-token-redis`) shares with its peers: one
 * server, or a Redis Cluster. A cluster is found by itself (the first node answers `INFO cluster`
 * with cluster_enabled:1), so an operator gives one node's URL, or several seed nodes separated by
 * commas, and the client follows the cluster's slots (ioredis Cluster: MOVED and ASK handled,
 * nodes discovered). What these components keep there is one key per command (a DPoP (jkt, jti)
 * SET NX, an introspection answer, a split token's signature), so any slot layout serves.
 *
 * Fail closed and fast, as before: a command while Redis is away fails rather than queues (the
 * request is refused, 503), and the start fails with one line naming host and port, never the
 * URL (it may carry a password).
 */
import { Cluster, Redis } from 'ioredis';
import { probeRedis, redisEndpoint } from '../broker/index.js';
import type { Logger } from '../device/index.js';
import { UsageError } from './usage-error.js';

/** More seed nodes than this is a typo, not a cluster's bootstrap list. */
const MAX_SEED_NODES = 16;

export type SharedRedis = Redis | Cluster;

/** The URLs of a `--redis` value: one, or a comma-separated list of a cluster's seed nodes. */
export function redisSeedUrls(spec: string, option: string): string[] {
  const urls = spec.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0 || urls.length > MAX_SEED_NODES) throw new UsageError(`${option} takes redis://HOST:PORT, or up to ${MAX_SEED_NODES} of them separated by commas (a Redis Cluster's seed nodes)`);
  for (const url of urls) {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      protocol = '';
    }
    if (protocol !== 'redis:' && protocol !== 'rediss:') throw new UsageError(`${option} takes redis://HOST:PORT URLs (${redisEndpoint(url)} is not one)`);
  }
  return urls;
}

/** Connects to the Redis of `spec`, a cluster when its first node says it is one. */
export async function connectSharedRedis(spec: string, option: string, logger: Logger, what: string): Promise<SharedRedis> {
  const urls = redisSeedUrls(spec, option);
  // Unreachable at start: a BrokerError redis_unavailable naming host and port (never the URL).
  const { cluster } = await probeRedis(urls[0]!, undefined, option);
  if (!cluster && urls.length > 1) throw new UsageError(`${option}: ${redisEndpoint(urls[0]!)} is not a Redis Cluster node; several URLs name a cluster's seed nodes, one URL a single server`);
  const onError = (e: Error) => logger.warn({ event: 'redis_error', error: String(e.message).slice(0, 120) }, `${what}: Redis error`);
  if (!cluster) {
    const redis = new Redis(urls[0]!, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on('error', onError);
    await redis.connect();
    return redis;
  }
  // Every node of a cluster shares one password and one TLS setting: the first URL's apply to all
  // the nodes the cluster announces (ioredis connects to those by the addresses CLUSTER SLOTS gives).
  const first = new URL(urls[0]!);
  const redisOptions = {
    maxRetriesPerRequest: 1,
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const nodes = urls.map((u) => {
    const { hostname, port } = new URL(u);
    return { host: hostname, port: Number(port || 6379) };
  });
  const redis = new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, redisOptions });
  redis.on('error', onError);
  redis.on('node error', onError);
  await redis.connect();
  logger.info({ event: 'redis_cluster', nodes: redis.nodes('master').length }, `${what}: Redis Cluster of ${redis.nodes('master').length} primaries`);
  return redis;
}
