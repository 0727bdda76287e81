/**
 * A rollback: a store an upgrade migrated (schema 13 rebuilt the tokens table), opened by an
 * earlier release. It must be refused with a typed error before anything is read or written, the
 * file left as it was, and from the CLI as a plain message and a failed exit, not a stack trace or
 * a service running on tables its statements were not written for.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore, StoreSchemaNewerError } from '../authz/index.js';
import { runCli } from './support/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'kb-schema-newer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function storeFromTheFuture(path: string): number {
  new SqliteStore(path).close();
  const db = new Database(path);
  const known = db.prepare('SELECT version FROM schema_version').pluck().get() as number;
  db.prepare('UPDATE schema_version SET version = ?').run(known + 1);
  db.close();
  return known;
}

describe('a store with a newer schema', () => {
  it('is refused by SqliteStore with StoreSchemaNewerError, and left as it was', () => {
    const path = join(dir, 'lib.sqlite');
    const known = storeFromTheFuture(path);
    let error: unknown;
    try {
      new SqliteStore(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreSchemaNewerError);
    expect((error as StoreSchemaNewerError).code).toBe('ERR_AUTHZ_SCHEMA_NEWER');
    expect((error as Error).message).toContain(`database schema ${known + 1} is newer than this keybound (${known})`);
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT version FROM schema_version').pluck().get()).toBe(known + 1);
    db.close();
    // The refused open kept no handle: the file can be removed and opened again at once.
    rmSync(path);
    new SqliteStore(path).close();
  });

  it('stops authz serve with the message and exit 1, never listening', async () => {
    const dataDir = join(dir, 'as');
    mkdirSync(dataDir);
    await runCli(['authz', 'serve', '--data-dir', dataDir, '--init', '--port', '0'], { ms: 30_000 });
    storeFromTheFuture(join(dataDir, 'authz.sqlite'));
    const r = await runCli(['authz', 'serve', '--data-dir', dataDir, '--port', '0'], { ms: 30_000 });
    expect(r.served).toBe(false);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is newer than this keybound/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
