/**
 * Pulls the service's signed revocation lists (GET <authz>/trl/<aud>) for the broker's own
 * audience and for each device audience it relays to (`--device-audience`), at start and then every
 * interval, so that a broker run from the CLI (no in-process onRevocationList hook) still learns
 * of revocations, relays them retained on ace/trl/<aud> to devices that wake later, and catches up
 * after being down. Each list verifies with the broker's trust anchors and must name the audience
 * it was fetched for, like any list published on ace/trl/<aud>; an answer that is not newer
 * changes nothing (the retained list is never replaced by an older one).
 */
import { authzRequest, checkAuthzUrl, type AuthzConnection } from './authz-http.js';
import { readBoundedBody } from '../device/adapters/index.js';
import type { BrokerLog } from './broker-logger.js';
import { timerDelayMs } from './timer-delay.js';

/** draft-ietf-ace-revoked-token-notification lists stay small: MAX_TRL_HASHES (1024) hashes is ~40 KB. */
export const MAX_TRL_FETCH_BYTES = 64 * 1024;
/** One fetch may take this long before it is abandoned (the next interval tries again). */
export const TRL_FETCH_TIMEOUT_MS = 5000;
/** Default seconds between two fetches: revocation reaches the broker within a minute. */
export const DEFAULT_TRL_POLL_S = 60;
/** The CLI's bounds on --trl-poll: a second at the shortest (a service is not a spin loop), a day at the longest (a revoked token is refused within a day). */
export const MIN_TRL_POLL_S = 1;
export const MAX_TRL_POLL_S = 86_400;
/** Audiences one broker polls lists for: a round of fetches must fit well inside an interval. */
export const MAX_POLLED_AUDIENCES = 1000;

export interface TrlPollerOptions extends AuthzConnection {
  /** The broker's own audience first, then the device audiences it relays to. */
  audiences: readonly string[];
  intervalS: number;
  /** Applies a signed list for `audience`; throws when it is refused or not newer. */
  apply(audience: string, signedList: Uint8Array): Promise<unknown>;
  /**
   * Device audiences whose trust-anchor update (GET <authz>/trust/<aud>) is fetched in the same
   * round and handed to applyTrustUpdate (which throws when it is refused or not newer).
   */
  trustAudiences?: readonly string[];
  applyTrustUpdate?(audience: string, update: Uint8Array): Promise<unknown>;
  log: BrokerLog;
}

/** Fetches one list; resolves with its bytes, or undefined after logging why not. */
export function fetchRevocationList(opts: Pick<TrlPollerOptions, 'authzUrl' | 'ca' | 'log'> & { audience: string }): Promise<Uint8Array | undefined> {
  return fetchSigned(opts, `trl/${encodeURIComponent(opts.audience)}`, 'revocation list');
}

/** Fetches a device's trust-anchor update; its bytes, or undefined after logging why not. */
export function fetchTrustUpdate(opts: Pick<TrlPollerOptions, 'authzUrl' | 'ca' | 'log'> & { audience: string }): Promise<Uint8Array | undefined> {
  return fetchSigned(opts, `trust/${encodeURIComponent(opts.audience)}`, 'trust update');
}

/** One signed object from the service (bounded, timed out); the caller verifies it. */
async function fetchSigned(opts: Pick<TrlPollerOptions, 'authzUrl' | 'ca' | 'log'>, path: string, what: string): Promise<Uint8Array | undefined> {
  try {
    const res = await authzRequest(opts, path, { method: 'GET', timeoutMs: TRL_FETCH_TIMEOUT_MS });
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_TRL_FETCH_BYTES) throw new Error('answer too large');
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    return await readBoundedBody(res, MAX_TRL_FETCH_BYTES);
  } catch (e) {
    const name = (e as Error).name;
    opts.log(`broker: ${what} fetch failed: ${name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : (e as Error).message.slice(0, 80)}`);
    return undefined;
  }
}

/**
 * Starts polling; the first fetch is awaited (so a started broker knows the current list). Returns stop().
 * Throws BrokerError insecure_authz_url, before any request, for a URL in clear off loopback.
 */
export async function startTrlPoller(opts: TrlPollerOptions): Promise<() => void> {
  checkAuthzUrl(opts.authzUrl);
  if (opts.audiences.length === 0 || opts.audiences.length > MAX_POLLED_AUDIENCES) throw new RangeError(`1 to ${MAX_POLLED_AUDIENCES} audiences to poll revocation lists for`);
  const audiences = [...new Set(opts.audiences)];
  const trustAudiences = new Set(opts.trustAudiences ?? []);
  let stopped = false;
  // One audience after another: a fleet's worth of lists never opens a burst of connections.
  const once = async () => {
    for (const audience of audiences) {
      if (stopped) return;
      const list = await fetchRevocationList({ ...opts, audience });
      if (list && !stopped) await opts.apply(audience, list).catch(() => undefined); // refused or not newer: logged by the broker, or nothing new
      if (!trustAudiences.has(audience) || !opts.applyTrustUpdate || stopped) continue;
      const update = await fetchTrustUpdate({ ...opts, audience });
      if (update && !stopped) await opts.applyTrustUpdate(audience, update).catch(() => undefined);
    }
  };
  await once();
  let running = false;
  const timer = setInterval(() => {
    if (running) return; // a slow service never stacks fetches
    running = true;
    void once().finally(() => (running = false));
  }, timerDelayMs(opts.intervalS));
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
