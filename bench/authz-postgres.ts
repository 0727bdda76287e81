/**
 * Issue 14: tokens/s of `keybound authz serve` processes on PostgreSQL, one and two instances
 * (requests spread round-robin, as a load balancer would), against one instance on SQLite, all
 * measured in this run on this machine: ratios, not absolute figures. client_secret_basic with a
 * warm secret cache, so the store's round trips (rate-limit count, token record) dominate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgStore, registerAudience, registerClient, SqliteStore, type AuthzStore } from '../authz/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { recordFigure } from './figures.js';

const ROOT = join(import.meta.dirname, '..');
const CLIENTS = 8;
const CONCURRENCY = 16;
const WARMUP = 200;
const REQUESTS = 2000;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

async function seed(store: AuthzStore): Promise<void> {
  await registerAudience(store, nativeProvider, { id: 'dev', scopes: ['read'], lifetime: 3600 });
  for (let i = 0; i < CLIENTS; i++) await registerClient(store, { id: `c${i}`, secret: `bench-secret-${i}-0123456789`, audiences: ['dev'], scopes: ['read'], grantTypes: ['client_credentials'] });
}

function serve(args: string[]): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/keybound.js'), 'authz', 'serve', '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr!.resume();
  return new Promise((resolve, reject) => {
    let seen = '';
    proc.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(seen);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once('exit', (code) => reject(new Error(`authz serve exited ${code}`)));
  });
}

function postToken(url: string, i: number): Promise<number> {
  const body = JSON.stringify({ grant_type: 'client_credentials', audience: 'dev' });
  const auth = `Basic ${Buffer.from(`c${i}:bench-secret-${i}-0123456789`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(`${url}/token`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: auth } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` token requests over `urls` round-robin, CONCURRENCY at a time; tokens/s. */
async function load(urls: string[], n: number): Promise<{ rate: number; failed: number }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const k = next++;
        if ((await postToken(urls[k % urls.length]!, k % CLIENTS)) === 200) ok++;
        else failed++;
      }
    }),
  );
  return { rate: ok / ((performance.now() - start) / 1000), failed };
}

/**
 * A throwaway PostgreSQL: the tests' launcher run as a program (bench/ may not import test/);
 * undefined when PostgreSQL is not installed.
 */
async function startPostgres(): Promise<{ proc: ChildProcess; databases: [string, string] } | undefined> {
  if (!existsSync('/usr/lib/postgresql')) return undefined;
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/support/postgres-server.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise<string[]>((resolve, reject) => {
    let seen = '';
    proc.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /postgres-server ready (\S+) (\S+)/.exec(seen);
      if (m) resolve([m[1]!, m[2]!]);
    });
    proc.once('exit', (code) => reject(new Error(`postgres launcher exited ${code}`)));
  });
  return { proc, databases: [urls[0]!, urls[1]!] };
}

export async function benchAuthzPostgres(): Promise<void> {
  const pg = await startPostgres();
  if (!pg) {
    console.log('authz on PostgreSQL: skipped (PostgreSQL not installed: Debian package postgresql)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'authz-pg-bench-'));
  const procs: ChildProcess[] = [];
  try {
    const sqlite = new SqliteStore(join(dir, 'authz.sqlite'));
    await seed(sqlite);
    sqlite.close();
    // One database per PostgreSQL run: the issuance budget (per client and window) is shared by
    // the instances, as it must be, and the first run would spend the second's.
    const databases = pg.databases;
    for (const url of databases) {
      const store = await PgStore.open(url);
      await seed(store);
      store.close();
      await store.ended;
    }
    const kekFile = join(dir, 'kek');
    writeFileSync(kekFile, randomBytes(32), { mode: 0o600 });

    const run = async (name: string, instances: Array<{ proc: ChildProcess; url: string }>) => {
      procs.push(...instances.map((i) => i.proc));
      const urls = instances.map((i) => i.url);
      await load(urls, WARMUP);
      const r = await load(urls, REQUESTS);
      for (const i of instances) i.proc.kill('SIGTERM');
      return { name, ...r };
    };
    const base = await run('1 instance, SQLite', [await serve(['--data-dir', dir])]);
    const pg1 = await run('1 instance, PostgreSQL', [await serve(['--database', databases[0]!, '--kek-file', kekFile])]);
    const a = await serve(['--database', databases[1]!, '--kek-file', kekFile]);
    const b = await serve(['--database', databases[1]!, '--kek-file', kekFile]);
    const pg2 = await run('2 instances, PostgreSQL', [a, b]);
    console.log(`authz client_credentials over HTTP, ${CONCURRENCY} concurrent clients, ${REQUESTS} requests, instances are bin/keybound.js processes:`);
    for (const r of [base, pg1, pg2]) {
      recordFigure({ name: `authz_pg.tokens_per_s.${r.name.replace(/\W+/g, '_').toLowerCase()}`, value: Math.round(r.rate), unit: 'tokens/s', baseline: Math.round(base.rate), ratio: r.rate / base.rate });
      console.log(`authz ${r.name.padEnd(26)} ${r.rate.toFixed(0).padStart(6)} tokens/s  ratio to 1 SQLite ${(r.rate / base.rate).toFixed(2)}${r.failed ? `  (${r.failed} failed)` : ''}`);
    }
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    agent.destroy();
    const gone = new Promise((r) => pg.proc.once('exit', r));
    pg.proc.kill('SIGTERM');
    await gone;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchAuthzPostgres();
}
