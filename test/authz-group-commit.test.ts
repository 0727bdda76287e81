/**
 * The SQLite store commits the hot path's writes in groups (authz/sqlite-store.ts groupCommit):
 * one transaction per turn of the event loop (a savepoint per write only when one failed: the batch
 * is then rolled back and run again). What that must keep:
 * - a crash loses no issued token's record: a burst of concurrent /token requests at a service in
 *   a child process, SIGKILL the moment the 60th answer arrives (others still in flight, some in a
 *   batch not yet committed); every token any client received is known to the store afterwards,
 *   on a by-value audience and on a clock-less one (its exi sequence taken in the same batch);
 * - one failing write in a batch is undone alone: its caller gets the error, the others commit, and
 *   count once (rate limits, exi sequence numbers) though the batch ran twice;
 * - rate-limit counts taken in one batch are counted one after the other (no lost update);
 * - a serving store's WAL is checkpointed by its worker thread (its own commits no longer do).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKPOINTER_AFTER_WRITES, registerAudience, registerClient, SqliteStore, type IssuedTokenRecord } from '../authz/index.js';
import { fromBase64Url, toHex, tokenHash, readableCti } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';

const root = join(import.meta.dirname, '..');
const SECRET = 'group-commit-secret-8f3a91c2d4e5b6a7';
const dirs: string[] = [];
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'authz-group-commit-'));
  dirs.push(d);
  return d;
}

function record(cti: string): IssuedTokenRecord {
  return { cti, tokenHash: `h-${cti}`, audience: 'a', clientId: 'c', subject: 'c', scope: 'read', issuedAt: 1, expiresAt: 2, reference: false, revoked: false };
}

describe('group commit in the SQLite store', () => {
  it('a failing write in a batch is undone alone: its caller gets the error, the others commit', async () => {
    const store = new SqliteStore(join(tempDir(), 'authz.sqlite'));
    await store.recordToken(record('dup'));
    // One turn of the loop: all four join one batch; the duplicate cti violates the primary key.
    const results = await Promise.allSettled([store.recordToken(record('a1')), store.recordToken(record('dup')), store.recordToken(record('a2')), store.hitRateLimit('k', 100, 60)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: expect.stringMatching(/^SQLITE_CONSTRAINT/) });
    for (const cti of ['a1', 'a2']) expect(await store.tokenHashByCti(cti)).toBe(`h-${cti}`);
    expect((await store.getTokenByHash('h-dup'))?.cti).toBe('dup');
    store.close();
  });

  it('a batch run again after a failing write counts once: rate-limit counts, exi sequence numbers and the minted record', async () => {
    // The batch first runs without savepoints; one write throws, so it is rolled back and run
    // again with one savepoint per write. Nothing of the first run may survive it.
    const store = new SqliteStore(join(tempDir(), 'authz.sqlite'));
    await registerAudience(store, nativeProvider, { id: 'clockless', scopes: ['read'], clockless: true });
    await store.recordToken(record('dup'));
    const minted: bigint[] = [];
    const exiRecord = (sequence: bigint): IssuedTokenRecord => {
      minted.push(sequence);
      return { ...record(`exi-${sequence}`), audience: 'clockless', tokenHash: `h-exi-${sequence}`, exiSequence: Number(sequence) };
    };
    const results = await Promise.allSettled([
      store.hitRateLimit('retry', 100, 60),
      store.recordExiToken('clockless', exiRecord),
      store.hitRateLimit('retry', 100, 60),
      store.recordToken(record('dup')),
      store.recordExiToken('clockless', exiRecord),
      store.hitRateLimit('retry', 100, 60),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual([1, undefined, 2, undefined, 3]);
    // The first run stopped at the duplicate, after the first exi mint (sequence 1); the second run
    // minted 1 and 2 again: the records stored are its, and the sequence moved on by two, not three.
    expect(minted.map(Number)).toEqual([1, 1, 2]);
    expect(await store.tokenHashByCti('exi-1')).toBe('h-exi-1');
    expect(await store.tokenHashByCti('exi-2')).toBe('h-exi-2');
    expect(await store.tokenHashByCti('exi-3')).toBeUndefined();
    expect(await store.hitRateLimit('retry', 100, 60)).toBe(4);
    store.close();
  });

  it('counts taken in one batch follow each other (no lost update), and a closed store answers every queued write', async () => {
    const store = new SqliteStore(join(tempDir(), 'authz.sqlite'));
    const counts = await Promise.all(Array.from({ length: 50 }, () => store.hitRateLimit('burst', 100, 60)));
    expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // Queued, then closed before the batch runs: committed by close, not dropped.
    const late = store.recordToken(record('late'));
    store.close();
    await late;
    const reopened = new SqliteStore(store.db.name);
    expect(await reopened.tokenHashByCti('late')).toBe('h-late');
    reopened.close();
  });

  it('a serving store checkpoints its WAL in a worker: the database file catches up with the WAL', async () => {
    const file = join(tempDir(), 'authz.sqlite');
    const store = new SqliteStore(file);
    for (let i = 0; i < CHECKPOINTER_AFTER_WRITES + 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => store.recordToken(record(`w${i + k}`))));
    // The serving connection no longer checkpoints; only the worker moves pages into the file.
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const pages = () => Number(store.db.pragma('page_count', { simple: true })) * Number(store.db.pragma('page_size', { simple: true }));
    const deadline = Date.now() + 5000;
    while (statSync(file).size < pages() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(statSync(file).size).toBe(pages());
    expect(await store.tokenHashByCti(`w${CHECKPOINTER_AFTER_WRITES + 999}`)).toBe(`h-w${CHECKPOINTER_AFTER_WRITES + 999}`);
    store.close();
  });

  it('kill -9 in a burst of issuance: every token a client received is recorded', async () => {
    const dir = tempDir();
    const seed = new SqliteStore(join(dir, 'authz.sqlite'));
    await registerAudience(seed, nativeProvider, { id: 'dev', scopes: ['read'] });
    await registerAudience(seed, nativeProvider, { id: 'tube', clockless: true, scopes: ['read'], lifetime: 600 });
    await registerClient(seed, { id: 'burst', secret: SECRET, audiences: ['dev', 'tube'], scopes: ['read'], grantTypes: ['client_credentials'] });
    seed.close();
    const script = `import { join } from 'node:path';
import { createAuthzServer, SqliteStore } from ${JSON.stringify(join(root, 'authz/index.ts'))};
const store = new SqliteStore(join(process.env.KB_DIR, 'authz.sqlite'));
const server = await createAuthzServer({ store, dataDir: process.env.KB_DIR });
console.log('listening on ' + (await server.listen(0)).url);`;
    child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: { ...process.env, KB_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.resume();
    const base = await new Promise<string>((resolve, reject) => {
      let seen = '';
      child!.stdout!.on('data', (d: Buffer) => {
        seen += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(seen);
        if (m) resolve(m[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`service exited ${code}`)));
    });
    const exited = new Promise((r) => child!.once('exit', r));
    const received: string[] = [];
    const auth = `Basic ${Buffer.from(`burst:${SECRET}`).toString('base64')}`;
    const requests = Array.from({ length: 150 }, async (_, i) => {
      try {
        const res = await fetch(`${base}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: auth },
          body: JSON.stringify({ grant_type: 'client_credentials', audience: i % 3 === 0 ? 'tube' : 'dev' }),
        });
        if (res.status !== 200) return;
        received.push(((await res.json()) as { access_token: string }).access_token);
        if (received.length === 60) child!.kill('SIGKILL');
      } catch {
        // In flight when the process died: nothing was answered, nothing is promised.
      }
    });
    await Promise.all(requests);
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    expect(received.length).toBeGreaterThanOrEqual(60);
    const after = new SqliteStore(join(dir, 'authz.sqlite'));
    const missing: string[] = [];
    for (const t of received) {
      const hash = toHex(tokenHash(fromBase64Url(t), nativeProvider));
      const cti = toHex(readableCti(fromBase64Url(t))!);
      if (!(await after.getTokenByHash(hash, cti))) missing.push(hash);
    }
    after.close();
    expect(missing).toEqual([]);
  }, 30_000);
});
