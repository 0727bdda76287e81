/**
 * Adversarial review 36b, record retention (authz/sqlite-store.ts purgeExpired). Review 36 keeps a
 * used authorization code while its grant lives (a live refresh token or access token of its
 * family), so its replay still ends the grant. Those codes are no longer bounded by the retention
 * window: every live grant's code stays, however old. They were examined by one DELETE statement
 * per run (two correlated lookups per retained code), and better-sqlite3 runs on the event loop:
 * at 300,000 live grants one purge step blocked the service ~0.5 s every hourly run, growing with
 * the grants. A step now reads at most `limit` codes. The check compares the longest step at 2,000
 * live grants and at 200,000 (a ratio, on the same machine, not an absolute time), on a real
 * SQLite file on disk; the purge still deletes what it may and keeps what it must.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'review36b-codes-'));
const stores: SqliteStore[] = [];
const BEFORE = 1_800_000_000;

afterAll(() => {
  for (const s of stores) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A store on disk with `n` used, expired codes whose grants live (a live refresh token each), and `dead` whose grants ended. */
function storeWith(n: number, dead: number): SqliteStore {
  const store = new SqliteStore(join(dir, `authz-${n}.sqlite`));
  stores.push(store);
  const db = store.db;
  db.transaction(() => {
    const code = db.prepare(`INSERT INTO auth_codes (code_hash, client_id, username, audience, scope, redirect_uri, code_challenge, expires_at, used, family) VALUES (?, 'app', 'u', 'api', 'read', 'r', 'x', ?, 1, ?)`);
    const refresh = db.prepare(`INSERT INTO refresh_tokens (token_hash, family, client_id, audience, scope, subject, expires_at, used) VALUES (?, ?, 'app', 'api', 'read', 'u', ?, 0)`);
    for (let i = 0; i < n; i++) {
      code.run(`live-${i}`, 1_000_000 + i, `f-${i}`);
      refresh.run(`r-${i}`, `f-${i}`, BEFORE + 86_400);
    }
    for (let i = 0; i < dead; i++) code.run(`dead-${i}`, 1_000_000 + i, `gone-${i}`);
  })();
  return store;
}

/** One whole retention run in steps of 2000 rows; the longest step (ms). */
async function longestStep(store: SqliteStore): Promise<number> {
  let longest = 0;
  for (let more = true, steps = 0; more && steps < 10_000; steps++) {
    const t = performance.now();
    more = (await store.purgeExpired(BEFORE, 2000)).more;
    longest = Math.max(longest, performance.now() - t);
  }
  return longest;
}

describe('review 36b: the codes of live grants and the length of a purge step', () => {
  it('a purge step does not grow with the number of live grants', async () => {
    const small = storeWith(2_000, 10);
    const big = storeWith(200_000, 10);
    await longestStep(small); // warm up
    const a = await longestStep(small);
    const b = await longestStep(big);
    // Kept: every live grant's code; gone: the codes of ended grants.
    const count = (s: SqliteStore, like: string) => (s.db.prepare('SELECT COUNT(*) AS n FROM auth_codes WHERE code_hash LIKE ?').get(like) as { n: number }).n;
    expect([count(big, 'live-%'), count(big, 'dead-%')]).toEqual([200_000, 0]);
    expect(b, `longest step: ${a.toFixed(1)} ms at 2,000 live grants, ${b.toFixed(1)} ms at 200,000`).toBeLessThan(Math.max(40, 8 * a));
  }, 120_000);
});
