/**
 * Remembers, for a short time, that a client presented its exact secret successfully, so that a
 * busy client does not pay scrypt (about 30 ms of CPU and 16 MiB, secret-hash.ts) on every request.
 * scrypt stays the only way a secret is first accepted, and stays what is stored on disk.
 *
 * Why this is safe:
 * - Only successes are remembered; a wrong secret always runs scrypt, so guessing is as slow as before.
 * - What is kept is SHA-256 of (key, client id, stored hash, secret), the key drawn at random when
 *   the process starts and never written anywhere; held in memory only. Whoever can read this
 *   process's memory can also read the secrets arriving in requests, so it gives nothing new away.
 *   A keyed hash, not HMAC: the digests never leave the process, so length extension gives nobody
 *   anything, and one one-shot hash of a string costs half of createHmac with its updates (issue
 *   13's profile).
 * - The stored hash is part of the MAC input, so re-registering the client with a new secret makes
 *   every cached entry for it miss at once; entries also expire after SECRET_CACHE_SECONDS.
 * - The comparison is constant time; a hit is faster than a miss, but a hit only ever happens for
 *   the correct secret, which the response reveals anyway.
 * - Bounded: at most SECRET_CACHE_ENTRIES clients, oldest dropped first.
 */
import { hash, timingSafeEqual } from 'node:crypto';

/** Five minutes: long enough to carry a burst of requests, short enough that a revoked client is out soon. */
export const SECRET_CACHE_SECONDS = 300;
/** One entry per client; beyond this the oldest go (memory stays bounded under a flood of clients). */
export const SECRET_CACHE_ENTRIES = 10_000;

interface Entry {
  mac: Buffer;
  expiresAt: number;
}

export class SecretVerificationCache {
  private readonly entries = new Map<string, Entry>();

  /** The random key, in hex: the first field of every hashed input. */
  private readonly key: string;

  /** `key`: 32 random bytes, from the injected provider; `clock`: seconds. */
  constructor(
    key: Uint8Array,
    private readonly clock: () => number,
  ) {
    if (key.length < 32) throw new Error('secret cache key must be at least 32 bytes');
    this.key = Buffer.from(key).toString('hex');
  }

  private mac(clientId: string, storedHash: string, secret: string): Buffer {
    // Fixed-length key first, then length-prefixed fields: no two different triples share an input.
    return hash('sha256', `${this.key}|${clientId.length}:${clientId}|${storedHash.length}:${storedHash}|${secret.length}:${secret}`, 'buffer') as unknown as Buffer;
  }

  /** True only if this exact secret was verified for this client and this stored hash recently. */
  has(clientId: string, storedHash: string, secret: string): boolean {
    const e = this.entries.get(clientId);
    if (!e) return false;
    if (e.expiresAt <= this.clock()) {
      this.entries.delete(clientId);
      return false;
    }
    return timingSafeEqual(e.mac, this.mac(clientId, storedHash, secret));
  }

  /** Call only after scrypt accepted the secret. */
  remember(clientId: string, storedHash: string, secret: string): void {
    this.entries.delete(clientId);
    if (this.entries.size >= SECRET_CACHE_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(clientId, { mac: this.mac(clientId, storedHash, secret), expiresAt: this.clock() + SECRET_CACHE_SECONDS });
  }
}
