/**
 * Adversarial review 36b, record retention (authz/sqlite-store.ts purgeExpired). Review 36 keeps a
 * used authorization code while its grant lives (a live refresh token or access token of its
 * family), so its replay still ends the grant. Those codes are no longer bounded by the retention
 * window: every live grant's code stays, however old. They were examined by one DELETE statement
 * per run (two correlated lookups per retained code), and better-sqlite3 runs on the event loop:
 * at 300,000 live grants one purge step blocked the service ~0.5 s every hourly run, growing with
 * the grants. A step now reads at most `limit` codes. Checked without a clock (a timed assertion
 * fails on a busy machine): no step deletes more than `limit` codes, the codes go over several
 * steps, and the purge still deletes what it may and keeps what it must, on a real SQLite file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../authz/index.js';

const dir = mkdtempSync(join(tmpdir(), 'review36b-codes-'));
const stores: SqliteStore[] = [];
const BEFORE = 1_800_000_000;
const LIMIT = 100;

afterAll(() => {
  for (const s of stores) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A store on disk with `live` used, expired codes whose grants live (a live refresh token each), and `dead` whose grants ended, interleaved. */
function storeWith(live: number, dead: number): SqliteStore {
  const store = new SqliteStore(join(dir, `authz-${live}-${dead}.sqlite`));
  stores.push(store);
  const db = store.db;
  db.transaction(() => {
    const code = db.prepare(`INSERT INTO auth_codes (code_hash, client_id, username, audience, scope, redirect_uri, code_challenge, expires_at, used, family) VALUES (?, 'app', 'u', 'api', 'read', 'r', 'x', ?, 1, ?)`);
    const refresh = db.prepare(`INSERT INTO refresh_tokens (token_hash, family, client_id, audience, scope, subject, expires_at, used) VALUES (?, ?, 'app', 'api', 'read', 'u', ?, 0)`);
    for (let i = 0; i < Math.max(live, dead); i++) {
      if (i < live) {
        code.run(`live-${i}`, 1_000_000 + i, `f-${i}`);
        refresh.run(`r-${i}`, `f-${i}`, BEFORE + 86_400);
      }
      if (i < dead) code.run(`dead-${i}`, 1_000_000 + i, `gone-${i}`);
    }
  })();
  return store;
}

const codesLeft = (s: SqliteStore, like: string) => (s.db.prepare('SELECT COUNT(*) AS n FROM auth_codes WHERE code_hash LIKE ?').get(like) as { n: number }).n;

describe('review 36b: the codes of live grants and the length of a purge step', () => {
  it('a purge step deletes at most `limit` codes, and a whole run keeps live grants\' codes only', async () => {
    const store = storeWith(700, 500);
    const perStep: number[] = [];
    for (let more = true, steps = 0; more && steps < 1_000; steps++) {
      const before = codesLeft(store, '%');
      more = (await store.purgeExpired(BEFORE, LIMIT)).more;
      perStep.push(before - codesLeft(store, '%'));
      if (codesLeft(store, 'dead-%') === 0) break;
    }
    // One statement over every code deleted all 500 in one step.
    expect(Math.max(...perStep)).toBeLessThanOrEqual(LIMIT);
    expect(perStep.filter((n) => n > 0).length).toBeGreaterThanOrEqual(Math.ceil(500 / LIMIT));
    expect([codesLeft(store, 'live-%'), codesLeft(store, 'dead-%')]).toEqual([700, 0]);
  });
});
