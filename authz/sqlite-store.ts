/**
 * The default store: one SQLite file (better-sqlite3) in WAL mode. Every atomic operation of
 * AuthzStore runs in one transaction. The schema is versioned by a `schema_version` table and
 * migrated forward on open, never backward.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type {
  AudienceRecord,
  AuthCodeRecord,
  AuthzStore,
  ClientRecord,
  DeviceCodeRecord,
  IssuedTokenRecord,
  RefreshTokenRecord,
  RevocationEntry,
  RevocationListState,
  TokenRef,
  RotateResult,
  SigningKeyRecord,
  UserRecord,
  PushedRequestRecord,
} from './store.js';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.js';
import { StoreSchemaNewerError } from './store-schema-newer-error.js';
import { blob, keyBlob, u8, rowToAudience, rowToAuthCode, rowToClient, rowToDeviceCode, rowToPushedRequest, rowToRefreshToken, rowToSigningKey, rowToToken, type Row } from './store-rows.js';

/** Each entry moves the schema from version i to i + 1. Append only. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE clients (id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT, public_key BLOB,
     audiences TEXT NOT NULL, scopes TEXT NOT NULL, grant_types TEXT NOT NULL, redirect_uris TEXT NOT NULL);
   CREATE TABLE audiences (id TEXT PRIMARY KEY, protection TEXT NOT NULL, mac_key BLOB NOT NULL, enc_key BLOB NOT NULL,
     rs_key BLOB, clockless INTEGER NOT NULL, reference_tokens INTEGER NOT NULL, policy TEXT NOT NULL,
     exi_sequence INTEGER NOT NULL DEFAULT 0, trl_sequence INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
   CREATE TABLE auth_codes (code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, username TEXT NOT NULL,
     redirect_uri TEXT NOT NULL, audience TEXT NOT NULL, scope TEXT NOT NULL, code_challenge TEXT NOT NULL,
     req_cnf BLOB, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE device_codes (device_code_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
     audience TEXT NOT NULL, scope TEXT NOT NULL, req_cnf BLOB, expires_at INTEGER NOT NULL, status TEXT NOT NULL,
     username TEXT, interval INTEGER NOT NULL, last_polled_at INTEGER NOT NULL);
   CREATE TABLE rate_limits (key TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL);
   CREATE TABLE tokens (cti TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, audience TEXT NOT NULL,
     client_id TEXT NOT NULL, subject TEXT NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL, cnf BLOB, reference INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE revocations (audience TEXT NOT NULL, token_hash TEXT NOT NULL, expires_at INTEGER NOT NULL,
     sequence INTEGER NOT NULL, PRIMARY KEY (audience, token_hash));
   CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, client_id TEXT NOT NULL,
     audience TEXT NOT NULL, scope TEXT NOT NULL, subject TEXT NOT NULL, req_cnf BLOB, expires_at INTEGER NOT NULL,
     used INTEGER NOT NULL DEFAULT 0, family_revoked INTEGER NOT NULL DEFAULT 0);
   CREATE INDEX refresh_family ON refresh_tokens (family);
   CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg INTEGER NOT NULL, public_key BLOB NOT NULL,
     created_at INTEGER NOT NULL, retired_at INTEGER, publish_until INTEGER);`,
  // RFC 6749 §4.1.2: a replayed code revokes what it issued, so tokens remember their grant.
  `ALTER TABLE auth_codes ADD COLUMN family TEXT;
   ALTER TABLE tokens ADD COLUMN family TEXT;
   CREATE INDEX tokens_family ON tokens (family);`,
  // RFC 7662 §4: only a token's resource servers may introspect it. Clients registered without
  // grant types were the resource servers until now, so they keep the role.
  `ALTER TABLE clients ADD COLUMN resource_server INTEGER NOT NULL DEFAULT 0;
   UPDATE clients SET resource_server = 1 WHERE grant_types = '[]';`,
  // Revoked clock-less tokens stay revoked (RevocationListState.exiFloor): the exi sequence of a
  // token and of its revocation. Older rows have none and keep today's rule (listed until expiry).
  `ALTER TABLE tokens ADD COLUMN exi_seq INTEGER;
   ALTER TABLE revocations ADD COLUMN exi_seq INTEGER;
   CREATE INDEX tokens_exi ON tokens (audience, exi_seq) WHERE exi_seq IS NOT NULL;`,
  // RFC 8693: an exchanged token remembers its subject token, to be revoked with it. Existing
  // tokens were issued by a grant, not an exchange: no parent.
  `ALTER TABLE tokens ADD COLUMN parent_hash TEXT;
   CREATE INDEX tokens_parent ON tokens (parent_hash);`,
  // Expired device codes are deleted as new ones are made (putDeviceCode).
  `CREATE INDEX IF NOT EXISTS device_codes_expiry ON device_codes (expires_at);`,
  // `authz revoke --client ID` finds a client's live tokens (liveTokenHashes).
  `CREATE INDEX IF NOT EXISTS tokens_client ON tokens (client_id);`,
  // Per-message PoP chosen at registration (register-client --message-pop); existing clients: off.
  `ALTER TABLE clients ADD COLUMN message_pop INTEGER NOT NULL DEFAULT 0;`,
  // RFC 9449: the (jkt, jti) of accepted DPoP proofs until their iat leaves the window (§11.1),
  // and the DPoP key a code (dpop_jkt, §10) or a public client's refresh token (§5) is bound to.
  `CREATE TABLE dpop_proofs (jkt TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (jkt, jti));
   CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);
   ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
   ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;`,
  // RFC 8705 §2: certificate client authentication chosen at registration; RFC 9126: per-client
  // require_pushed_authorization_requests and the pushed requests (one use, until expiry).
  `ALTER TABLE clients ADD COLUMN tls_client_auth TEXT;
   ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE pushed_requests (uri_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, params TEXT NOT NULL, expires_at INTEGER NOT NULL);
   CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);`,
  // Issue 13: a token from client credentials has no grant family and one not exchanged has no
  // parent, and a full index still takes a NULL entry for each (two b-tree inserts per issued
  // token for nothing). Partial indexes leave those rows out; `family = ?` and `parent_hash = ?`
  // imply IS NOT NULL, so the lookups still use them (https://sqlite.org/partialindex.html §3).
  `DROP INDEX IF EXISTS tokens_family;
   CREATE INDEX tokens_family ON tokens (family) WHERE family IS NOT NULL;
   DROP INDEX IF EXISTS tokens_parent;
   CREATE INDEX tokens_parent ON tokens (parent_hash) WHERE parent_hash IS NOT NULL;`,
  // Retention (purgeExpired) deletes expired codes and revocations by expires_at: without an
  // index each run scanned every code of the window on the event loop (review 36).
  `CREATE INDEX IF NOT EXISTS auth_codes_expiry ON auth_codes (expires_at);
   CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations (expires_at);`,
  // Issue 13: the UNIQUE index on token_hash took one random page per issued token (a SHA-256
  // sorts nowhere near its neighbours), written to the WAL at every group commit: about half
  // the cost of recording a token once the table is large (bench/authz-records.ts). A Sign1 or
  // Mac0 token shows its cti, which is time-ordered (cose/access-token.ts), so whoever presents
  // one is asked for it too and the row is found by its cti key (cti_in_token = 1); only the
  // others (reference and Encrypt0 tokens, JWTs) keep a hash index, a partial one. SQLite cannot
  // drop a UNIQUE constraint, so the table is rebuilt, rowids kept (purgeExpired reads them in
  // issue order). Existing rows keep their hash index entry (cti_in_token = 0). A revocation
  // keeps its token's issued_at (revocationList joined on the hash for it).
  `CREATE TABLE tokens_rebuilt (cti TEXT PRIMARY KEY, token_hash TEXT NOT NULL, audience TEXT NOT NULL,
     client_id TEXT NOT NULL, subject TEXT NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL, cnf BLOB, reference INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
     family TEXT, exi_seq INTEGER, parent_hash TEXT, cti_in_token INTEGER NOT NULL DEFAULT 0);
   INSERT INTO tokens_rebuilt (rowid, cti, token_hash, audience, client_id, subject, scope, issued_at, expires_at, cnf, reference, revoked, family, exi_seq, parent_hash)
     SELECT rowid, cti, token_hash, audience, client_id, subject, scope, issued_at, expires_at, cnf, reference, revoked, family, exi_seq, parent_hash FROM tokens ORDER BY rowid;
   ALTER TABLE revocations ADD COLUMN issued_at INTEGER;
   UPDATE revocations SET issued_at = (SELECT t.issued_at FROM tokens t WHERE t.token_hash = revocations.token_hash);
   DROP TABLE tokens;
   ALTER TABLE tokens_rebuilt RENAME TO tokens;
   CREATE INDEX tokens_family ON tokens (family) WHERE family IS NOT NULL;
   CREATE INDEX tokens_parent ON tokens (parent_hash) WHERE parent_hash IS NOT NULL;
   CREATE INDEX tokens_exi ON tokens (audience, exi_seq) WHERE exi_seq IS NOT NULL;
   CREATE INDEX tokens_client ON tokens (client_id);
   CREATE UNIQUE INDEX tokens_by_hash ON tokens (token_hash) WHERE cti_in_token = 0;`,
  // hitRateLimit prunes windows older than an hour every RATE_LIMIT_PRUNE_EVERY hits. Each client
  // assertion leaves a row (its cti's replay record), so a fleet of devices authenticating with
  // assertions fills the table: a scan of a million rows took ~95 ms on the event loop, every
  // 256 requests (.scratch/perf/rl.mts). window_start only grows, so its index is cheap to keep.
  `CREATE INDEX IF NOT EXISTS rate_limits_window ON rate_limits (window_start);`,
];

/** Owner read/write only: the database and its WAL hold secret keys. */
const PRIVATE_FILE_MODE = 0o600;
/** Longer than any rate-limit window in use (the longest: 600 s, client-assertion cti replay). */
export const RATE_LIMIT_PRUNE_AFTER_S = 3600;
/** Device codes are deleted this long after they expired (the longest lifetime is far shorter). */
const DEVICE_CODE_PRUNE_AFTER_S = 3600;
/** Writes after which a store checkpoints its WAL in a worker thread (a short CLI command never gets there). */
export const CHECKPOINTER_AFTER_WRITES = 2000;
/** Client and audience rows cached at most (rowCache); past it the cache starts again empty. */
const ROW_CACHE_ENTRIES = 4096;
/** Longer ids are looked up but not cached: 4096 of them stay under ~2 MB. */
const MAX_CACHED_ID_LENGTH = 256;
/** Prune once per this many hits: a cheap DELETE, rarely. */
const RATE_LIMIT_PRUNE_EVERY = 256;
/** Expired DPoP (jkt, jti) pairs are deleted once per this many proofs (an indexed range DELETE). */
const DPOP_PRUNE_EVERY = 256;
/** Expired pushed requests (never used) are deleted once per this many pushes. */
const PUSHED_PRUNE_EVERY = 256;

