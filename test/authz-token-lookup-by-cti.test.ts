/**
 * Issue 13: the SQLite store keeps no index by token hash for tokens that show their cti (Sign1
 * and Mac0 CWTs): it finds them by cti and hash together (store.ts ctiInToken, migration 13).
 * What must still hold, over HTTP as deployed:
 * - every form of token is found by introspection and revocation (Sign1, Mac0, untagged, and the
 *   hash-indexed ones: Encrypt0, reference);
 * - a forged token that names a genuine token's cti (any other bytes: another hash) finds nothing,
 *   neither at introspection nor at revocation, and the genuine token stays live;
 * - a database of the previous release (UNIQUE token_hash) migrates: rows, rowids, revocations and
 *   their issue times kept, old rows still found by hash alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, encodeCbor, fromBase64Url, readableCti, toBase64Url, toHex, tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic } from './support/authz-client.js';
import { runCli } from './support/processes.js';
import Database from 'better-sqlite3';

const dir = mkdtempSync(join(tmpdir(), 'kb-lookup-cti-'));
let store: SqliteStore;
let server: AuthzServer;
let url = '';
const AUDIENCES = ['signed', 'maced', 'bare', 'sealed', 'ref'] as const;
const pop = nativeProvider.generateKeyPair('Ed25519');
const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap({ kty: 'OKP', crv: 'Ed25519', x: pop.x })]])));

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'signed', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: 'maced', scopes: ['read'], protection: 'mac0' });
  await registerAudience(store, nativeProvider, { id: 'bare', scopes: ['read'], untaggedTokens: true });
  await registerAudience(store, nativeProvider, { id: 'sealed', scopes: ['read'], protection: 'encrypt0' });
  await registerAudience(store, nativeProvider, { id: 'ref', scopes: ['read'], referenceTokens: true });
  await registerClient(store, { id: 'app', secret: 'lookup-cti-secret-0123456789', audiences: [...AUDIENCES], scopes: ['read'] });
  await registerClient(store, { id: 'thief', secret: 'lookup-cti-thief-0123456789', audiences: [...AUDIENCES], scopes: ['read'] });
  await registerClient(store, { id: 'rs', secret: 'lookup-cti-rs-0123456789ab', audiences: [...AUDIENCES], grantTypes: [] });
  server = await createAuthzServer({ store, dataDir: dir, issuer: 'https://as.example' });
  url = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function post(path: string, body: Record<string, string>, who: 'app' | 'thief' | 'rs'): Promise<{ status: number; data: Record<string, unknown> }> {
  const secret = { app: 'lookup-cti-secret-0123456789', thief: 'lookup-cti-thief-0123456789', rs: 'lookup-cti-rs-0123456789ab' }[who];
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic(who, secret) }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, data: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function issue(audience: string): Promise<string> {
  const res = await post('/token', { grant_type: 'client_credentials', audience, req_cnf: reqCnf }, 'app');
  expect(res.status, audience).toBe(200);
  return res.data.access_token as string;
}

const active = async (token: string) => (await post('/introspect', { token }, 'rs')).data.active;
const ctiInToken = (token: string) => store.db.prepare('SELECT cti_in_token FROM tokens WHERE token_hash = ?').pluck().get(toHex(tokenHash(fromBase64Url(token), nativeProvider)));

describe('tokens are found by cti and hash, or by hash where they show no cti', () => {
  for (const audience of AUDIENCES) {
    it(`${audience}: introspected, revoked, and listed`, async () => {
      const token = await issue(audience);
      const shows = audience === 'signed' || audience === 'maced' || audience === 'bare';
      expect(ctiInToken(token)).toBe(shows ? 1 : 0);
      expect(readableCti(fromBase64Url(token)) !== undefined).toBe(shows);
      expect(await active(token)).toBe(true);
      expect((await post('/revoke', { token }, 'app')).status).toBe(200);
      expect(await active(token)).toBe(false);
      const hash = toHex(tokenHash(fromBase64Url(token), nativeProvider));
      expect((await store.revocationList(audience, Date.now() / 1000)).entries.map((e) => e.tokenHash)).toContain(hash);
    });
  }

  it('a token recorded with ctiInToken is not found by its hash alone, nor under another cti', async () => {
    const token = fromBase64Url(await issue('signed'));
    const other = fromBase64Url(await issue('signed'));
    const hash = toHex(tokenHash(token, nativeProvider));
    expect(await store.getTokenByHash(hash)).toBeUndefined();
    expect(await store.getTokenByHash(hash, toHex(readableCti(other)!))).toBeUndefined();
    expect(await store.revokeToken(hash)).toEqual([]);
    expect((await store.getTokenByHash(hash, toHex(readableCti(token)!)))!.revoked).toBe(false);
  });

  it('attack: a forged token naming a live token\'s cti finds nothing, and revoking it leaves the live one alone', async () => {
    const genuine = await issue('signed');
    const bytes = fromBase64Url(genuine);
    // Same claims (same cti), another signature: what anyone can make from a token seen on the wire.
    const forged = bytes.slice();
    forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
    expect(toHex(readableCti(forged)!)).toBe(toHex(readableCti(bytes)!));
    expect(await active(toBase64Url(forged))).toBe(false);
    expect((await post('/revoke', { token: toBase64Url(forged) }, 'app')).status).toBe(200);
    expect((await post('/revoke', { token: toBase64Url(forged) }, 'thief')).status).toBe(200);
    expect(await active(genuine)).toBe(true);
    // Another client's genuine token: found, and not revoked by the thief (RFC 7009 §2.1).
    expect((await post('/revoke', { token: genuine }, 'thief')).status).toBe(200);
    expect(await active(genuine)).toBe(true);
  });

  it('keeps no index on token_hash but the partial one, and looks tokens up through the cti key', () => {
    const indexes = store.db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tokens'").all() as Array<{ name: string; sql: string | null }>;
    const onHash = indexes.filter((i) => (i.sql ?? '').includes('(token_hash)'));
    expect(onHash.map((i) => i.name)).toEqual(['tokens_by_hash']);
    expect(onHash[0]!.sql).toMatch(/WHERE cti_in_token = 0$/);
    // The autoindexes: only the cti primary key's (a UNIQUE column would add a second).
    expect(indexes.filter((i) => i.sql === null).length).toBe(1);
    const plan = (sql: string, ...args: unknown[]) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
    expect(plan('SELECT rowid FROM tokens WHERE cti = ? AND token_hash = ?', 'aa', 'bb')).toMatch(/USING INDEX sqlite_autoindex_tokens_1 \(cti=\?\)/);
    expect(plan('SELECT rowid FROM tokens WHERE token_hash = ? AND cti_in_token = 0', 'bb')).toMatch(/USING (COVERING )?INDEX tokens_by_hash/);
  });
});

/** The tokens table and revocations as schema version 12 has them (migrations 1 to 12); later migrations are idempotent. */
const BACK_TO_SCHEMA_12 = `DROP TABLE tokens; ALTER TABLE revocations DROP COLUMN issued_at; DROP INDEX rate_limits_window;
  CREATE TABLE tokens (cti TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, audience TEXT NOT NULL,
    client_id TEXT NOT NULL, subject TEXT NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, cnf BLOB, reference INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
    family TEXT, exi_seq INTEGER, parent_hash TEXT);
  CREATE INDEX tokens_family ON tokens (family) WHERE family IS NOT NULL;
  CREATE INDEX tokens_parent ON tokens (parent_hash) WHERE parent_hash IS NOT NULL;
  CREATE INDEX tokens_exi ON tokens (audience, exi_seq) WHERE exi_seq IS NOT NULL;
  CREATE INDEX tokens_client ON tokens (client_id);
  UPDATE schema_version SET version = 12`;

