/**
 * Failed client authentications are limited per address (RFC 6749 §10.10, credentials guessing).
 * Each client_secret check runs scrypt (secret-hash.ts), an unknown client id too, so that both cost
 * the same: without a limit one address sending wrong secrets keeps libuv's few threads busy, and
 * every real client's and user's check waits behind it. Past CLIENT_AUTH_FAILURES failures in a
 * window, an address's requests get 429 before any scrypt runs, until the window passes.
 *
 * Counted in this process's memory, on its own monotonic clock: what is protected is this
 * process's CPU, and a restart forgets nothing that matters. Every request takes a count before it
 * runs (so a parallel burst cannot all pass a count of zero) and gives it back unless the client
 * failed to authenticate; addresses are bounded in number.
 */
import { addressKey } from './client-address.js';

export const CLIENT_AUTH_FAILURES = 64;
export const CLIENT_AUTH_WINDOW_S = 60;
const MAX_ADDRESSES = 10_000;

export class ClientAuthLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly now: () => number = () => performance.now() / 1000) {}

  /** Takes one attempt for the address; false (nothing taken) when it is over the limit. */
  take(remoteAddress: string): boolean {
    const key = addressKey(remoteAddress);
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= CLIENT_AUTH_WINDOW_S) {
      this.windows.delete(key);
      if (this.windows.size >= MAX_ADDRESSES) this.windows.delete(this.windows.keys().next().value!);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= CLIENT_AUTH_FAILURES) return false;
    w.count++;
    return true;
  }

  /** The request did not fail client authentication: its attempt goes back. */
  giveBack(remoteAddress: string): void {
    const w = this.windows.get(addressKey(remoteAddress));
    if (w && w.count > 0) w.count--;
  }
}