/** One write waiting for the next group commit, and how to answer its caller once that is known. */
interface QueuedWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SqliteStore implements AuthzStore {
  /**
   * The connection, for reads (tests, diagnostics). Write clients and audiences through the
   * store's methods: this connection's own writes are not seen by `PRAGMA data_version`, so a row
   * changed through `db` directly could be served from the row cache until another connection commits.
   */
  readonly db: Database.Database;
  private rateLimitHits = 0;
  private dpopProofs = 0;
  private pushedRequests = 0;
  /** Where the next purgeExpired step reads on (a rowid of tokens, then of auth_codes, then of refresh_tokens); 0 starts over. */
  private purgeCursor = { table: 'tokens' as 'tokens' | 'auth_codes' | 'refresh_tokens', rowid: 0 };
  /** Writes of the hot path (rate-limit counts, issued-token records) waiting for the group commit. */
  private queued: QueuedWrite[] = [];
  private commitScheduled = false;
  /**
   * On disk, once the store has seen CHECKPOINTER_AFTER_WRITES group-committed writes (a serving
   * process, not a CLI command): WAL checkpoints in a worker thread (wal-checkpointer.ts) instead
   * of inside our commits.
   */
  private checkpointer: WalCheckpointer | undefined;
  private groupWrites = 0;
  private readonly onDisk: boolean;

