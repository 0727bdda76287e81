/**
 * Issued-token records per second into a store that already holds many (issue 13: "SQLite writes
 * per token"; persistence stays durable). The token endpoint bench starts from an empty store,
 * where every index fits in SQLite's page cache; a service that has run for a while holds
 * hundreds of thousands of records, and then each index a record goes into at a random place
 * costs a page read and a page written to the WAL at every group commit. This measures that cost,
 * with the store's own recordToken (group commit, WAL, synchronous = NORMAL), 16 records a commit
 * as under the token endpoint's load, against a floor measured in the same run: a one-column
 * table whose key only grows (the token bench's floor record), at the same size.
 *
 * Two kinds of cti:
 * - time-ordered, as mintAccessToken makes them (cose/access-token.ts: the issue time in ms, then
 *   80 random bits), so the cti key grows at its end;
 * - random (16 random bytes), as it minted them before: one more random index page per record.
 * The records are those of Sign1 tokens (ctiInToken): the store finds them by cti and hash and
 * keeps no index by hash alone (SQLite migration 13), so the random SHA-256 costs no index page.
 * The client index has one insertion point per client (CLIENTS here).
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintAccessToken, toHex } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { SqliteStore, type IssuedTokenRecord } from '../authz/index.js';
import { recordFigure } from './figures.js';
import { median } from './interleaved.js';

/** Records already in each store before the clock starts. */
const PREFILLED = 250_000;
/** Records a group commit holds: about what the token endpoint's commits held in its bench (~16.6). */
const PER_COMMIT = 16;
/** Records per measured round. */
const PER_ROUND = 8_000;
const ROUNDS = 3;
const CLIENTS = 1_000;
const PREFILL_CHUNK = 5_000;

type CtiKind = 'ordered' | 'random';

/** The layout mintAccessToken makes (checked against it below, so the two cannot drift apart). */
function orderedCti(ms: number): string {
  const cti = randomBytes(16);
  for (let i = 5, t = ms; i >= 0; i--, t = Math.floor(t / 256)) cti[i] = t % 256;
  return cti.toString('hex');
}

function checkLayout(): void {
  const key = nativeProvider.generateKeyPair('Ed25519');
  const ms = Date.now();
  const { claims } = mintAccessToken(
    { issuer: 'bench', audience: 'dev', lifetime: 60, cnf: { coseKey: { kty: 'OKP', crv: 'Ed25519', x: key.x } } },
    { key: { kty: 'OKP', crv: 'Ed25519', x: key.x, d: key.d }, clock: () => ms / 1000, provider: nativeProvider },
  );
  if (toHex(claims.cti!).slice(0, 12) !== orderedCti(ms).slice(0, 12)) throw new Error('bench/authz-records.ts: mintAccessToken no longer makes the cti layout this bench measures');
}

function recordOf(kind: CtiKind, ms: number, n: number, cnf: Uint8Array): IssuedTokenRecord {
  const client = `client-${n % CLIENTS}`;
  return {
    cti: kind === 'ordered' ? orderedCti(ms) : randomBytes(16).toString('hex'),
    tokenHash: randomBytes(32).toString('hex'),
    audience: 'dev',
    clientId: client,
    subject: client,
    scope: 'read',
    issuedAt: Math.floor(ms / 1000),
    expiresAt: Math.floor(ms / 1000) + 3600,
    cnf,
    reference: false,
    revoked: false,
    ctiInToken: true,
  };
}

interface Side {
  /** Records `count` more, PER_COMMIT (or `chunk`) at a time; resolves when all are durable. */
  record(count: number, chunk?: number): Promise<void>;
  close(): void;
}

function storeSide(dir: string, kind: CtiKind): Side {
  const store = new SqliteStore(join(dir, `${kind}.sqlite`));
  // A COSE_Key cnf of an Ed25519 key, as the service keeps it (~45 bytes).
  const cnf = randomBytes(45);
  let ms = Date.now();
  let n = 0;
  return {
    async record(count, chunk = PER_COMMIT) {
      for (let done = 0; done < count; done += chunk) {
        // One turn's worth of calls: the store commits them together (its group commit).
        await Promise.all(Array.from({ length: Math.min(chunk, count - done) }, () => store.recordToken(recordOf(kind, ms++, n++, cnf))));
      }
    },
    close: () => store.close(),
  };
}