describe('migration 13 from a database of the previous release', () => {
  it('rebuilds tokens without the UNIQUE hash: rows, rowids and revocations kept, old rows found by hash', async () => {
    const path = join(dir, 'previous.sqlite');
    const old = new SqliteStore(path);
    await registerAudience(old, nativeProvider, { id: 'dev', scopes: ['read'] });
    old.db.exec(BACK_TO_SCHEMA_12);
    const insert = old.db.prepare('INSERT INTO tokens (rowid, cti, token_hash, audience, client_id, subject, scope, issued_at, expires_at, reference, revoked, family, parent_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)');
    insert.run(5, 'c5', 'h5', 'dev', 'app', 'app', 'read', 100, 2e9, 0, 'f1', null);
    insert.run(9, 'c9', 'h9', 'dev', 'app', 'app', 'read', 200, 2e9, 0, null, 'h5');
    insert.run(12, 'c12', 'h12', 'dev', 'app', 'app', 'read', 300, 2e9, 1, null, null);
    old.db.prepare('INSERT INTO revocations (audience, token_hash, expires_at, sequence) VALUES (?, ?, ?, ?)').run('dev', 'h12', 2e9, 1);
    old.db.prepare('UPDATE audiences SET trl_sequence = 1 WHERE id = ?').run('dev');
    old.close();

    const store = new SqliteStore(path);
    try {
      expect(store.db.prepare('SELECT version FROM schema_version').pluck().get()).toBeGreaterThanOrEqual(13);
      expect(store.db.prepare('SELECT rowid FROM tokens ORDER BY rowid').pluck().all()).toEqual([5, 9, 12]);
      // Old rows keep their hash index entry: found by hash alone, as before.
      expect((await store.getTokenByHash('h5'))!.cti).toBe('c5');
      expect((await store.revocationList('dev', 1000)).entries).toEqual([{ tokenHash: 'h12', expiresAt: 2e9, issuedAt: 300 }]);
      // The exchange tree still reaches its child by the parent's hash.
      expect(await store.revokeToken('h5')).toEqual(['dev']);
      expect((await store.getTokenByHash('h9'))!.revoked).toBe(true);
      expect((await store.revocationList('dev', 1000)).entries.map((e) => [e.tokenHash, e.issuedAt])).toEqual([['h12', 300], ['h5', 100], ['h9', 200]]);
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      store.close();
    }
  });
  it('says so on stderr when a CLI command migrates it, and how long it took', async () => {
    const dataDir = join(dir, 'cli-previous');
    const first = await runCli(['authz', 'serve', '--data-dir', dataDir, '--init', '--port', '0'], { ms: 30_000 });
    expect(first.served).toBe(true);
    expect(first.stderr).not.toMatch(/migrat/); // a new store is made, not migrated
    const db = new Database(join(dataDir, 'authz.sqlite'));
    db.exec(BACK_TO_SCHEMA_12);
    db.close();
    const r = await runCli(['authz', 'serve', '--data-dir', dataDir, '--port', '0'], { ms: 30_000 });
    expect(r.served).toBe(true);
    expect(r.stderr).toMatch(/migrating the store's schema from 12 to \d+; a large store takes a while/);
    expect(r.stderr).toMatch(/store schema \d+, migrated in \d+\.\d s/);
    const again = await runCli(['authz', 'serve', '--data-dir', dataDir, '--port', '0'], { ms: 30_000 });
    expect(again.stderr).not.toMatch(/migrat/);
  });
});