  /** Prepared statements by SQL text: preparing costs about as much as running a small query. */
  private readonly statements = new Map<string, Database.Statement>();

  /**
   * Client and audience rows, read on every token request (two lookups, ~15% of a cached-secret
   * token's CPU in the service), kept only while nothing can have changed them: SQLite's
   * `PRAGMA data_version` changes when any other connection (another process, the CLI, a second
   * store on the same file) commits, and is read at the first use in each turn of the event loop;
   * this connection's own writes to either table empty the cache where they happen. Rows, not
   * records: each caller still gets objects of its own (rowToClient, rowToAudience), so nothing it
   * changes can reach the next.
   */
  private readonly rowCache = new Map<string, Row | undefined>();
  private rowCacheVersion: unknown = undefined;
  private dataVersion: Database.Statement | undefined;
  /**
   * True from the turn's first data_version read until the turn ends (setImmediate). Reading it
   * before every lookup cost ~10 us each, two per token request (issue 13's profile, stop 38). A
   * commit by another process during the turn is seen from the next turn on: the requests of this
   * turn are answered as if they had been read at its start, a few milliseconds at most under load.
   */
  private rowCacheChecked = false;

  /**
   * opts.onMigration: told before an existing store's schema is migrated (not when a new one is
   * made), as a migration may take a while on a large store (schema 13 rebuilds the tokens table:
   * ~5 s a million token records); the CLI prints it.
   */
  constructor(path: string, opts: { synchronous?: 'NORMAL' | 'FULL'; onMigration?: (from: number, to: number) => void } = {}) {
    const onDisk = path !== '' && path !== ':memory:' && !path.startsWith('file:');
    // The file holds the audiences' secret MAC and encryption keys: owner-only, whatever the umask.
    if (onDisk) {
      closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
      chmodSync(path, PRIVATE_FILE_MODE);
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // SQLite creates -wal and -shm with the database file's mode; tighten any left from before.
    if (onDisk) for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, PRIVATE_FILE_MODE);
    // In WAL mode, synchronous = NORMAL fsyncs at checkpoints rather than at every commit. Each
    // transaction is still atomic, and a crash of this process (or a kill -9) loses nothing that
    // was committed: the WAL is in the OS's hands. Only an OS crash or power loss can drop the last
    // commits, never corrupt the file (https://www.sqlite.org/wal.html#sync). What could be lost
    // then is harmless: issued-token records (short-lived), used codes (a code lives a minute, and
    // its PKCE verifier and the client's authentication still stand), replay-cache entries
    // (assertions live at most MAX_ASSERTION_LIFETIME). FULL cost one fsync per request, the
    // largest single cost of issuing a token. Pass { synchronous: 'FULL' } to buy power-loss
    // durability at that price. Group commit (groupCommit below) changes none of this: a write's
    // caller hears back only once its transaction committed, and nothing is answered before.
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    try {
      this.migrate(opts.onMigration);
    } catch (error) {
      this.db.close(); // a refused or failed open keeps no handle on the file
      throw error;
    }
    this.onDisk = onDisk;
  }

