/**
 * Retention of the service's records. Every issued token, revocation, refresh token and code was
 * kept for ever: at 100 tokens a second the store grew by ~3.3 GB a day (381 bytes a token record
 * with its indexes, measured on SQLite). Records that expired more than `retentionDays` ago are
 * deleted (store.ts purgeExpired says which, and why nothing a live token, a revocation list or
 * a replay check reads goes), in bounded steps with the event loop free between them, a minute
 * after start and then every `intervalMs`. The window keeps expired records for audits and late
 * introspections ("inactive" either way); it is the operator's choice (`keybound authz serve
 * --retention-days`), and Infinity keeps everything.
 */
import type { AuthzStore } from './store.js';
import type { Logger } from '../device/index.js';

/** An expired record is kept this long by default: a month of audit trail. */
export const DEFAULT_RETENTION_DAYS = 30;
/** Rows one step reads: a few milliseconds of SQLite work, so requests never wait long behind it. */
export const RETENTION_STEP_ROWS = 2000;
/** How often a run starts. */
const RETENTION_INTERVAL_MS = 3600_000;
/** The first run waits until the service is up and serving. */
const FIRST_RUN_MS = 60_000;

export interface RecordRetention {
  /** One whole run now (what the timer does); resolves with the records deleted. */
  run(): Promise<number>;
  stop(): void;
}

export function startRecordRetention(opts: { store: AuthzStore; clock: () => number; retentionDays: number; log: Logger; intervalMs?: number }): RecordRetention {
  const { store, clock, log } = opts;
  if (!(opts.retentionDays >= 0)) throw new RangeError('retentionDays must be a number of days, 0 or more (Infinity keeps every record)');
  let running: Promise<number> | undefined;
  let stopped = false;

  async function once(): Promise<number> {
    const before = Math.floor(clock()) - Math.floor(opts.retentionDays * 86_400);
    let deleted = 0;
    for (;;) {
      const step = await store.purgeExpired(before, RETENTION_STEP_ROWS);
      deleted += step.deleted;
      if (!step.more || stopped) break;
      // Requests queued behind this step run before the next one.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (deleted > 0) log.info({ event: 'records_purged', deleted, expiredBefore: before }, `authz: ${deleted} records expired more than ${opts.retentionDays} days ago deleted`);
    return deleted;
  }

  const run = (): Promise<number> => {
    if (!Number.isFinite(opts.retentionDays)) return Promise.resolve(0);
    // One run at a time: a slow store never stacks them up.
    running ??= once().finally(() => (running = undefined));
    return running;
  };
  const tick = () => {
    run().catch((e: unknown) => log.warn({ event: 'records_purge_failed', error: String((e as Error)?.message ?? e).slice(0, 200) }, 'authz: deleting expired records failed; next try at the next run'));
  };
  const first = setTimeout(tick, FIRST_RUN_MS);
  const every = setInterval(tick, opts.intervalMs ?? RETENTION_INTERVAL_MS);
  first.unref();
  every.unref();
  return {
    run,
    stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(every);
    },
  };
}
