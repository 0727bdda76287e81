/**
 * A throwaway PostgreSQL (Debian package `postgresql`, installed by .ci/run) in a temporary
 * directory on a free loopback port, for the tests of PgStore and of several service instances
 * on one database: initdb, then postgres with fsync off (the tests kill processes, not machines).
 *
 * PostgreSQL refuses to run as root ("root execution of the PostgreSQL server is not permitted").
 * When the tests run as root (CI containers), both programs run as `nobody` through util-linux's
 * `setpriv`, and the data directory is handed to that user first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';

const PG_ROOT = '/usr/lib/postgresql';

/** The bin directory of the newest installed PostgreSQL, or undefined. */
export function postgresBinDir(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT).filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(PG_ROOT, versions[0], 'bin') : undefined;
}

/**
 * Why the PostgreSQL tests cannot run here, or undefined when they can. In CI (CI=true) a
 * missing server is a failure, not a skip: .ci/run installs it.
 */
export function postgresUnavailable(): string | undefined {
  if (postgresBinDir()) return undefined;
  const why = `PostgreSQL not installed (no ${PG_ROOT}/*/bin/postgres; Debian package postgresql)`;
  if (process.env.CI === 'true') throw new Error(`${why}: CI must install it (.ci/run)`);
  return why;
}

const NOBODY_UID = 65534;
const NOBODY_GID = 65534;
const asRoot = (): boolean => process.getuid?.() === 0;
/** Runs `bin` as nobody when we are root (see the file comment). */
function command(bin: string, args: string[]): [string, string[]] {
  return asRoot() ? ['setpriv', [`--reuid=${NOBODY_UID}`, `--regid=${NOBODY_GID}`, '--clear-groups', bin, ...args]] : [bin, args];
}

export interface PostgresServer {
  process: ChildProcess;
  /** postgres://... of the database `keybound` (user `keybound`, trust authentication on loopback). */
  url: string;
  /** A fresh empty database on the same server; returns its URL. */
  createDatabase(name: string): string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL not installed');
  const dir = mkdtempSync(join(tmpdir(), 'keybound-pg-'));
  if (asRoot()) chownSync(dir, NOBODY_UID, NOBODY_GID);
  const data = join(dir, 'data');
  const [initCmd, initArgs] = command(join(bin, 'initdb'), ['-D', data, '-U', 'keybound', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${(init.stderr || init.stdout).slice(-500)}`);
  const port = await freePort();
  const [cmd, args] = command(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
  ]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (seen.includes('ready to accept connections')) resolve();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`postgres exited with ${code}: ${seen.slice(-500)}`)));
  });
  // Keep draining its log: a full pipe would block the server.
  proc.stdout!.resume();
  proc.stderr!.resume();
  const createDatabase = (name: string): string => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
    const [c, a] = command(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'keybound', name]);
    const r = spawnSync(c, a, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`createdb failed: ${r.stderr}`);
    return `postgres://keybound@127.0.0.1:${port}/${name}`;
  };
  const url = createDatabase('keybound');
  return {
    process: proc,
    url,
    createDatabase,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGINT'); // fast shutdown
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Run as a program (bench/authz-postgres.ts does: bench/ may not import test/): starts a server,
 * prints `postgres-server ready <url> <url2>` (two empty databases), stops on SIGTERM.
 */
if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startPostgres();
  const second = server.createDatabase('keybound_second');
  console.log(`postgres-server ready ${server.url} ${second}`);
  const stopNow = (): void => void server.stop().then(() => process.exit(0));
  process.once('SIGTERM', stopNow);
  process.once('SIGINT', stopNow);
}
