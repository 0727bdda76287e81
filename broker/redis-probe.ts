/**
 * Is Redis there at start? ioredis retries a refused connection forever, so a broker given a
 * mistyped `--redis` would hang, or die later with a stack trace. One connection, no retry, a
 * bounded wait and a PING: reachable, or a BrokerError `redis_unavailable` whose message names
 * host and port only (a redis:// URL may carry a password) and says what to do. It also tells
 * whether the server is a Redis Cluster node (`INFO cluster`), which a plain client cannot use:
 * its keys live on several nodes and it answers MOVED for the others' slots.
 */
import { BrokerError, BROKER_ERR } from './errors.js';

/** How long the first connection to Redis may take at start. */
export const REDIS_PROBE_TIMEOUT_MS = 5_000;

/** host:port of a redis:// URL, without its credentials. */
export function redisEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'an unparsable URL';
  }
}

export interface RedisProbe {
  /** The server runs with cluster-enabled yes (a Redis Cluster node). */
  cluster: boolean;
}

/** `option` names the flag the URL came from, for the message. */
export async function probeRedis(url: string, timeoutMs = REDIS_PROBE_TIMEOUT_MS, option = '--redis'): Promise<RedisProbe> {
  const where = redisEndpoint(url);
  if (where === 'an unparsable URL' || !/^rediss?:$/.test(new URL(url).protocol)) {
    throw new BrokerError(BROKER_ERR.REDIS_UNAVAILABLE, `${option} takes a redis://host:port URL`);
  }
  const { Redis } = await import('ioredis');
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, enableOfflineQueue: false });
  // The socket's error (ECONNREFUSED, ENOTFOUND...) comes as an event; connect() then rejects
  // with only "Connection is closed.": keep the first, it is the one that says what to fix.
  let first: { code?: string; message: string } | undefined;
  probe.on('error', (e: Error & { code?: string }) => void (first ??= e));
  try {
    await probe.connect();
    await probe.ping();
    // INFO cluster answers "cluster_enabled:0|1" (Redis 3.0 on); an older or odd server that does not is no cluster.
    const info = await probe.info('cluster').catch(() => '');
    return { cluster: /^cluster_enabled:1\s*$/m.test(info) };
  } catch (cause) {
    const seen = first ?? (cause as { code?: string; message: string });
    const why = seen.code ?? seen.message.slice(0, 60);
    throw new BrokerError(BROKER_ERR.REDIS_UNAVAILABLE, `Redis at ${where} is not reachable (${why}): start redis-server there or fix ${option}`, { cause });
  } finally {
    probe.disconnect();
  }
}
