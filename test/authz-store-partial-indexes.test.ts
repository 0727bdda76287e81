/**
 * The tokens table's family and parent indexes are partial (issue 13): most issued tokens have
 * neither (client credentials, no exchange), and a full index took a NULL entry for each, two
 * b-tree inserts per token in every group commit for nothing. What must still hold: the lookups
 * that revoke a grant family or an exchange chain use those indexes (a full scan of every issued
 * token would be the cost instead), find every member and nothing else, and a database of the
 * previous release is migrated with its tokens kept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, SqliteStore, type IssuedTokenRecord } from '../authz/index.js';

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) if (s.db.open) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openStore(path?: string): { store: SqliteStore; path: string } {
  if (!path) {
    const dir = mkdtempSync(join(tmpdir(), 'kb-partial-'));
    dirs.push(dir);
    path = join(dir, 'authz.sqlite');
  }
  const store = new SqliteStore(path);
  stores.push(store);
  return { store, path };
}

const now = Math.floor(Date.now() / 1000);
function token(n: number, extra: Partial<IssuedTokenRecord> = {}): IssuedTokenRecord {
  const hex = n.toString(16).padStart(2, '0');
  return { cti: `c${hex}`, tokenHash: hex.repeat(32), audience: 'dev', clientId: 'app', subject: 'app', scope: 'read', issuedAt: now, expiresAt: now + 600, reference: false, revoked: false, ...extra };
}

function indexSql(store: SqliteStore, name: string): string {
  return (store.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").get(name) as { sql: string }).sql;
}

function plan(store: SqliteStore, sql: string, ...args: unknown[]): string {
  return (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail).join('\n');
}

describe('SqliteStore: partial family and parent indexes', () => {
  it('leaves tokens without a family or a parent out of those indexes', () => {
    const { store } = openStore();
    expect(indexSql(store, 'tokens_family')).toMatch(/WHERE family IS NOT NULL$/);
    expect(indexSql(store, 'tokens_parent')).toMatch(/WHERE parent_hash IS NOT NULL$/);
  });

  it("every statement the store runs on tokens finds its rows through an index: the family and exchange-chain lookups through the partial ones", async () => {
    // Every SQL text the store prepares, cached or not, from its constructor on.
    const prepared = new Set<string>();
    const prepare = Database.prototype.prepare;
    Database.prototype.prepare = function (this: Database.Database, sql: string) {
      prepared.add(sql);
      return prepare.call(this, sql);
    } as typeof prepare;
    let store: SqliteStore;
    try {
      store = openStore().store;
      await registerAudience(store, nativeProvider, { id: 'dev', scopes: ['read'], clockless: true });
      await store.putClient({ id: 'app', name: 'app', audiences: ['dev'], scopes: ['read'], grantTypes: ['client_credentials'], redirectUris: [], resourceServer: false });
      // Every operation on issued tokens, so that the store prepares each statement it runs on them.
      for (const t of [token(1), token(2, { family: 'f1' }), token(3), token(4)]) await store.recordToken(t);
      await store.recordExiToken('dev', (seq) => token(5, { exiSequence: Number(seq) }));
      await store.getTokenByHash(token(1).tokenHash);
      await store.tokenHashByCti(token(1).cti);
      await store.liveTokens('app', now);
      await store.linkExchangedToken({ tokenHash: token(4).tokenHash }, { tokenHash: token(3).tokenHash });
      await store.revokeFamily('f1', now);
      await store.revokeToken(token(3).tokenHash);
      await store.revocationList('dev', now);
      await store.deleteClient('app');
    } finally {
      Database.prototype.prepare = prepare;
    }

    const statements = [...prepared].filter((sql) => /\btokens\b/.test(sql) && !/^\s*INSERT\b/i.test(sql));
    // The statements this test is about are among them (were the operations above to stop
    // preparing them, the test would pass on nothing).
    expect(statements.some((sql) => /WHERE family\b/.test(sql))).toBe(true);
    expect(statements.some((sql) => /parent_hash = tree\.h/.test(sql))).toBe(true);
    const keywords = new Set(['WHERE', 'SET', 'JOIN', 'LEFT', 'INNER', 'ON', 'ORDER', 'GROUP', 'LIMIT', 'UNION', 'AND', 'OR']);
    for (const sql of statements) {
      // tokens by its name or an alias (`tokens t`, `tokens AS x`).
      const names = new Set(['tokens']);
      for (const m of sql.matchAll(/\btokens(?:\s+AS)?\s+(?:"(\w+)"|([A-Za-z_]\w*))/gi)) {
        const alias = m[1] ?? m[2]!;
        if (m[1] !== undefined || !keywords.has(alias.toUpperCase())) names.add(alias);
      }
      const detail = plan(store!, sql, ...Array.from(sql.match(/\?/g) ?? [], () => 'x'));
      for (const line of detail.split('\n')) {
        const subject = /^(?:SCAN|SEARCH) (\w+)/.exec(line)?.[1];
        if (!subject || !names.has(subject)) continue;
        // A SEARCH through an index on a constraint; not a SCAN (every row or every index entry),
        // not a SEARCH with no index, not a skip-scan (ANY(...)), which walks the index too.
        expect(`${sql}\n${line}`).toMatch(/\nSEARCH \w+ USING (?:(?:COVERING )?INDEX \w+|INTEGER PRIMARY KEY) \((?!ANY\()/);
      }
      if (/WHERE family\b/.test(sql)) expect(detail).toMatch(/^SEARCH \w+ USING INDEX tokens_family \(family=\?\)$/m);
      if (/parent_hash = tree\.h/.test(sql)) expect(detail).toMatch(/^SEARCH \w+ USING INDEX tokens_parent \(parent_hash=\?\)$/m);
    }
  });

  it('revoking a family or a chain reaches every member and no token outside it', async () => {
    const { store } = openStore();
    await registerAudience(store, nativeProvider, { id: 'dev', scopes: ['read'] });
    const plain = [token(1), token(2), token(3)];
    const family = [token(4, { family: 'f1' }), token(5, { family: 'f1' })];
    const other = token(6, { family: 'f2' });
    for (const t of [...plain, ...family, other]) await store.recordToken(t);
    expect(await store.revokeFamily('f1', now)).toEqual(['dev']);
    for (const t of family) expect((await store.getTokenByHash(t.tokenHash))!.revoked).toBe(true);
    for (const t of [...plain, other]) expect((await store.getTokenByHash(t.tokenHash))!.revoked).toBe(false);

    // An exchange chain: 7 -> 8 -> 9; revoking its root takes the two below it, not token 3.
    for (const t of [token(7), token(8), token(9)]) await store.recordToken(t);
    expect(await store.linkExchangedToken({ tokenHash: token(8).tokenHash }, { tokenHash: token(7).tokenHash })).toBe(true);
    expect(await store.linkExchangedToken({ tokenHash: token(9).tokenHash }, { tokenHash: token(8).tokenHash })).toBe(true);
    await store.revokeToken(token(7).tokenHash);
    for (const n of [7, 8, 9]) expect((await store.getTokenByHash(token(n).tokenHash))!.revoked).toBe(true);
    expect((await store.getTokenByHash(token(3).tokenHash))!.revoked).toBe(false);
  });

  it("migrates a database of the previous release: full indexes become partial, its tokens kept and revocable", async () => {
    const { store: old, path } = openStore();
    await registerAudience(old, nativeProvider, { id: 'dev', scopes: ['read'] });
    await old.recordToken(token(1));
    await old.recordToken(token(2, { family: 'f1' }));
    const version = (old.db.prepare('SELECT version FROM schema_version').get() as { version: number }).version;
    // Back to the schema of the release before the partial indexes (version 10), as a database
    // of it is. (A migration appended later must be undone here too, as in authz-exchange.test.ts.)
    old.db.exec(`DROP INDEX tokens_by_hash; ALTER TABLE tokens DROP COLUMN cti_in_token; ALTER TABLE revocations DROP COLUMN issued_at;
      DROP INDEX tokens_family; CREATE INDEX tokens_family ON tokens (family);
      DROP INDEX tokens_parent; CREATE INDEX tokens_parent ON tokens (parent_hash);
      UPDATE schema_version SET version = 10`);
    expect(indexSql(old, 'tokens_family')).not.toContain('WHERE');
    old.close();

    const { store } = openStore(path);
    expect((store.db.prepare('SELECT version FROM schema_version').get() as { version: number }).version).toBe(version);
    expect(indexSql(store, 'tokens_family')).toMatch(/WHERE family IS NOT NULL$/);
    expect(indexSql(store, 'tokens_parent')).toMatch(/WHERE parent_hash IS NOT NULL$/);
    expect(await store.getTokenByHash(token(1).tokenHash)).toEqual(token(1));
    expect(await store.revokeFamily('f1', now)).toEqual(['dev']);
    expect((await store.getTokenByHash(token(2).tokenHash))!.revoked).toBe(true);
    expect((await store.getTokenByHash(token(1).tokenHash))!.revoked).toBe(false);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });
});
