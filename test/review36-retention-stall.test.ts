/**
 * Adversarial review 36, record retention: the cost of a purge step to the service. better-sqlite3
 * runs on the event loop, so while a step runs no request is served. A step ended with
 * `DELETE FROM auth_codes WHERE expires_at < ?` on an unindexed column: a scan of every code in
 * the retention window (30 days of them), on each hourly run, whatever it deleted (a million codes
 * stalled the service ~170 ms a run on this machine). The store on disk now finds them by an index;
 * what is checked here is SQLite's own plan for the purge's deletes, not a time (speed is measured
 * in bench/, not asserted), so the test cannot pass by luck on a fast machine.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'review36-stall-'));
const store = new SqliteStore(join(dir, 'authz.sqlite'));

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** SQLite's plan for `sql`: its detail lines ("SCAN t" reads every row, "SEARCH t USING INDEX i" does not). */
const plan = (sql: string): string[] => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1) as Array<{ detail: string }>).map((r) => r.detail);

describe('review 36: a purge run finds expired codes and revocations by index, not by a scan', () => {
  it.each([
    ['auth_codes', 'DELETE FROM auth_codes WHERE expires_at < ?'],
    ['revocations', 'DELETE FROM revocations WHERE exi_seq IS NULL AND expires_at < ?'],
  ])('%s: SEARCH by expires_at', (table, sql) => {
    const steps = plan(sql);
    expect(steps.some((d) => new RegExp(`^SEARCH ${table} USING INDEX \\w+ \\(expires_at<\\?\\)`).test(d)), steps.join('; ')).toBe(true);
    expect(steps.filter((d) => d.startsWith(`SCAN ${table}`))).toEqual([]);
  });

  it('the store purges with an empty window without error (the statements prepare on the migrated schema)', async () => {
    expect(await store.purgeExpired(1_800_000_000, 100)).toMatchObject({ deleted: 0 });
  });
});
