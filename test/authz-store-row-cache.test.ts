/**
 * SqliteStore keeps client and audience rows between token requests (issue 13). A registration
 * changed or deleted anywhere must show: at the very next lookup when this store wrote it, from the
 * next turn of the event loop when a second store on the same file (another connection) or another
 * process wrote it (the store reads SQLite's data_version once a turn). Attack: keep being
 * served after `keybound authz delete` (test/review-authz-delete-live-tokens.test.ts runs that
 * through the CLI against a serving process), or after a secret rotation, or a narrowed scope.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, SqliteStore } from '../authz/index.js';

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Lets the turn end: another connection's commits are seen from the next one. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

function twoStores(): { path: string; served: SqliteStore; admin: SqliteStore } {
  const dir = mkdtempSync(join(tmpdir(), 'kb-row-cache-'));
  dirs.push(dir);
  const path = join(dir, 'authz.sqlite');
  const served = new SqliteStore(path);
  const admin = new SqliteStore(path);
  stores.push(served, admin);
  return { path, served, admin };
}

describe('SqliteStore: cached client and audience rows', () => {
  it('a client deleted or changed through another connection is seen from the next turn', async () => {
    const { served, admin } = twoStores();
    await registerClient(admin, { id: 'app', secret: 'first-secret-0123456789', audiences: ['dev'], scopes: ['read', 'write'] });
    const first = await served.getClient('app');
    expect(first?.scopes).toEqual(['read', 'write']);
    expect(await served.getClient('app')).toEqual(first); // from the cache now

    await registerClient(admin, { id: 'app', secret: 'second-secret-0123456789', audiences: ['dev'], scopes: ['read'] });
    await nextTurn();
    const second = await served.getClient('app');
    expect(second?.scopes).toEqual(['read']);
    expect(second?.secretHash).not.toBe(first?.secretHash);

    expect(await admin.deleteClient('app')).toBe(true);
    await nextTurn();
    expect(await served.getClient('app')).toBeUndefined();
  });

  it('an unknown id is remembered as unknown only until someone registers it', async () => {
    const { served, admin } = twoStores();
    expect(await served.getClient('late')).toBeUndefined();
    expect(await served.getAudience('late-dev')).toBeUndefined();
    await registerClient(admin, { id: 'late', secret: 'late-secret-0123456789', audiences: ['late-dev'], scopes: ['read'] });
    await registerAudience(admin, nativeProvider, { id: 'late-dev', scopes: ['read'] });
    await nextTurn();
    expect((await served.getClient('late'))?.id).toBe('late');
    expect((await served.getAudience('late-dev'))?.id).toBe('late-dev');
  });

  it('an audience changed or deleted through another connection is seen from the next turn', async () => {
    const { served, admin } = twoStores();
    await registerAudience(admin, nativeProvider, { id: 'dev', scopes: ['read', 'write'] });
    expect((await served.getAudience('dev'))?.policy.scopes).toEqual(['read', 'write']);
    await registerAudience(admin, nativeProvider, { id: 'dev', scopes: ['read'] });
    await nextTurn();
    expect((await served.getAudience('dev'))?.policy.scopes).toEqual(['read']);
    expect(await admin.deleteAudience('dev')).toBe(true);
    await nextTurn();
    expect(await served.getAudience('dev')).toBeUndefined();
  });

  it("this store's own writes are seen (data_version does not count them)", async () => {
    const { served } = twoStores();
    await registerClient(served, { id: 'own', secret: 'own-secret-0123456789', audiences: ['dev'], scopes: ['read', 'write'] });
    await registerAudience(served, nativeProvider, { id: 'dev', scopes: ['read', 'write'] });
    expect((await served.getClient('own'))?.scopes).toEqual(['read', 'write']);
    expect((await served.getAudience('dev'))?.policy.scopes).toEqual(['read', 'write']);
    await registerClient(served, { id: 'own', secret: 'own-secret-0123456789', audiences: ['dev'], scopes: ['read'] });
    await registerAudience(served, nativeProvider, { id: 'dev', scopes: ['write'] });
    expect((await served.getClient('own'))?.scopes).toEqual(['read']);
    expect((await served.getAudience('dev'))?.policy.scopes).toEqual(['write']);
    await served.deleteClient('own');
    await served.deleteAudience('dev');
    expect(await served.getClient('own')).toBeUndefined();
    expect(await served.getAudience('dev')).toBeUndefined();
  });

  it('a write by another process (plain SQL on the file) is seen from the next turn', async () => {
    const { path, served, admin } = twoStores();
    await registerClient(admin, { id: 'app', secret: 'app-secret-0123456789', audiences: ['dev'], scopes: ['read', 'write'] });
    expect((await served.getClient('app'))?.scopes).toEqual(['read', 'write']);
    // better-sqlite3 is resolved here and handed to the child: the child shares no code with the store.
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const script = `const D = require(${JSON.stringify(sqlite)}); const db = new D(${JSON.stringify(path)});
      db.prepare("UPDATE clients SET scopes = '[\\"read\\"]' WHERE id = 'app'").run(); db.close();`;
    await promisify(execFile)(process.execPath, ['-e', script]);
    expect((await served.getClient('app'))?.scopes).toEqual(['read']);
    await promisify(execFile)(process.execPath, ['-e', `const D = require(${JSON.stringify(sqlite)}); const db = new D(${JSON.stringify(path)}); db.prepare("DELETE FROM clients WHERE id = 'app'").run(); db.close();`]);
    expect(await served.getClient('app')).toBeUndefined();
  });

  it('a change by another connection is seen after it checkpoints the WAL away (RESTART, TRUNCATE), every time', async () => {
    const { path, served } = twoStores();
    const other = new Database(path);
    try {
      await registerClient(served, { id: 'app', secret: 'app-secret-0123456789', audiences: ['dev'], scopes: ['read'] });
      for (let i = 0; i < 10; i++) {
        expect((await served.getClient('app'))?.name).toBe(i === 0 ? 'app' : `n${i - 1}`);
        other.prepare('UPDATE clients SET name = ? WHERE id = ?').run(`n${i}`, 'app');
        other.pragma(`wal_checkpoint(${i % 2 ? 'TRUNCATE' : 'RESTART'})`);
        await nextTurn();
      }
    } finally {
      other.close();
    }
  });

  it('a client written and read inside a transaction that rolls back is not served afterwards (review)', async () => {
    const { served } = twoStores();
    const ghost = { id: 'ghost', name: 'ghost', audiences: ['dev'], scopes: ['admin'], grantTypes: ['client_credentials' as const], redirectUris: [], resourceServer: false, secretHash: 'x' };
    expect(() =>
      served.db.transaction(() => {
        void served.putClient(ghost);
        void served.getClient('ghost'); // the uncommitted row, read inside the transaction
        throw new Error('abort');
      })(),
    ).toThrow('abort');
    expect(await served.getClient('ghost')).toBeUndefined();
  });

  it('what a caller does to a record it got never reaches the next caller', async () => {
    const { served } = twoStores();
    await registerClient(served, { id: 'app', secret: 'app-secret-0123456789', audiences: ['dev'], scopes: ['read'] });
    await registerAudience(served, nativeProvider, { id: 'dev', scopes: ['read'] });
    const c = (await served.getClient('app'))!;
    c.scopes.push('admin');
    c.audiences.push('elsewhere');
    c.resourceServer = true;
    const a = (await served.getAudience('dev'))!;
    a.policy.scopes.push('admin');
    a.clockless = true;
    const c2 = (await served.getClient('app'))!;
    expect(c2.scopes).toEqual(['read']);
    expect(c2.audiences).toEqual(['dev']);
    expect(c2.resourceServer).toBe(false);
    const a2 = (await served.getAudience('dev'))!;
    expect(a2.policy.scopes).toEqual(['read']);
    expect(a2.clockless).toBe(false);
  });

  it("a key a caller wipes (its bytes, not only its fields) is still whole for the next caller: the audience's MAC and encryption keys, a client's public key", async () => {
    const { served } = twoStores();
    const pop = nativeProvider.generateKeyPair('Ed25519');
    await registerClient(served, { id: 'keyed', publicKey: { kty: 'OKP', crv: 'Ed25519', x: pop.x }, audiences: ['dev'], scopes: ['read'] });
    await registerAudience(served, nativeProvider, { id: 'dev', scopes: ['read'], protection: 'mac0' });
    const first = (await served.getAudience('dev'))!;
    const macKey = first.macKey.k!.slice();
    const encKey = first.encKey.k!.slice();
    const client = (await served.getClient('keyed'))!;
    // What a careful caller does with secrets once used; a freeze does not stop it.
    first.macKey.k!.fill(0);
    first.encKey.k!.fill(0);
    first.macKey.kid?.fill(0);
    client.publicKey!.x!.fill(0);
    const again = (await served.getAudience('dev'))!;
    expect(again.macKey.k).toEqual(macKey);
    expect(again.encKey.k).toEqual(encKey);
    expect(again.macKey.k).not.toBe(first.macKey.k);
    expect((await served.getClient('keyed'))!.publicKey!.x).toEqual(pop.x);
  });
});