  private migrate(onMigration?: (from: number, to: number) => void): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = this.db.prepare('SELECT version FROM schema_version').get() as Row | undefined;
    let version = row ? Number(row.version) : 0;
    // A store an upgrade migrated, opened by the release before it (a rollback): its statements
    // would run against tables they were not written for (schema 13 took the tokens table's hash
    // index away), so it is refused before anything is read or written, as PgStore does.
    if (version > MIGRATIONS.length) throw new StoreSchemaNewerError(version, MIGRATIONS.length);
    if (!row) this.db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
    if (version > 0 && version < MIGRATIONS.length) onMigration?.(version, MIGRATIONS.length);
    const step = this.db.transaction((sql: string, next: number) => {
      this.db.exec(sql);
      this.db.prepare('UPDATE schema_version SET version = ?').run(next);
    });
    while (version < MIGRATIONS.length) {
      step(MIGRATIONS[version]!, version + 1);
      version++;
    }
  }

  /**
   * Group commit: the hot path's writes (a count per /token request, a record per issued token)
   * made in one turn of the event loop share one transaction, committed at setImmediate, instead
   * of one commit each: a commit appends every page it touched to the WAL (the tokens table has
   * six b-trees), so fifty commits of one row cost about fifty times one commit of fifty rows.
   * A write that fails (a constraint) is undone alone and its caller gets the error; the others
   * commit (commitQueued: a savepoint per write, only when one failed). A caller's promise settles
   * only after COMMIT returned: the token is answered after its record is in the WAL, so a crash
   * of this process (kill -9) at any point loses no token anyone received (durability: see the
   * constructor).
   */
  private groupCommit<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.commitScheduled) {
        this.commitScheduled = true;
        setImmediate(() => this.commitQueued());
      }
    });
  }

  private commitQueued(): void {
    this.commitScheduled = false;
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0 || !this.db.open) {
      for (const w of batch) w.reject(new Error('authz store closed'));
      return;
    }
    if (this.onDisk && !this.checkpointer && (this.groupWrites += batch.length) >= CHECKPOINTER_AFTER_WRITES) {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = startWalCheckpointer(this.db.name);
    }
    let outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    // First the whole batch in one plain transaction: a write that throws is rare (a constraint,
    // an audience deleted under a request), and a savepoint around each write cost two statements
    // per write, about a tenth of a token's CPU. When one does throw, everything is rolled back and
    // the batch runs again with a savepoint per write, so that only that write fails. The writes
    // are closures over their own arguments (and the exi mint, which then simply mints again):
    // running one twice leaves what running it once does.
    const runBatch = (isolated: boolean): void => {
      this.db.transaction(() => {
        outcomes = [];
        for (const w of batch) {
          if (!isolated) {
            outcomes.push({ ok: true, value: w.run() }); // a throw rolls the batch back
            continue;
          }
          // Statements prepared once: a nested db.transaction() per write cost more than the write.
          this.stmt('SAVEPOINT one_write').run();
          try {
            outcomes.push({ ok: true, value: w.run() });
          } catch (error) {
            this.stmt('ROLLBACK TO one_write').run();
            outcomes.push({ ok: false, error });
          }
          this.stmt('RELEASE one_write').run();
        }
      })();
    };
    try {
      try {
        runBatch(false);
      } catch (error) {
        // Every write ran (an outcome each): it was COMMIT that failed, and a second run would too.
        if (outcomes.length === batch.length) throw error;
        runBatch(true);
      }
    } catch (error) {
      // COMMIT itself failed (disk full, I/O error): nothing of the batch is stored.
      for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.value);
      else w.reject(o.error);
    });
  }

  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  get schemaVersion(): number {
    return Number((this.stmt('SELECT version FROM schema_version').get() as Row).version);
  }

  async putClient(c: ClientRecord): Promise<void> {
    this.forgetRows();
    this.stmt(
        `INSERT OR REPLACE INTO clients (id, name, secret_hash, public_key, audiences, scopes, grant_types, redirect_uris, resource_server, message_pop, tls_client_auth, require_par)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.id, c.name, c.secretHash ?? null, keyBlob(c.publicKey), JSON.stringify(c.audiences), JSON.stringify(c.scopes), JSON.stringify(c.grantTypes), JSON.stringify(c.redirectUris), c.resourceServer ? 1 : 0, c.messagePop ? 1 : 0, c.tlsClientAuth ? JSON.stringify(c.tlsClientAuth) : null, c.requirePar ? 1 : 0);
  }

  async getClient(id: string): Promise<ClientRecord | undefined> {
    const r = this.cachedRow('client', id, () => this.stmt('SELECT * FROM clients WHERE id = ?').get(id) as Row | undefined);
    return r ? rowToClient(r) : undefined;
  }

  /** A client or audience row, from the cache while no commit by anyone else has happened since. */
  private cachedRow(table: 'client' | 'audience', id: string, read: () => Row | undefined): Row | undefined {
    // Inside a transaction a row may be this connection's own uncommitted write, which a rollback
    // takes back unseen by data_version; an id longer than any registered one (a flood of long
    // made-up client_ids) is not worth keeping. Both are read from the database, as before.
    if (this.db.inTransaction || id.length > MAX_CACHED_ID_LENGTH) return read();
    if (!this.rowCacheChecked) {
      this.dataVersion ??= this.db.prepare('PRAGMA data_version').pluck();
      const version = this.dataVersion.get();
      if (version !== this.rowCacheVersion) {
        this.rowCache.clear();
        this.rowCacheVersion = version;
      }
      this.rowCacheChecked = true;
      setImmediate(() => {
        this.rowCacheChecked = false;
      });
    }
    const key = `${table}:${id}`;
    if (this.rowCache.has(key)) return this.rowCache.get(key);
    const row = read();
    // Unknown ids are remembered too (a flood of them must not cost a query each), within a bound.
    if (this.rowCache.size >= ROW_CACHE_ENTRIES) this.rowCache.clear();
    this.rowCache.set(key, row);
    return row;
  }

  /** This connection wrote clients or audiences: data_version does not see its own commits. */
  private forgetRows(): void {
    this.rowCache.clear();
  }

  async listClients(): Promise<ClientRecord[]> {
    return (this.stmt('SELECT * FROM clients ORDER BY id').all() as Row[]).map((r) => rowToClient(r));
  }

  async putAudience(a: AudienceRecord): Promise<void> {
    this.forgetRows();
    this.stmt(
        `INSERT INTO audiences (id, protection, mac_key, enc_key, rs_key, clockless, reference_tokens, policy)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET protection = excluded.protection, mac_key = excluded.mac_key, enc_key = excluded.enc_key,
           rs_key = excluded.rs_key, clockless = excluded.clockless, reference_tokens = excluded.reference_tokens, policy = excluded.policy`,
      )
      .run(a.id, a.protection, keyBlob(a.macKey), keyBlob(a.encKey), keyBlob(a.rsKey), a.clockless ? 1 : 0, a.referenceTokens ? 1 : 0, JSON.stringify(a.policy));
  }

  async getAudience(id: string): Promise<AudienceRecord | undefined> {
    // The record's columns only: the exi and TRL sequence numbers change with issuance and
    // revocation (on this connection, unseen by data_version) and have their own queries.
    const r = this.cachedRow('audience', id, () =>
      this.stmt('SELECT id, protection, mac_key, enc_key, rs_key, clockless, reference_tokens, policy FROM audiences WHERE id = ?').get(id) as Row | undefined,
    );
    return r ? rowToAudience(r) : undefined;
  }

  async listAudiences(): Promise<AudienceRecord[]> {
    return (this.stmt('SELECT * FROM audiences ORDER BY id').all() as Row[]).map((r) => rowToAudience(r));
  }

  async putUser(u: UserRecord): Promise<void> {
    this.stmt('INSERT OR REPLACE INTO users (username, password_hash) VALUES (?, ?)').run(u.username, u.passwordHash);
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const r = this.stmt('SELECT * FROM users WHERE username = ?').get(username) as Row | undefined;
    return r ? { username: r.username as string, passwordHash: r.password_hash as string } : undefined;
  }

  async listUsernames(): Promise<string[]> {
    return (this.stmt('SELECT username FROM users ORDER BY username').all() as Row[]).map((r) => r.username as string);
  }

  async deleteClient(id: string): Promise<boolean> {
    this.forgetRows();
    return this.db.transaction(() => {
      const deleted = this.stmt('DELETE FROM clients WHERE id = ?').run(id).changes > 0;
      if (!deleted) return false;
      // Its tokens go onto their audiences' revocation lists with it: once it is gone no one can
      // authenticate as it to revoke them (RFC 7009 §2.1), and a client is deleted because it
      // must no longer be served (a stolen or retired device, a leaked secret).
      const rows = this.stmt('SELECT rowid AS id FROM tokens WHERE client_id = ? AND revoked = 0').all(id) as Row[];
      this.revokeTrees(rows.map((r) => Number(r.id)));
      this.stmt('UPDATE refresh_tokens SET family_revoked = 1 WHERE client_id = ?').run(id);
      return true;
    })();
  }

  async deleteAudience(id: string): Promise<boolean> {
    this.forgetRows();
    return this.stmt('DELETE FROM audiences WHERE id = ?').run(id).changes > 0;
  }

  async deleteUser(username: string): Promise<boolean> {
    return this.stmt('DELETE FROM users WHERE username = ?').run(username).changes > 0;
  }

  async putAuthCode(c: AuthCodeRecord): Promise<void> {
    this.stmt(
        `INSERT INTO auth_codes (code_hash, client_id, username, redirect_uri, audience, scope, code_challenge, req_cnf, dpop_jkt, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.codeHash, c.clientId, c.username, c.redirectUri, c.audience, c.scope, c.codeChallenge, blob(c.reqCnf), c.dpopJkt ?? null, c.expiresAt);
  }

  async consumeAuthCode(codeHash: string, family: string): Promise<{ code?: AuthCodeRecord; replayed: boolean; family?: string }> {
    return this.db.transaction(() => {
      const r = this.stmt('SELECT * FROM auth_codes WHERE code_hash = ?').get(codeHash) as Row | undefined;
      if (!r) return { replayed: false };
      const code = rowToAuthCode(r);
      if (r.used === 1) return r.family == null ? { code, replayed: true } : { code, replayed: true, family: r.family as string };
      this.stmt('UPDATE auth_codes SET used = 1, family = ? WHERE code_hash = ?').run(family, codeHash);
      return { code: { ...code, family }, replayed: false };
    })();
  }

  async putDeviceCode(c: DeviceCodeRecord): Promise<void> {
    // Nothing else deletes a code nobody approved or polled to the end: drop those that expired
    // an hour before this one will (a poll of one by then only learns expired_token).
    this.stmt('DELETE FROM device_codes WHERE expires_at < ?').run(c.expiresAt - DEVICE_CODE_PRUNE_AFTER_S);
    this.stmt(
        `INSERT INTO device_codes (device_code_hash, user_code, client_id, audience, scope, req_cnf, expires_at, status, username, interval, last_polled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.deviceCodeHash, c.userCode, c.clientId, c.audience, c.scope, blob(c.reqCnf), c.expiresAt, c.status, c.username ?? null, c.interval, c.lastPolledAt);
  }

  async getDeviceCodeByHash(hash: string): Promise<DeviceCodeRecord | undefined> {
    const r = this.stmt('SELECT * FROM device_codes WHERE device_code_hash = ?').get(hash) as Row | undefined;
    return r ? rowToDeviceCode(r) : undefined;
  }

  async getDeviceCodeByUserCode(userCode: string): Promise<DeviceCodeRecord | undefined> {
    const r = this.stmt('SELECT * FROM device_codes WHERE user_code = ?').get(userCode) as Row | undefined;
    return r ? rowToDeviceCode(r) : undefined;
  }

  async pollDeviceCode(hash: string, now: number): Promise<DeviceCodeRecord | undefined> {
    return this.db.transaction(() => {
      const r = this.stmt('SELECT * FROM device_codes WHERE device_code_hash = ?').get(hash) as Row | undefined;
      if (!r) return undefined;
      this.stmt('UPDATE device_codes SET last_polled_at = ? WHERE device_code_hash = ?').run(now, hash);
      return rowToDeviceCode(r);
    })();
  }

  async setDeviceCodeInterval(hash: string, interval: number): Promise<void> {
    this.stmt('UPDATE device_codes SET interval = ? WHERE device_code_hash = ?').run(interval, hash);
  }

  async decideDeviceCode(userCode: string, status: 'approved' | 'denied', username: string): Promise<boolean> {
    const r = this.stmt(`UPDATE device_codes SET status = ?, username = ? WHERE user_code = ? AND status = 'pending'`)
      .run(status, username, userCode);
    return r.changes === 1;
  }

  async deleteDeviceCode(hash: string): Promise<boolean> {
    return this.stmt('DELETE FROM device_codes WHERE device_code_hash = ?').run(hash).changes === 1;
  }

  async recordDpopProof(jkt: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    if (++this.dpopProofs % DPOP_PRUNE_EVERY === 0) this.stmt('DELETE FROM dpop_proofs WHERE expires_at <= ?').run(now);
    // A pair whose record expired is taken over; a live one is left alone (no change: a replay).
    const r = this.stmt(
      `INSERT INTO dpop_proofs (jkt, jti, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= ?`,
    ).run(jkt, jti, expiresAt, now);
    return r.changes === 0;
  }

  async putPushedRequest(r: PushedRequestRecord, now: number): Promise<void> {
    if (++this.pushedRequests % PUSHED_PRUNE_EVERY === 0) this.stmt('DELETE FROM pushed_requests WHERE expires_at <= ?').run(now);
    this.stmt('INSERT INTO pushed_requests (uri_hash, client_id, params, expires_at) VALUES (?, ?, ?, ?)').run(r.uriHash, r.clientId, r.params, r.expiresAt);
  }

  async takePushedRequest(uriHash: string, clientId: string): Promise<PushedRequestRecord | undefined> {
    const r = this.stmt('DELETE FROM pushed_requests WHERE uri_hash = ? AND client_id = ? RETURNING *').get(uriHash, clientId) as Row | undefined;
    return r ? rowToPushedRequest(r) : undefined;
  }

  hitRateLimit(k: string, now: number, windowSeconds: number): Promise<number> {
    return this.groupCommit(() => {
      // Rows whose window passed long ago count for nothing (the next hit would reset them): drop
      // them now and then, so that attempts under ever new keys (user names) cannot grow the table.
      if (++this.rateLimitHits % RATE_LIMIT_PRUNE_EVERY === 0) this.stmt('DELETE FROM rate_limits WHERE window_start < ?').run(now - RATE_LIMIT_PRUNE_AFTER_S);
      // One statement: a new key, or a window that has passed, starts at 1; else one more. SET
      // expressions all read the row as it was, so both CASEs test the old window.
      const r = this.stmt(
        `INSERT INTO rate_limits (key, window_start, count) VALUES (@key, @now, 1)
         ON CONFLICT(key) DO UPDATE SET
           count = CASE WHEN @now - window_start >= @window THEN 1 ELSE count + 1 END,
           window_start = CASE WHEN @now - window_start >= @window THEN @now ELSE window_start END
         RETURNING count`,
      ).get({ key: k, now, window: windowSeconds }) as Row;
      return Number(r.count);
    });
  }

  async releaseRateLimit(k: string, now: number, windowSeconds: number): Promise<void> {
    // Only into the window the attempt (made at `now`) was counted in, never a later one; never below zero.
    await this.groupCommit(() => this.stmt('UPDATE rate_limits SET count = count - 1 WHERE key = ? AND count > 0 AND window_start <= ? AND ? - window_start < ?').run(k, now, now, windowSeconds));
  }

  async recordExiToken(audience: string, make: (sequence: bigint) => IssuedTokenRecord): Promise<void> {
    await this.groupCommit(() => {
      const r = this.stmt('UPDATE audiences SET exi_sequence = exi_sequence + 1 WHERE id = ? RETURNING exi_sequence')
        .safeIntegers(true)
        .get(audience) as Row | undefined;
      if (!r) throw new Error(`unknown audience ${audience}`);
      this.insertToken(make(r.exi_sequence as bigint));
    });
  }

  async recordToken(t: IssuedTokenRecord): Promise<void> {
    await this.groupCommit(() => this.insertToken(t));
  }

  private insertToken(t: IssuedTokenRecord): void {
    this.stmt(
        `INSERT INTO tokens (cti, token_hash, audience, client_id, subject, scope, issued_at, expires_at, cnf, reference, revoked, family, exi_seq, parent_hash, cti_in_token)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(t.cti, t.tokenHash, t.audience, t.clientId, t.subject, t.scope, t.issuedAt, t.expiresAt, blob(t.cnf), t.reference ? 1 : 0, t.revoked ? 1 : 0, t.family ?? null, t.exiSequence ?? null, t.parent ?? null, t.ctiInToken ? 1 : 0);
  }

  async purgeExpired(before: number, limit: number): Promise<{ deleted: number; more: boolean }> {
    return this.groupCommit(() => {
      const cursor = this.purgeCursor;
      let deleted = 0;
      if (cursor.table === 'tokens') {
        // Rowid order is issue order: once a token issued at or after `before` is read, none after
        // it can have expired before `before` (exp >= iat), so a step never reads the live tail.
        const rows = this.stmt('SELECT rowid AS id, issued_at, expires_at, exi_seq FROM tokens WHERE rowid > ? ORDER BY rowid LIMIT ?').all(cursor.rowid, limit) as Row[];
        let done = rows.length < limit;
        for (const r of rows) {
          if (Number(r.issued_at) >= before) {
            done = true;
            break;
          }
          cursor.rowid = Number(r.id);
          if (r.exi_seq == null && Number(r.expires_at) < before) deleted += this.stmt('DELETE FROM tokens WHERE rowid = ?').run(r.id).changes;
        }
        if (done) {
          // Revoked tokens are few: their table goes in one statement.
          deleted += this.stmt('DELETE FROM revocations WHERE exi_seq IS NULL AND expires_at < ?').run(before).changes;
          this.purgeCursor = { table: 'auth_codes', rowid: 0 };
        }
        return { deleted, more: true };
      }
      if (cursor.table === 'auth_codes') {
        // A used code stays while the grant it started does: its replay must still end that
        // grant (RFC 6749 §4.1.2), refresh tokens and access tokens alike (review 36). Those are
        // kept past the window (every live grant's code), so they are read `limit` at a time:
        // one statement over all of them stalled the event loop ~0.5 s a run at 300,000 live
        // grants, growing with them (review 36b).
        const rows = this.stmt('SELECT rowid AS id, family, expires_at FROM auth_codes WHERE rowid > ? ORDER BY rowid LIMIT ?').all(cursor.rowid, limit) as Row[];
        const liveRefresh = this.stmt('SELECT 1 FROM refresh_tokens WHERE family = ? AND expires_at >= ? LIMIT 1');
        const liveToken = this.stmt('SELECT 1 FROM tokens WHERE family = ? AND revoked = 0 AND (expires_at >= ? OR exi_seq IS NOT NULL) LIMIT 1');
        for (const r of rows) {
          cursor.rowid = Number(r.id);
          if (Number(r.expires_at) >= before) continue;
          if (r.family != null && (liveRefresh.get(r.family, before) !== undefined || liveToken.get(r.family, before) !== undefined)) continue;
          deleted += this.stmt('DELETE FROM auth_codes WHERE rowid = ?').run(r.id).changes;
        }
        if (rows.length < limit) this.purgeCursor = { table: 'refresh_tokens', rowid: 0 };
        return { deleted, more: true };
      }
      const rows = this.stmt('SELECT rowid AS id, family, expires_at FROM refresh_tokens WHERE rowid > ? ORDER BY rowid LIMIT ?').all(cursor.rowid, limit) as Row[];
      const family = this.stmt('SELECT 1 FROM refresh_tokens WHERE family = ? AND expires_at >= ? LIMIT 1');
      // An access token of the family may outlive its refresh tokens (an audience's lifetime has
      // no bound): a replayed used refresh token must still revoke it (review 36).
      const liveToken = this.stmt('SELECT 1 FROM tokens WHERE family = ? AND revoked = 0 AND (expires_at >= ? OR exi_seq IS NOT NULL) LIMIT 1');
      for (const r of rows) {
        cursor.rowid = Number(r.id);
        if (Number(r.expires_at) < before && family.get(r.family, before) === undefined && liveToken.get(r.family, before) === undefined) {
          deleted += this.stmt('DELETE FROM refresh_tokens WHERE rowid = ?').run(r.id).changes;
        }
      }
      if (rows.length < limit) this.purgeCursor = { table: 'tokens', rowid: 0 };
      return { deleted, more: rows.length === limit };
    });
  }

  /**
   * The rowid of a token named by its hash (and cti, store.ts TokenRef): by the cti key when given
   * (the hash must match as well), then by the partial hash index, which holds only the tokens
   * that show no cti (migration 13). Both, as PgStore's NAMED_TOKEN: a hash-indexed record is
   * found by its hash whatever cti the caller read (one of a reference token's random handles
   * could parse as a CWT).
   */
  private tokenRowid(tokenHash: string, cti: string | undefined): number | undefined {
    const r = ((cti !== undefined ? this.stmt('SELECT rowid AS id FROM tokens WHERE cti = ? AND token_hash = ?').get(cti, tokenHash) : undefined) ??
      this.stmt('SELECT rowid AS id FROM tokens WHERE token_hash = ? AND cti_in_token = 0').get(tokenHash)) as Row | undefined;
    return r ? Number(r.id) : undefined;
  }

  async getTokenByHash(tokenHash: string, cti?: string): Promise<IssuedTokenRecord | undefined> {
    const id = this.tokenRowid(tokenHash, cti);
    const r = id === undefined ? undefined : (this.stmt('SELECT * FROM tokens WHERE rowid = ?').get(id) as Row | undefined);
    return r ? rowToToken(r) : undefined;
  }

  /** Inside a transaction: revoke one token row onto its audience's TRL. */
  private revokeRow(r: Row): void {
    this.stmt('UPDATE tokens SET revoked = 1 WHERE rowid = ?').run(r.id);
    const seq = this.stmt('UPDATE audiences SET trl_sequence = trl_sequence + 1 WHERE id = ? RETURNING trl_sequence').get(r.audience) as Row;
    this.stmt('INSERT INTO revocations (audience, token_hash, expires_at, sequence, exi_seq, issued_at) VALUES (?, ?, ?, ?, ?, ?)').run(r.audience, r.token_hash, r.expires_at, seq.trl_sequence, r.exi_seq ?? null, r.issued_at);
  }

  /**
   * Inside a transaction: revoke the unrevoked tokens of `roots` (rowids) and of everything
   * exchanged from them, found by their parent's hash (tokens_parent), not by a hash index.
   */
  private revokeTrees(roots: readonly number[]): string[] {
    const audiences = new Set<string>();
    for (const root of roots) {
      // UNION (not UNION ALL) visits each token once, whatever the shape of the exchange chains.
      const rows = this.stmt(
        `WITH RECURSIVE tree(id, h) AS (SELECT rowid, token_hash FROM tokens WHERE rowid = ?
           UNION SELECT t.rowid, t.token_hash FROM tokens t JOIN tree ON t.parent_hash = tree.h)
         SELECT rowid AS id, token_hash, audience, issued_at, expires_at, exi_seq FROM tokens WHERE rowid IN (SELECT id FROM tree) AND revoked = 0`,
      ).all(root) as Row[];
      for (const r of rows) {
        this.revokeRow(r);
        audiences.add(r.audience as string);
      }
    }
    return [...audiences];
  }

  async revokeToken(tokenHash: string, cti?: string): Promise<string[]> {
    return this.db.transaction(() => {
      const id = this.tokenRowid(tokenHash, cti);
      return id === undefined ? [] : this.revokeTrees([id]);
    })();
  }

  async tokenHashByCti(cti: string): Promise<string | undefined> {
    const r = this.stmt('SELECT token_hash FROM tokens WHERE cti = ?').get(cti) as Row | undefined;
    return r ? (r.token_hash as string) : undefined;
  }

  async liveTokenConfirmations(clientId: string, audience: string, now: number, limit: number): Promise<Array<{ cnf: Uint8Array; token: TokenRef }>> {
    const rows = this.stmt('SELECT cnf, token_hash, cti FROM tokens WHERE client_id = ? AND audience = ? AND revoked = 0 AND cnf IS NOT NULL AND (expires_at > ? OR exi_seq IS NOT NULL) ORDER BY issued_at DESC LIMIT ?').all(clientId, audience, now, limit) as Row[];
    return rows.map((r) => ({ cnf: u8(r.cnf)!, token: { tokenHash: r.token_hash as string, cti: r.cti as string } }));
  }

  async liveTokens(clientId: string, now: number): Promise<TokenRef[]> {
    const rows = this.stmt('SELECT token_hash, cti FROM tokens WHERE client_id = ? AND revoked = 0 AND (expires_at > ? OR exi_seq IS NOT NULL)').all(clientId, now) as Row[];
    return rows.map((r) => ({ tokenHash: r.token_hash as string, cti: r.cti as string }));
  }

  async linkExchangedToken(token: TokenRef, subject: TokenRef): Promise<boolean> {
    return this.db.transaction(() => {
      const subjectId = this.tokenRowid(subject.tokenHash, subject.cti);
      const subjectRow = subjectId === undefined ? undefined : (this.stmt('SELECT family, revoked FROM tokens WHERE rowid = ?').get(subjectId) as Row | undefined);
      const id = this.tokenRowid(token.tokenHash, token.cti);
      if (id !== undefined) this.stmt('UPDATE tokens SET family = ?, parent_hash = ? WHERE rowid = ?').run(subjectRow?.family ?? null, subject.tokenHash, id);
      if (subjectRow && subjectRow.revoked === 0) return true;
      if (id !== undefined) this.revokeTrees([id]);
      return false;
    })();
  }

  async revokeFamily(family: string, now: number): Promise<string[]> {
    return this.db.transaction(() => {
      // An exi token may be live at its device long after issue + exi: revoke it whatever its expiry.
      const rows = this.stmt('SELECT rowid AS id FROM tokens WHERE family = ? AND revoked = 0 AND (expires_at > ? OR exi_seq IS NOT NULL)').all(family, now) as Row[];
      // Exchanged tokens carry their subject's family; the trees also reach any exchanged from a
      // family token before it joined (see linkExchangedToken).
      const audiences = this.revokeTrees(rows.map((r) => Number(r.id)));
      this.stmt('UPDATE refresh_tokens SET family_revoked = 1 WHERE family = ?').run(family);
      return audiences;
    })();
  }

  async revocationList(audience: string, now: number): Promise<RevocationListState> {
    return this.db.transaction(() => {
      const a = this.stmt('SELECT trl_sequence, exi_sequence, clockless FROM audiences WHERE id = ?').get(audience) as Row | undefined;
      let exiFloor: number | undefined;
      // Once an audience has had exi tokens it keeps its floor, clock-less or not now: devices
      // count exi from receipt, so a revoked exi token the list drops must stay below the floor
      // after a re-registration without clockless, too.
      if (a && (a.clockless === 1 || Number(a.exi_sequence) > 0)) {
        // Every exi token below the oldest one still inside issue + exi has lapsed by the service's clock.
        const live = this.stmt('SELECT MIN(exi_seq) AS m FROM tokens WHERE audience = ? AND exi_seq IS NOT NULL AND expires_at > ?').get(audience, now) as Row;
        exiFloor = live.m != null ? Number(live.m) - 1 : Number(a.exi_sequence);
      }
      const rows = this.stmt(
        `SELECT r.token_hash, r.expires_at, COALESCE(r.issued_at, 0) AS issued_at FROM revocations r
         WHERE r.audience = ? AND (r.expires_at > ? OR (r.exi_seq IS NOT NULL AND r.exi_seq > ?)) ORDER BY r.sequence`,
      ).all(audience, now, exiFloor ?? Number.MAX_SAFE_INTEGER) as Row[];
      return {
        sequence: a ? Number(a.trl_sequence) : 0,
        entries: rows.map((r) => ({ tokenHash: r.token_hash as string, expiresAt: Number(r.expires_at), issuedAt: Number(r.issued_at) })),
        ...(exiFloor !== undefined ? { exiFloor } : {}),
      };
    })();
  }

  async putRefreshToken(t: RefreshTokenRecord): Promise<void> {
    this.stmt(
        `INSERT INTO refresh_tokens (token_hash, family, client_id, audience, scope, subject, req_cnf, dpop_jkt, expires_at, used)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(t.tokenHash, t.family, t.clientId, t.audience, t.scope, t.subject, blob(t.reqCnf), t.dpopJkt ?? null, t.expiresAt, t.used ? 1 : 0);
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const r = this.stmt('SELECT * FROM refresh_tokens WHERE token_hash = ? AND family_revoked = 0').get(tokenHash) as Row | undefined;
    return r ? rowToRefreshToken(r) : undefined;
  }

  async rotateRefreshToken(oldHash: string, next: RefreshTokenRecord, now: number): Promise<RotateResult> {
    return this.db.transaction((): RotateResult => {
      const r = this.stmt('SELECT * FROM refresh_tokens WHERE token_hash = ?').get(oldHash) as Row | undefined;
      if (!r || r.family_revoked === 1) return { ok: false, reason: 'unknown' };
      if (r.used === 1) {
        // RFC 9700 §4.14.2: a used refresh token came back, so one of two holders is an attacker; end the family.
        this.stmt('UPDATE refresh_tokens SET family_revoked = 1 WHERE family = ?').run(r.family);
        return { ok: false, reason: 'reused' };
      }
      if (Number(r.expires_at) <= now) return { ok: false, reason: 'expired' };
      this.stmt('UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?').run(oldHash);
      this.stmt(
          `INSERT INTO refresh_tokens (token_hash, family, client_id, audience, scope, subject, req_cnf, dpop_jkt, expires_at, used)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
        )
        .run(next.tokenHash, next.family, next.clientId, next.audience, next.scope, next.subject, blob(next.reqCnf), next.dpopJkt ?? null, next.expiresAt);
      return { ok: true };
    })();
  }

  async putSigningKey(k: SigningKeyRecord): Promise<void> {
    this.stmt('INSERT OR REPLACE INTO signing_keys (kid, alg, public_key, created_at, retired_at, publish_until) VALUES (?, ?, ?, ?, ?, ?)')
      .run(k.kid, k.alg, keyBlob(k.publicKey), k.createdAt, k.retiredAt ?? null, k.publishUntil ?? null);
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return (this.stmt('SELECT * FROM signing_keys ORDER BY created_at, kid').all() as Row[]).map(rowToSigningKey);
  }

  async retireSigningKey(kid: string, at: number, publishUntil: number): Promise<void> {
    this.stmt('UPDATE signing_keys SET retired_at = ?, publish_until = ? WHERE kid = ? AND retired_at IS NULL').run(at, publishUntil, kid);
  }

  close(): void {
    // Writes still queued are committed first: their callers are waiting for them.
    if (this.queued.length > 0) this.commitQueued();
    this.checkpointer?.close();
    this.db.close();
  }
}
