/**
 * Pulls the service's signed revocation list for the broker's audience (GET <authz>/trl/<aud>)
 * at start and then every interval, so that a broker run from the CLI (no in-process
 * onRevocationList hook) still learns of revocations, and a broker that was down when a list
 * was published catches up. The list verifies with the broker's trust anchors like any list
 * published on ace/trl/<aud>; an answer that is not newer changes nothing.
 */
import { authzRequest, checkAuthzUrl, type AuthzConnection } from './authz-http.js';
import { readBoundedBody } from '../device/adapters/index.js';
import type { BrokerLog } from './broker-logger.js';

/** draft-ietf-ace-revoked-token-notification lists stay small: MAX_TRL_HASHES (1024) hashes is ~40 KB. */
export const MAX_TRL_FETCH_BYTES = 64 * 1024;
/** One fetch may take this long before it is abandoned (the next interval tries again). */
export const TRL_FETCH_TIMEOUT_MS = 5000;
/** Default seconds between two fetches: revocation reaches the broker within a minute. */
export const DEFAULT_TRL_POLL_S = 60;

export interface TrlPollerOptions extends AuthzConnection {
  audience: string;
  intervalS: number;
  /** Applies a signed list; throws when it is refused or not newer. */
  apply(signedList: Uint8Array): Promise<unknown>;
  log: BrokerLog;
}

/** Fetches one list; resolves with its bytes, or undefined after logging why not. */
export async function fetchRevocationList(opts: Pick<TrlPollerOptions, 'authzUrl' | 'ca' | 'audience' | 'log'>): Promise<Uint8Array | undefined> {
  try {
    const res = await authzRequest(opts, `trl/${encodeURIComponent(opts.audience)}`, { method: 'GET', timeoutMs: TRL_FETCH_TIMEOUT_MS });
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_TRL_FETCH_BYTES) throw new Error('answer too large');
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    return await readBoundedBody(res, MAX_TRL_FETCH_BYTES);
  } catch (e) {
    const name = (e as Error).name;
    opts.log(`broker: revocation list fetch failed: ${name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : (e as Error).message.slice(0, 80)}`);
    return undefined;
  }
}

/**
 * Starts polling; the first fetch is awaited (so a started broker knows the current list). Returns stop().
 * Throws BrokerError insecure_authz_url, before any request, for a URL in clear off loopback.
 */
export async function startTrlPoller(opts: TrlPollerOptions): Promise<() => void> {
  checkAuthzUrl(opts.authzUrl);
  let stopped = false;
  const once = async () => {
    const list = await fetchRevocationList(opts);
    if (!list || stopped) return;
    await opts.apply(list).catch(() => undefined); // refused or not newer: logged by the broker, or nothing new
  };
  await once();
  let running = false;
  const timer = setInterval(() => {
    if (running) return; // a slow service never stacks fetches
    running = true;
    void once().finally(() => (running = false));
  }, opts.intervalS * 1000);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