function floorSide(dir: string): Side {
  const db = new Database(join(dir, 'floor.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE tokens (cti TEXT PRIMARY KEY)');
  const insert = db.prepare('INSERT INTO tokens (cti) VALUES (?)');
  const prefix = randomBytes(8).toString('hex');
  let n = 0;
  const commit = db.transaction((count: number) => {
    for (let i = 0; i < count; i++) insert.run(`${prefix}${String(n++).padStart(12, '0')}`);
  });
  return {
    async record(count, chunk = PER_COMMIT) {
      for (let done = 0; done < count; done += chunk) {
        // As the store: the commit runs in its own turn (setImmediate), the callers wait for it.
        await new Promise<void>((resolve) => setImmediate(() => (commit(Math.min(chunk, count - done)), resolve())));
      }
    },
    close: () => db.close(),
  };
}

async function rate(side: Side): Promise<number> {
  const start = performance.now();
  await side.record(PER_ROUND);
  return PER_ROUND / ((performance.now() - start) / 1000);
}

export async function benchAuthzRecords(): Promise<void> {
  checkLayout();
  const dir = mkdtempSync(join(tmpdir(), 'keybound-bench-records-'));
  // Opened one at a time, so that a bench that throws midway still closes every store it opened.
  const sides: Array<[CtiKind | 'floor', Side]> = [];
  try {
    sides.push(['floor', floorSide(dir)]);
    sides.push(['ordered', storeSide(dir, 'ordered')]);
    sides.push(['random', storeSide(dir, 'random')]);
    // Filling takes a while (~10 s a store): a counter on a terminal, one line per store in a log.
    for (const [name, side] of sides) {
      const label = `  filling the ${name === 'floor' ? 'floor' : `${name}-cti store`}:`;
      const start = performance.now();
      for (let done = 0; done < PREFILLED; done += PREFILL_CHUNK) {
        await side.record(PREFILL_CHUNK, PREFILL_CHUNK);
        if (process.stdout.isTTY) process.stdout.write(`\r${label} ${(done + PREFILL_CHUNK).toLocaleString('en')} / ${PREFILLED.toLocaleString('en')} records`);
      }
      const took = `(${((performance.now() - start) / 1000).toFixed(1)} s)`;
      process.stdout.write(process.stdout.isTTY ? ` ${took}\n` : `${label} ${PREFILLED.toLocaleString('en')} records ${took}\n`);
    }
    const rates: Record<CtiKind | 'floor', number[]> = { floor: [], ordered: [], random: [] };
    // Rounds go floor, ordered, random, floor, ...: each store is compared with the floor round
    // that opened its triple.
    for (let r = 0; r < ROUNDS; r++) for (const [name, side] of sides) rates[name].push(await rate(side));
    const list = (xs: number[]) => `[${xs.map((x) => x.toFixed(2)).join(', ')}]`;
    console.log(`token records, ${PER_COMMIT} a group commit, ${PER_ROUND} a round, ${ROUNDS} rounds, into stores already holding ${PREFILLED.toLocaleString('en')} (SQLite, WAL, synchronous = NORMAL):`);
    console.log(`  floor: one-column row, a key that only grows      ${median(rates.floor).toFixed(0).padStart(7)} records/s (median)`);
    for (const [kind, label] of [
      ['ordered', 'SqliteStore, time-ordered cti (as minted)'],
      ['random', 'SqliteStore, random cti (as minted before)'],
    ] as const) {
      const ratios = rates[kind].map((x, i) => x / rates.floor[i]!);
      const f = recordFigure({ name: `authz.records_per_s.${kind}_cti`, value: Math.round(median(rates[kind])), unit: 'records/s', baseline: Math.round(median(rates.floor)), ratio: median(ratios) });
      console.log(`  ${label.padEnd(48)} ${f.value.toFixed(0).padStart(7)} records/s  ${f.ratio!.toFixed(2)}x floor ${list(ratios)}`);
    }
  } finally {
    for (const [, side] of sides) side.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
