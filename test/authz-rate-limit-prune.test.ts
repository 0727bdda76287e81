/**
 * The rate-limit table doubles as the client-assertion replay cache (a row per assertion cti), so
 * a fleet authenticating with assertions makes it large. hitRateLimit prunes windows older than an
 * hour every RATE_LIMIT_PRUNE_EVERY hits; without an index that prune read the whole table on the
 * event loop (~95 ms at a million rows, every 256 requests). It must find old windows by index,
 * and still remove them (and only them).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RATE_LIMIT_PRUNE_AFTER_S, SqliteStore } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-rl-prune-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rate-limit windows are pruned by index', () => {
  it('plans the prune on rate_limits_window, and it removes only windows past the hour', async () => {
    const store = new SqliteStore(join(dir, 'authz.sqlite'));
    try {
      const plan = (store.db.prepare('EXPLAIN QUERY PLAN DELETE FROM rate_limits WHERE window_start < ?').all(1) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
      expect(plan).toMatch(/USING (COVERING )?INDEX rate_limits_window \(window_start<\?\)/);
      const then = 1_800_000_000;
      for (let i = 0; i < 300; i++) await store.hitRateLimit(`assertion:d:${i}`, then, 600);
      const later = then + RATE_LIMIT_PRUNE_AFTER_S + 1;
      // 256 hits a prune: enough of them an hour later to run it at least once.
      for (let i = 0; i < 256; i++) await store.hitRateLimit(`assertion:d:late-${i}`, later, 600);
      const left = store.db.prepare('SELECT window_start AS w, count(*) AS n FROM rate_limits GROUP BY window_start ORDER BY w').all();
      expect(left).toEqual([{ w: later, n: 256 }]);
    } finally {
      store.close();
    }
  });
});
