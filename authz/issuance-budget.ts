/**
 * Issuance is rate-limited per client (issue 9, "budgets per key, not per token"): a client id
 * obtains at most `tokens` access tokens per `windowSeconds` at /token, so one client cannot mint
 * tokens fast enough to fill what others share (the service's records and revocation lists, a
 * broker's replay store). Past the limit the answer is HTTP 429 with the OAuth error
 * `temporarily_unavailable` (RFC 6749 §4.1.2.1's name for "try again later"; §5.2 has none for
 * the token endpoint), until the window passes.
 *
 * Counted in the store (AuthzStore.hitRateLimit, one transaction), before anything is consumed,
 * so parallel requests cannot all pass a count below the limit, on one instance or several. A
 * request that then fails (a wrong code, a scope refused, the limit itself) gives its count back:
 * only tokens actually issued, and requests in flight, use the budget, so nobody can spend
 * another client's budget with requests that fail.
 *
 * A public client (no credentials, method none) is counted per client and user: its id names every
 * installation of the app, and one user refreshing in a loop would otherwise lock all the others
 * out. Its authorization code names the user only once consumed, so there the count comes after
 * the code is spent (an over-budget sign-in starts again after the window).
 */
import { AuthzError } from './errors.js';
import { RATE_LIMIT_PRUNE_AFTER_S } from './sqlite-store.js';
import { lookupHash } from './secret-hash.js';
import type { AuthzStore } from './store.js';

export interface IssuanceLimit {
  /** Tokens a client id may obtain per window. */
  tokens: number;
  /** Window length in seconds (1 to RATE_LIMIT_PRUNE_AFTER_S). */
  windowSeconds: number;
}

/**
 * 300 tokens a minute per client id: a device asks for a token per lifetime (an hour by default),
 * an app per user sign-in or refresh; 5 a second sustained is far above either, and bounds a
 * flood. Deployments with one public client id for very many users raise it (AuthzServerOptions).
 */
export const DEFAULT_ISSUANCE_LIMIT: Readonly<IssuanceLimit> = Object.freeze({ tokens: 300, windowSeconds: 60 });

const KEY_PREFIX = 'issue:';
/** Per client and user (public clients): hashed, so a long user name makes a fixed-size key. */
const USER_KEY_PREFIX = 'issue-user:';

export function checkIssuanceLimit(limit: IssuanceLimit): IssuanceLimit {
  const ok =
    Number.isSafeInteger(limit.tokens) && limit.tokens >= 1 &&
    Number.isSafeInteger(limit.windowSeconds) && limit.windowSeconds >= 1 && limit.windowSeconds <= RATE_LIMIT_PRUNE_AFTER_S;
  if (!ok) throw new RangeError(`issuance limit: tokens must be a positive integer and windowSeconds 1 to ${RATE_LIMIT_PRUNE_AFTER_S}`);
  return limit;
}

/** One /token request's claim on its client's budget: take it once the client is known, give it back if the request fails. */
export class IssuanceBudget {
  private taken: { key: string; at: number } | undefined;

  constructor(
    private readonly store: AuthzStore,
    private readonly clock: () => number,
    private readonly limit: IssuanceLimit = DEFAULT_ISSUANCE_LIMIT,
  ) {}

  /**
   * Counts one token for `clientId`, or for one `user` of it; throws 429 temporarily_unavailable
   * past the limit. A public client's id is shared by every user of the app (RFC 6749 §2.1), so
   * counted per client id one user could spend everybody's budget: public clients pass the user.
   */
  async take(clientId: string, user?: string): Promise<void> {
    if (this.taken) return;
    const key = user === undefined ? KEY_PREFIX + clientId : USER_KEY_PREFIX + lookupHash(JSON.stringify([clientId, user]));
    const at = Math.floor(this.clock());
    const count = await this.store.hitRateLimit(key, at, this.limit.windowSeconds);
    this.taken = { key, at };
    if (count > this.limit.tokens) {
      // RFC 6585 §4: 429 names a rate limit (the registry's 503 would say the service is down).
      throw new AuthzError('temporarily_unavailable', 'this client has obtained too many tokens; retry after the window', { status: 429 });
    }
  }

  /** The request failed: its count goes back (into the window it was taken in, never a later one). */
  async giveBack(): Promise<void> {
    if (!this.taken) return;
    const { key, at } = this.taken;
    this.taken = undefined;
    await this.store.releaseRateLimit(key, at, this.limit.windowSeconds);
  }
}
