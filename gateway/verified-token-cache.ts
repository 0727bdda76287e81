/**
 * Tokens already verified, by their exact text, until their exp: a client presents the same token
 * for many requests, and its signature check is half the gateway's cost per request (the proof,
 * new each request, is the other half). Bounded: when full, the oldest entries go first (Map
 * insertion order); a token dropped is simply verified again. Only successes are kept, so a
 * forged token costs a signature check every time and never fills the cache.
 */
import type { BoundAccessToken } from './access-token.js';

export const DEFAULT_VERIFIED_TOKENS = 10_000;

export class VerifiedTokenCache {
  readonly #entries = new Map<string, { token: BoundAccessToken; exp: number }>();
  readonly #capacity: number;

  constructor(capacity = DEFAULT_VERIFIED_TOKENS) {
    this.#capacity = capacity;
  }

  get(text: string, now: number): BoundAccessToken | undefined {
    const hit = this.#entries.get(text);
    if (hit === undefined) return undefined;
    if (hit.exp <= now) {
      this.#entries.delete(text);
      return undefined;
    }
    return hit.token;
  }

  set(text: string, token: BoundAccessToken, exp: number): void {
    if (this.#entries.size >= this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(text, { token, exp });
  }
}
