/**
 * The store for several service instances behind one address: PostgreSQL through `pg`. Every
 * atomic operation of AuthzStore is one conditional statement (UPDATE ... WHERE NOT used
 * RETURNING, INSERT ... ON CONFLICT ... RETURNING) or one transaction that locks what it reads
 * (SELECT ... FOR UPDATE), so that two instances racing on one code, refresh token, device code
 * or sequence number see one winner. Transactions run at READ COMMITTED; a deadlock or
 * serialization failure (two revocations locking audiences in different orders) is retried.
 * The schema is versioned by `schema_version` and migrated forward on open, under an advisory
 * lock so that instances starting together migrate once.
 */
import pg from 'pg';
import type { SealedKeyStore } from './key-vault.js';
import { StoreMigrationError } from './store-migration-error.js';
import { StoreSchemaNewerError } from './store-schema-newer-error.js';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_PENDING_PER_SESSION, MAX_SESSIONS, SESSION_LIFETIME, SESSIONS_PER_ADDRESS_WHEN_FULL, type BrowserSession, type PendingAuthorization, type SessionStore } from './browser-sessions.js';
import type {
  AudienceRecord,
  AuthCodeRecord,
  AuthzStore,
  ClientRecord,
  DeviceCodeRecord,
  IssuedTokenRecord,
  RefreshTokenRecord,
  RevocationListState,
  TokenRef,
  RotateResult,
  SigningKeyRecord,
  UserRecord,
  PushedRequestRecord,
} from './store.js';
import { RATE_LIMIT_PRUNE_AFTER_S } from './sqlite-store.js';
import { blob, keyBlob, u8, rowToAudience, rowToAuthCode, rowToClient, rowToDeviceCode, rowToPushedRequest, rowToRefreshToken, rowToSigningKey, rowToToken, type Row } from './store-rows.js';

/**
 * Each entry moves the schema from version i to i + 1. Append only. `alters`: the tables that
 * existed before it which it changes or indexes: an upgrade locks all of those of its pending
 * migrations at once, before it changes anything (see runMigrations).
 */
const MIGRATIONS: ReadonlyArray<{ sql: string; alters?: readonly string[] }> = [
  { sql: `CREATE TABLE clients (id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT, public_key BYTEA,
     audiences TEXT NOT NULL, scopes TEXT NOT NULL, grant_types TEXT NOT NULL, redirect_uris TEXT NOT NULL,
     resource_server BOOLEAN NOT NULL DEFAULT FALSE);
   CREATE TABLE audiences (id TEXT PRIMARY KEY, protection TEXT NOT NULL, mac_key BYTEA NOT NULL, enc_key BYTEA NOT NULL,
     rs_key BYTEA, clockless BOOLEAN NOT NULL, reference_tokens BOOLEAN NOT NULL, policy TEXT NOT NULL,
     exi_sequence BIGINT NOT NULL DEFAULT 0, trl_sequence BIGINT NOT NULL DEFAULT 0);
   CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL);
   CREATE TABLE auth_codes (code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, username TEXT NOT NULL,
     redirect_uri TEXT NOT NULL, audience TEXT NOT NULL, scope TEXT NOT NULL, code_challenge TEXT NOT NULL,
     req_cnf BYTEA, expires_at BIGINT NOT NULL, used BOOLEAN NOT NULL DEFAULT FALSE, family TEXT);
   CREATE TABLE device_codes (device_code_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
     audience TEXT NOT NULL, scope TEXT NOT NULL, req_cnf BYTEA, expires_at BIGINT NOT NULL, status TEXT NOT NULL,
     username TEXT, interval INTEGER NOT NULL, last_polled_at BIGINT NOT NULL);
   CREATE INDEX device_codes_expiry ON device_codes (expires_at);
   CREATE TABLE rate_limits (key TEXT PRIMARY KEY, window_start BIGINT NOT NULL, count INTEGER NOT NULL);
   CREATE TABLE tokens (cti TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, audience TEXT NOT NULL,
     client_id TEXT NOT NULL, subject TEXT NOT NULL, scope TEXT NOT NULL, issued_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL, cnf BYTEA, reference BOOLEAN NOT NULL, revoked BOOLEAN NOT NULL DEFAULT FALSE,
     family TEXT, exi_seq BIGINT, parent_hash TEXT);
   CREATE INDEX tokens_family ON tokens (family);
   CREATE INDEX tokens_exi ON tokens (audience, exi_seq) WHERE exi_seq IS NOT NULL;
   CREATE INDEX tokens_parent ON tokens (parent_hash);
   CREATE TABLE revocations (audience TEXT NOT NULL, token_hash TEXT NOT NULL, expires_at BIGINT NOT NULL,
     sequence BIGINT NOT NULL, exi_seq BIGINT, PRIMARY KEY (audience, token_hash));
   CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, client_id TEXT NOT NULL,
     audience TEXT NOT NULL, scope TEXT NOT NULL, subject TEXT NOT NULL, req_cnf BYTEA, expires_at BIGINT NOT NULL,
     used BOOLEAN NOT NULL DEFAULT FALSE, family_revoked BOOLEAN NOT NULL DEFAULT FALSE);
   CREATE INDEX refresh_family ON refresh_tokens (family);
   CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg INTEGER NOT NULL, public_key BYTEA NOT NULL,
     created_at BIGINT NOT NULL, retired_at BIGINT, publish_until BIGINT);` },
  // Private signing keys, sealed by key-vault.ts under a KEK the database never sees: every
  // instance signs with the key any instance rotated to.
  { sql: `CREATE TABLE sealed_signing_keys (kid TEXT PRIMARY KEY, sealed BYTEA NOT NULL);` },
  // As SQLite's: `authz revoke --client ID` finds a client's live tokens; per-message PoP.
  { sql: `CREATE INDEX tokens_client ON tokens (client_id);
   ALTER TABLE clients ADD COLUMN message_pop BOOLEAN NOT NULL DEFAULT FALSE;`, alters: ['tokens', 'clients'] },
  // Browser sessions shared by the instances (browser-sessions.ts SessionStore): a login at one
  // continues at another. Keyed by SHA-256 of the session id: a read of the database yields no
  // cookie that signs anyone in.
  { sql: `CREATE TABLE browser_sessions (id_hash TEXT PRIMARY KEY, csrf TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
     username TEXT, address TEXT NOT NULL, seq BIGSERIAL NOT NULL);
   CREATE INDEX browser_sessions_age ON browser_sessions (seq);
   CREATE INDEX browser_sessions_address ON browser_sessions (address, seq);
   CREATE TABLE pending_authorizations (session_hash TEXT NOT NULL REFERENCES browser_sessions (id_hash) ON DELETE CASCADE,
     request_hash TEXT NOT NULL, request TEXT NOT NULL, seq BIGSERIAL NOT NULL, PRIMARY KEY (session_hash, request_hash));` },
  // As SQLite's: the DPoP replay record (RFC 9449 §11.1) and the DPoP keys codes and refresh tokens are bound to.
  { sql: `CREATE TABLE dpop_proofs (jkt TEXT NOT NULL, jti TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (jkt, jti));
   CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);
   ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
   ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;`, alters: ['auth_codes', 'refresh_tokens'] },
  // RFC 8705 §2: certificate client authentication chosen at registration; RFC 9126: per-client
  // require_pushed_authorization_requests and the pushed requests (one use, until expiry).
  { sql: `ALTER TABLE clients ADD COLUMN tls_client_auth TEXT;
   ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
   CREATE TABLE pushed_requests (uri_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, params TEXT NOT NULL, expires_at BIGINT NOT NULL);
   CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);`, alters: ['clients'] },
  // As SQLite's: tokens without a grant family or a parent (most) stay out of those indexes;
  // `family = $1` and `parent_hash = $1` imply IS NOT NULL, so the lookups still use them.
  // Other instances' reads and writes of tokens wait for the two builds (0.4 s a million tokens,
  // measured): the upgrade holds ACCESS EXCLUSIVE on tokens (runMigrations). Built under new names
  // and swapped in at the end instead, under a SHARE lock, readers would get through, but
  // SHARE is then upgraded, which deadlocked with a previous release's read-then-write
  // transactions (revokeFamily, linkExchangedToken) in a review.
  { sql: `DROP INDEX IF EXISTS tokens_family;
   CREATE INDEX tokens_family ON tokens (family) WHERE family IS NOT NULL;
   DROP INDEX IF EXISTS tokens_parent;
   CREATE INDEX tokens_parent ON tokens (parent_hash) WHERE parent_hash IS NOT NULL;`, alters: ['tokens'] },
  // Retention (purgeExpired) deletes expired codes and revocations by expires_at: without an index
  // each run read both tables whole, on every instance, each hour (as SQLite's, review 36).
  { sql: `CREATE INDEX IF NOT EXISTS auth_codes_expiry ON auth_codes (expires_at);
   CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations (expires_at);`, alters: ['auth_codes', 'revocations'] },
  // The contract of SQLite's migration 13: a token that shows its cti is found by cti and hash
  // together only (store.ts ctiInToken). Here the hash index stays (a constant default: no rewrite
  // of the table), but the lookups keep to the same rule, so both stores answer alike.
  { sql: `ALTER TABLE tokens ADD COLUMN IF NOT EXISTS cti_in_token BOOLEAN NOT NULL DEFAULT FALSE;`, alters: ['tokens'] },
  // As SQLite's: the prune of old rate-limit windows (every 256 hits) reads them by index, not the
  // whole table, which a fleet's client assertions (a replay record each) make large.
  { sql: `CREATE INDEX IF NOT EXISTS rate_limits_window ON rate_limits (window_start);`, alters: ['rate_limits'] },
];

/** A token named by hash ($1) and cti ($2, or NULL): one that shows its cti must be named by both (store.ts ctiInToken). */
const NAMED_TOKEN = 'token_hash = $1 AND (NOT cti_in_token OR cti = $2)';

/** Any number: instances of keybound on one database take this advisory lock to migrate. */
const MIGRATION_LOCK = 0x6b6579626f756e64n; // "keybound"
/** SQLSTATEs after which a transaction is simply run again (PostgreSQL manual, Appendix A). */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;
/** lock_not_available (a lock wait ran past lock_timeout) and deadlock_detected. */
const LOCK_FAILURES = new Set(['55P03', '40P01']);
/** query_canceled: statement_timeout (here: the LOCK TABLE of a migration's tables ran past its wait). */
const QUERY_CANCELED = '57014';
/**
 * How long a migration waits for its table locks a try, and how often it tries. The wait is
 * short because a lock request queued behind another connection's transaction holds every later
 * request on that table (other instances' reads and writes) behind it; between tries the
 * migration steps back, still holding the migration lock, so that they get through.
 */
const MIGRATION_LOCK_TIMEOUT_MS = 200;
const MIGRATION_ATTEMPTS = 10;
/** The longest step back between tries, whatever the wait. */
const MIGRATION_MAX_BACKOFF_MS = 5000;
const DEVICE_CODE_PRUNE_AFTER_S = 3600;
const RATE_LIMIT_PRUNE_EVERY = 256;
/** Expired DPoP (jkt, jti) pairs are deleted once per this many proofs. */
const DPOP_PRUNE_EVERY = 256;
/** Expired pushed requests (never used) are deleted once per this many pushes. */
const PUSHED_PRUNE_EVERY = 256;

type Query = (sql: string, params?: unknown[]) => Promise<Row[]>;

const idHash = (id: string): string => createHash('sha256').update(id).digest('hex');

function pendingText(p: PendingAuthorization): string {
  return JSON.stringify({ ...p, ...(p.reqCnf ? { reqCnf: Buffer.from(p.reqCnf).toString('base64') } : {}) });
}

function pendingOf(text: string): PendingAuthorization {
  const o = JSON.parse(text) as PendingAuthorization & { reqCnf?: string };
  const { reqCnf, ...rest } = o;
  return reqCnf ? { ...rest, reqCnf: new Uint8Array(Buffer.from(reqCnf, 'base64')) } : rest;
}

/**
 * A session's pending requests as read from the database, where they are keyed by the hash of
 * their id: looked up by id (hashed on the way), as the memory store's Map is.
 */
class HashedPending extends Map<string, PendingAuthorization> {
  constructor(private readonly hashed: Map<string, PendingAuthorization>) {
    super();
  }
  override get(id: string): PendingAuthorization | undefined {
    return super.get(id) ?? this.hashed.get(idHash(id));
  }
  override has(id: string): boolean {
    return super.has(id) || this.hashed.has(idHash(id));
  }
  override delete(id: string): boolean {
    return super.delete(id) || this.hashed.delete(idHash(id));
  }
  override get size(): number {
    return super.size + this.hashed.size;
  }
  /** Every entry keyed by the hash of its id. */
  byHash(): Map<string, PendingAuthorization> {
    const all = new Map(this.hashed);
    for (const [id, p] of super.entries()) all.set(idHash(id), p);
    return all;
  }
}

export interface PgStoreOptions {
  /** Connections this instance keeps at most (pg.Pool `max`). */
  poolSize?: number;
  /**
   * How long a schema migration waits for its table locks before it rolls back, steps back and
   * tries again (200 ms; 10 tries). An integer from 1 to 2^31 - 1.
   */
  migrationLockTimeoutMs?: number;
}

export class PgStore implements AuthzStore, SealedKeyStore, SessionStore {
  private rateLimitHits = 0;
  private dpopProofs = 0;
  private pushedRequests = 0;

  private constructor(readonly pool: pg.Pool) {}

  /** Connects and migrates the schema; `url` is a postgres:// connection string. */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const lockTimeoutMs = opts.migrationLockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
    if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 1 || lockTimeoutMs > 2 ** 31 - 1) {
      throw new RangeError('migrationLockTimeoutMs must be an integer number of milliseconds from 1 to 2^31 - 1');
    }
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    // An idle connection dropped by the server must not crash the process (pg emits 'error').
    pool.on('error', () => {});
    const store = new PgStore(pool);
    try {
      await store.migrate(lockTimeoutMs);
    } catch (e) {
      await pool.end();
      throw e;
    }
    return store;
  }

  /**
   * Migrates in one transaction on one connection, under the migration lock. The pending
   * migrations run in a savepoint that is rolled back and tried again when a table lock cannot be
   * had within the wait; between tries the instance keeps the migration lock, so that instances
   * starting together do not fill its step back with their own tries.
   */
  private async migrate(lockTimeoutMs: number): Promise<void> {
    const c = await this.pool.connect();
    // The connection lost meanwhile (terminated, a failover) must fail the open, not the process:
    // pg emits 'error' on a client checked out of the pool, as this one is through the steps back.
    let lost: Error | undefined;
    const onError = (e: Error): void => {
      lost = e;
    };
    c.on('error', onError);
    let failed = false;
    try {
      await c.query('BEGIN');
      await this.runMigrations(c, lockTimeoutMs);
      await c.query('COMMIT');
    } catch (e) {
      failed = true;
      if (!lost) await c.query('ROLLBACK').catch(() => {});
      throw lost ?? e;
    } finally {
      c.off('error', onError);
      // After a failure the connection is not reused (it may be broken, or mid-transaction).
      c.release(failed);
    }
  }

  private async runMigrations(c: pg.PoolClient, lockTimeoutMs: number): Promise<void> {
    // Instances starting together wait here for one another, as long as a migration takes: no
    // timeout an operator set for the database or role applies to that wait, to an index build or
    // to the steps back between tries (transaction-local, as the lock_timeout below).
    // (Those this server has: PostgreSQL 17 added transaction_timeout.)
    await c.query(
      "SELECT set_config(name, '0', true) FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout', 'idle_in_transaction_session_timeout', 'transaction_timeout')",
    );
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const rows = (await c.query('SELECT version FROM schema_version')).rows as Row[];
    const version = rows[0] ? Number(rows[0].version) : 0;
    if (!rows[0]) await c.query('INSERT INTO schema_version (version) VALUES (0)');
    if (version > MIGRATIONS.length) throw new StoreSchemaNewerError(version, MIGRATIONS.length);
    if (version === MIGRATIONS.length) return;
    const pending = MIGRATIONS.slice(version);
    // Every table the pending migrations change, locked at once in one order before any change:
    // a weaker lock taken by one migration (CREATE INDEX's SHARE) and a stronger one asked for
    // by a later one would be a lock upgrade, which deadlocks with other instances' transactions.
    // (Only those that exist: a table made by a pending migration is no one else's yet.)
    const named = [...new Set(pending.flatMap((m) => m.alters ?? []))].sort();
    const tables = ((await c.query('SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL ORDER BY t', [named])).rows as Row[]).map((r) => r.t as string);
    await c.query("SELECT set_config('lock_timeout', $1, true)", [`${lockTimeoutMs}ms`]);
    for (let attempt = 1; ; attempt++) {
      await c.query('SAVEPOINT migration');
      let locking = false;
      try {
        if (tables.length) {
          // lock_timeout bounds each table's wait in turn, the statement's timeout all of them
          // together (its setting goes back to 0 after, or with the savepoint's rollback).
          locking = true;
          await c.query("SELECT set_config('statement_timeout', $1, true)", [`${lockTimeoutMs}ms`]);
          await c.query(`LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
          await c.query("SELECT set_config('statement_timeout', '0', true)");
          locking = false;
        }
        for (const m of pending) await c.query(m.sql);
        await c.query('UPDATE schema_version SET version = $1', [MIGRATIONS.length]);
        await c.query('RELEASE SAVEPOINT migration');
        return;
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (!LOCK_FAILURES.has(code) && !(locking && code === QUERY_CANCELED)) throw e;
        await c.query('ROLLBACK TO SAVEPOINT migration');
        if (attempt === MIGRATION_ATTEMPTS) {
          throw new StoreMigrationError(
            `schema migration could not lock ${tables.join(', ') || 'its tables'} in ${MIGRATION_ATTEMPTS} tries (each a wait of at most ${lockTimeoutMs} ms, or a deadlock): ` +
              'another connection keeps a transaction open on them; nothing was changed: end that transaction and start again',
            { cause: e },
          );
        }
        // Growing and jittered; what queued behind the last try gets through meanwhile.
        await sleep(Math.min(MIGRATION_MAX_BACKOFF_MS, lockTimeoutMs * attempt * (0.25 + Math.random() / 2)));
      }
    }
  }

  get schemaVersionCount(): number {
    return MIGRATIONS.length;
  }

  private async q(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, params)).rows as Row[];
  }

  /** Runs `body` in one transaction on one connection, again on deadlock/serialization failure. */
  private async tx<T>(body: (q: Query) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect();
      try {
        await c.query('BEGIN');
        const result = await body(async (sql, params = []) => (await c.query(sql, params)).rows as Row[]);
        await c.query('COMMIT');
        c.release();
        return result;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => {});
        c.release();
        if (attempt < MAX_ATTEMPTS && RETRYABLE.has((e as { code?: string }).code ?? '')) continue;
        throw e;
      }
    }
  }

  async putClient(c: ClientRecord): Promise<void> {
    await this.q(
      `INSERT INTO clients (id, name, secret_hash, public_key, audiences, scopes, grant_types, redirect_uris, resource_server, message_pop, tls_client_auth, require_par)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash, public_key = excluded.public_key,
         audiences = excluded.audiences, scopes = excluded.scopes, grant_types = excluded.grant_types,
         redirect_uris = excluded.redirect_uris, resource_server = excluded.resource_server, message_pop = excluded.message_pop,
         tls_client_auth = excluded.tls_client_auth, require_par = excluded.require_par`,
      [c.id, c.name, c.secretHash ?? null, keyBlob(c.publicKey), JSON.stringify(c.audiences), JSON.stringify(c.scopes), JSON.stringify(c.grantTypes), JSON.stringify(c.redirectUris), c.resourceServer, c.messagePop === true, c.tlsClientAuth ? JSON.stringify(c.tlsClientAuth) : null, c.requirePar === true],
    );
  }

  async getClient(id: string): Promise<ClientRecord | undefined> {
    const [r] = await this.q('SELECT * FROM clients WHERE id = $1', [id]);
    return r ? rowToClient(r) : undefined;
  }

  async listClients(): Promise<ClientRecord[]> {
    return (await this.q('SELECT * FROM clients ORDER BY id')).map((r) => rowToClient(r));
  }

  async putAudience(a: AudienceRecord): Promise<void> {
    await this.q(
      `INSERT INTO audiences (id, protection, mac_key, enc_key, rs_key, clockless, reference_tokens, policy)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET protection = excluded.protection, mac_key = excluded.mac_key, enc_key = excluded.enc_key,
         rs_key = excluded.rs_key, clockless = excluded.clockless, reference_tokens = excluded.reference_tokens, policy = excluded.policy`,
      [a.id, a.protection, keyBlob(a.macKey), keyBlob(a.encKey), keyBlob(a.rsKey), a.clockless, a.referenceTokens, JSON.stringify(a.policy)],
    );
  }

  async getAudience(id: string): Promise<AudienceRecord | undefined> {
    const [r] = await this.q('SELECT * FROM audiences WHERE id = $1', [id]);
    return r ? rowToAudience(r) : undefined;
  }

  async listAudiences(): Promise<AudienceRecord[]> {
    return (await this.q('SELECT * FROM audiences ORDER BY id')).map((r) => rowToAudience(r));
  }

  async putUser(u: UserRecord): Promise<void> {
    await this.q('INSERT INTO users (username, password_hash) VALUES ($1, $2) ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash', [u.username, u.passwordHash]);
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const [r] = await this.q('SELECT * FROM users WHERE username = $1', [username]);
    return r ? { username: r.username as string, passwordHash: r.password_hash as string } : undefined;
  }

  async listUsernames(): Promise<string[]> {
    return (await this.q('SELECT username FROM users ORDER BY username')).map((r) => r.username as string);
  }

  async deleteClient(id: string): Promise<boolean> {
    return this.tx(async (q) => {
      if ((await q('DELETE FROM clients WHERE id = $1 RETURNING 1', [id])).length === 0) return false;
      // As SqliteStore: its tokens go onto their audiences' lists with it (no one can authenticate
      // as it to revoke them any more, RFC 7009 §2.1), its refresh families end.
      const rows = await q('SELECT token_hash FROM tokens WHERE client_id = $1 AND NOT revoked', [id]);
      await this.revokeTrees(q, rows.map((r) => r.token_hash as string));
      await q('UPDATE refresh_tokens SET family_revoked = TRUE WHERE client_id = $1', [id]);
      return true;
    });
  }

  async deleteAudience(id: string): Promise<boolean> {
    return (await this.q('DELETE FROM audiences WHERE id = $1 RETURNING 1', [id])).length > 0;
  }

  async deleteUser(username: string): Promise<boolean> {
    return (await this.q('DELETE FROM users WHERE username = $1 RETURNING 1', [username])).length > 0;
  }

  async putAuthCode(c: AuthCodeRecord): Promise<void> {
    await this.q(
      `INSERT INTO auth_codes (code_hash, client_id, username, redirect_uri, audience, scope, code_challenge, req_cnf, dpop_jkt, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [c.codeHash, c.clientId, c.username, c.redirectUri, c.audience, c.scope, c.codeChallenge, blob(c.reqCnf), c.dpopJkt ?? null, c.expiresAt],
    );
  }

  async consumeAuthCode(codeHash: string, family: string): Promise<{ code?: AuthCodeRecord; replayed: boolean; family?: string }> {
    // One conditional UPDATE: of two instances redeeming the same code, PostgreSQL lets exactly
    // one see `used = false` (the other waits on the row lock, then re-checks and matches nothing).
    const [won] = await this.q('UPDATE auth_codes SET used = TRUE, family = $2 WHERE code_hash = $1 AND NOT used RETURNING *', [codeHash, family]);
    if (won) return { code: { ...rowToAuthCode(won), family }, replayed: false };
    const [r] = await this.q('SELECT * FROM auth_codes WHERE code_hash = $1', [codeHash]);
    if (!r) return { replayed: false };
    const code = rowToAuthCode(r);
    return r.family == null ? { code, replayed: true } : { code, replayed: true, family: r.family as string };
  }

  async putDeviceCode(c: DeviceCodeRecord): Promise<void> {
    await this.q('DELETE FROM device_codes WHERE expires_at < $1', [c.expiresAt - DEVICE_CODE_PRUNE_AFTER_S]);
    await this.q(
      `INSERT INTO device_codes (device_code_hash, user_code, client_id, audience, scope, req_cnf, expires_at, status, username, interval, last_polled_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [c.deviceCodeHash, c.userCode, c.clientId, c.audience, c.scope, blob(c.reqCnf), c.expiresAt, c.status, c.username ?? null, c.interval, c.lastPolledAt],
    );
  }

  async getDeviceCodeByHash(hash: string): Promise<DeviceCodeRecord | undefined> {
    const [r] = await this.q('SELECT * FROM device_codes WHERE device_code_hash = $1', [hash]);
    return r ? rowToDeviceCode(r) : undefined;
  }

  async getDeviceCodeByUserCode(userCode: string): Promise<DeviceCodeRecord | undefined> {
    const [r] = await this.q('SELECT * FROM device_codes WHERE user_code = $1', [userCode]);
    return r ? rowToDeviceCode(r) : undefined;
  }

  async pollDeviceCode(hash: string, now: number): Promise<DeviceCodeRecord | undefined> {
    // The row lock orders two instances' polls: each sees the poll time the other wrote, so a
    // device polling both too fast is told slow_down (RFC 8628 §3.5) by whichever comes second.
    return this.tx(async (q) => {
      const [r] = await q('SELECT * FROM device_codes WHERE device_code_hash = $1 FOR UPDATE', [hash]);
      if (!r) return undefined;
      await q('UPDATE device_codes SET last_polled_at = $2 WHERE device_code_hash = $1', [hash, now]);
      return rowToDeviceCode(r);
    });
  }

  async setDeviceCodeInterval(hash: string, interval: number): Promise<void> {
    await this.q('UPDATE device_codes SET interval = $2 WHERE device_code_hash = $1', [hash, interval]);
  }

  async decideDeviceCode(userCode: string, status: 'approved' | 'denied', username: string): Promise<boolean> {
    const rows = await this.q(`UPDATE device_codes SET status = $1, username = $2 WHERE user_code = $3 AND status = 'pending' RETURNING 1`, [status, username, userCode]);
    return rows.length === 1;
  }

  async deleteDeviceCode(hash: string): Promise<boolean> {
    return (await this.q('DELETE FROM device_codes WHERE device_code_hash = $1 RETURNING 1', [hash])).length === 1;
  }

  async recordDpopProof(jkt: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    if (++this.dpopProofs % DPOP_PRUNE_EVERY === 0) await this.q('DELETE FROM dpop_proofs WHERE expires_at <= $1', [now]);
    // One statement: of two instances inserting the same live pair, one inserts, the other updates nothing.
    const rows = await this.q(
      `INSERT INTO dpop_proofs (jkt, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= $4
       RETURNING jkt`,
      [jkt, jti, expiresAt, now],
    );
    return rows.length === 0;
  }

  async putPushedRequest(r: PushedRequestRecord, now: number): Promise<void> {
    if (++this.pushedRequests % PUSHED_PRUNE_EVERY === 0) await this.q('DELETE FROM pushed_requests WHERE expires_at <= $1', [now]);
    await this.q('INSERT INTO pushed_requests (uri_hash, client_id, params, expires_at) VALUES ($1, $2, $3, $4)', [r.uriHash, r.clientId, r.params, r.expiresAt]);
  }

  async takePushedRequest(uriHash: string, clientId: string): Promise<PushedRequestRecord | undefined> {
    // One statement: of two instances taking the same request, one gets the row.
    const [r] = await this.q('DELETE FROM pushed_requests WHERE uri_hash = $1 AND client_id = $2 RETURNING *', [uriHash, clientId]);
    return r ? rowToPushedRequest(r) : undefined;
  }

  async hitRateLimit(k: string, now: number, windowSeconds: number): Promise<number> {
    if (++this.rateLimitHits % RATE_LIMIT_PRUNE_EVERY === 0) await this.q('DELETE FROM rate_limits WHERE window_start < $1', [now - RATE_LIMIT_PRUNE_AFTER_S]);
    // One upsert: every instance's hits on one key are counted in the same row, none lost.
    const [r] = await this.q(
      `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN $2 - rate_limits.window_start >= $3 THEN 1 ELSE rate_limits.count + 1 END,
         window_start = CASE WHEN $2 - rate_limits.window_start >= $3 THEN $2 ELSE rate_limits.window_start END
       RETURNING count`,
      [k, now, windowSeconds],
    );
    return Number(r!.count);
  }

  async releaseRateLimit(k: string, now: number, windowSeconds: number): Promise<void> {
    await this.q('UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND count > 0 AND window_start <= $2 AND $2 - window_start < $3', [k, now, windowSeconds]);
  }

  async recordExiToken(audience: string, make: (sequence: bigint) => IssuedTokenRecord): Promise<void> {
    // The UPDATE holds the audience row until COMMIT: sequence numbers are taken one at a time
    // across instances, and none is visible before its token is recorded.
    await this.tx(async (q) => {
      const [r] = await q('UPDATE audiences SET exi_sequence = exi_sequence + 1 WHERE id = $1 RETURNING exi_sequence::text AS s', [audience]);
      if (!r) throw new Error(`unknown audience ${audience}`);
      await this.insertToken(q, make(BigInt(r.s as string)));
    });
  }

  async recordToken(t: IssuedTokenRecord): Promise<void> {
    await this.insertToken((sql, p) => this.q(sql, p), t);
  }

  private async insertToken(q: Query, t: IssuedTokenRecord): Promise<void> {
    await q(
      `INSERT INTO tokens (cti, token_hash, audience, client_id, subject, scope, issued_at, expires_at, cnf, reference, revoked, family, exi_seq, parent_hash, cti_in_token)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [t.cti, t.tokenHash, t.audience, t.clientId, t.subject, t.scope, t.issuedAt, t.expiresAt, blob(t.cnf), t.reference, t.revoked, t.family ?? null, t.exiSequence ?? null, t.parent ?? null, t.ctiInToken === true],
    );
  }

  async purgeExpired(before: number, limit: number): Promise<{ deleted: number; more: boolean }> {
    // No rowid to walk here: each step deletes up to `limit` matches (a scan that finds the old
    // rows first, as the heap keeps roughly insertion order), in its own short statement.
    const count = async (sql: string, params: unknown[]) => (await this.pool.query(sql, params)).rowCount ?? 0;
    const tokens = await count('DELETE FROM tokens WHERE cti IN (SELECT cti FROM tokens WHERE exi_seq IS NULL AND expires_at < $1 LIMIT $2)', [before, limit]);
    if (tokens === limit) return { deleted: tokens, more: true };
    // A family goes once its refresh tokens and its access tokens have all expired: an access
    // token may outlive the refresh tokens, and a replayed used one must still revoke it; a used
    // code stays as long, its replay ending the grant too (review 36).
    const liveTokenOf = (family: string) => `EXISTS (SELECT 1 FROM tokens t WHERE t.family = ${family} AND NOT t.revoked AND (t.expires_at >= $1 OR t.exi_seq IS NOT NULL))`;
    const families = await count(
      `DELETE FROM refresh_tokens WHERE family IN (SELECT r.family FROM refresh_tokens r GROUP BY r.family HAVING MAX(r.expires_at) < $1 AND NOT ${liveTokenOf('r.family')} LIMIT $2)`,
      [before, limit],
    );
    const rest =
      (await count('DELETE FROM revocations WHERE exi_seq IS NULL AND expires_at < $1', [before])) +
      (await count(
        `DELETE FROM auth_codes c WHERE c.expires_at < $1 AND (c.family IS NULL OR (
           NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family = c.family AND r.expires_at >= $1) AND NOT ${liveTokenOf('c.family')}))`,
        [before],
      ));
    return { deleted: tokens + families + rest, more: families >= limit };
  }

  async getTokenByHash(tokenHash: string, cti?: string): Promise<IssuedTokenRecord | undefined> {
    const [r] = await this.q(`SELECT * FROM tokens WHERE ${NAMED_TOKEN}`, [tokenHash, cti ?? null]);
    return r ? rowToToken(r) : undefined;
  }

  /**
   * Inside a transaction: revokes the unrevoked tokens of `roots` and of everything exchanged
   * from them. Each token is revoked by a conditional UPDATE, so of two instances revoking the
   * same token only one appends it to the TRL.
   */
  private async revokeTrees(q: Query, roots: readonly string[]): Promise<string[]> {
    const audiences = new Set<string>();
    for (const root of roots) {
      const rows = await q(
        `WITH RECURSIVE tree(h) AS (SELECT $1::text UNION SELECT t.token_hash FROM tokens t JOIN tree ON t.parent_hash = tree.h)
         UPDATE tokens SET revoked = TRUE WHERE token_hash IN (SELECT h FROM tree) AND NOT revoked
         RETURNING token_hash, audience, expires_at, exi_seq`,
        [root],
      );
      // A fixed order of audience locks keeps two revoking instances from deadlocking (mostly;
      // tx() retries the rest).
      rows.sort((a, b) => String(a.audience).localeCompare(String(b.audience)) || String(a.token_hash).localeCompare(String(b.token_hash)));
      for (const r of rows) {
        const [seq] = await q('UPDATE audiences SET trl_sequence = trl_sequence + 1 WHERE id = $1 RETURNING trl_sequence', [r.audience]);
        await q('INSERT INTO revocations (audience, token_hash, expires_at, sequence, exi_seq) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [r.audience, r.token_hash, r.expires_at, seq?.trl_sequence ?? 0, r.exi_seq ?? null]);
        audiences.add(r.audience as string);
      }
    }
    return [...audiences];
  }

  async revokeToken(tokenHash: string, cti?: string): Promise<string[]> {
    return this.tx(async (q) => {
      const [root] = await q(`SELECT 1 FROM tokens WHERE ${NAMED_TOKEN}`, [tokenHash, cti ?? null]);
      return root ? this.revokeTrees(q, [tokenHash]) : [];
    });
  }

  async tokenHashByCti(cti: string): Promise<string | undefined> {
    const [r] = await this.q('SELECT token_hash FROM tokens WHERE cti = $1', [cti]);
    return r ? (r.token_hash as string) : undefined;
  }

  async liveTokenConfirmations(clientId: string, audience: string, now: number, limit: number): Promise<Array<{ cnf: Uint8Array; token: TokenRef }>> {
    const rows = await this.q('SELECT cnf, token_hash, cti FROM tokens WHERE client_id = $1 AND audience = $2 AND NOT revoked AND cnf IS NOT NULL AND (expires_at > $3 OR exi_seq IS NOT NULL) ORDER BY issued_at DESC LIMIT $4', [clientId, audience, now, limit]);
    return rows.map((r) => ({ cnf: u8(r.cnf)!, token: { tokenHash: r.token_hash as string, cti: r.cti as string } }));
  }

  async liveTokens(clientId: string, now: number): Promise<TokenRef[]> {
    const rows = await this.q('SELECT token_hash, cti FROM tokens WHERE client_id = $1 AND NOT revoked AND (expires_at > $2 OR exi_seq IS NOT NULL)', [clientId, now]);
    return rows.map((r) => ({ tokenHash: r.token_hash as string, cti: r.cti as string }));
  }

  async linkExchangedToken(token: TokenRef, subject: TokenRef): Promise<boolean> {
    return this.tx(async (q) => {
      // FOR SHARE: a revocation of the subject (an UPDATE) waits for this link, or this waits for it.
      const [subjectRow] = await q(`SELECT family, revoked FROM tokens WHERE ${NAMED_TOKEN} FOR SHARE`, [subject.tokenHash, subject.cti ?? null]);
      const linked = await q(`UPDATE tokens SET family = $3, parent_hash = $4 WHERE ${NAMED_TOKEN} RETURNING 1`, [token.tokenHash, token.cti ?? null, subjectRow?.family ?? null, subject.tokenHash]);
      if (subjectRow && !subjectRow.revoked) return true;
      if (linked.length > 0) await this.revokeTrees(q, [token.tokenHash]);
      return false;
    });
  }

  async revokeFamily(family: string, now: number): Promise<string[]> {
    return this.tx(async (q) => {
      const rows = await q('SELECT token_hash FROM tokens WHERE family = $1 AND NOT revoked AND (expires_at > $2 OR exi_seq IS NOT NULL)', [family, now]);
      const audiences = await this.revokeTrees(q, rows.map((r) => r.token_hash as string));
      await q('UPDATE refresh_tokens SET family_revoked = TRUE WHERE family = $1', [family]);
      return audiences;
    });
  }

  async revocationList(audience: string, now: number): Promise<RevocationListState> {
    // One snapshot for the sequence, the floor and the entries (REPEATABLE READ).
    return this.tx(async (q) => {
      await q('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const [a] = await q('SELECT trl_sequence, exi_sequence, clockless FROM audiences WHERE id = $1', [audience]);
      let exiFloor: number | undefined;
      if (a && (a.clockless === true || Number(a.exi_sequence) > 0)) {
        const [live] = await q('SELECT MIN(exi_seq) AS m FROM tokens WHERE audience = $1 AND exi_seq IS NOT NULL AND expires_at > $2', [audience, now]);
        exiFloor = live?.m != null ? Number(live.m) - 1 : Number(a.exi_sequence);
      }
      const rows = await q(
        `SELECT r.token_hash, r.expires_at, COALESCE(t.issued_at, 0) AS issued_at FROM revocations r
         LEFT JOIN tokens t ON t.token_hash = r.token_hash
         WHERE r.audience = $1 AND (r.expires_at > $2 OR (r.exi_seq IS NOT NULL AND r.exi_seq > $3)) ORDER BY r.sequence`,
        [audience, now, exiFloor ?? Number.MAX_SAFE_INTEGER],
      );
      return {
        sequence: a ? Number(a.trl_sequence) : 0,
        entries: rows.map((r) => ({ tokenHash: r.token_hash as string, expiresAt: Number(r.expires_at), issuedAt: Number(r.issued_at) })),
        ...(exiFloor !== undefined ? { exiFloor } : {}),
      };
    });
  }

  async putRefreshToken(t: RefreshTokenRecord): Promise<void> {
    await this.q(
      `INSERT INTO refresh_tokens (token_hash, family, client_id, audience, scope, subject, req_cnf, dpop_jkt, expires_at, used)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [t.tokenHash, t.family, t.clientId, t.audience, t.scope, t.subject, blob(t.reqCnf), t.dpopJkt ?? null, t.expiresAt, t.used],
    );
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const [r] = await this.q('SELECT * FROM refresh_tokens WHERE token_hash = $1 AND NOT family_revoked', [tokenHash]);
    return r ? rowToRefreshToken(r) : undefined;
  }

  async rotateRefreshToken(oldHash: string, next: RefreshTokenRecord, now: number): Promise<RotateResult> {
    return this.tx(async (q): Promise<RotateResult> => {
      // FOR UPDATE: two instances rotating the same token are ordered; the second sees it used.
      const [r] = await q('SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE', [oldHash]);
      if (!r || r.family_revoked) return { ok: false, reason: 'unknown' };
      if (r.used) {
        // RFC 9700 §4.14.2: a used refresh token came back, so one of two holders is an attacker; end the family.
        await q('UPDATE refresh_tokens SET family_revoked = TRUE WHERE family = $1', [r.family]);
        return { ok: false, reason: 'reused' };
      }
      if (Number(r.expires_at) <= now) return { ok: false, reason: 'expired' };
      await q('UPDATE refresh_tokens SET used = TRUE WHERE token_hash = $1', [oldHash]);
      await q(
        `INSERT INTO refresh_tokens (token_hash, family, client_id, audience, scope, subject, req_cnf, dpop_jkt, expires_at, used)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE)`,
        [next.tokenHash, next.family, next.clientId, next.audience, next.scope, next.subject, blob(next.reqCnf), next.dpopJkt ?? null, next.expiresAt],
      );
      return { ok: true };
    });
  }

  async putSigningKey(k: SigningKeyRecord): Promise<void> {
    await this.q(
      `INSERT INTO signing_keys (kid, alg, public_key, created_at, retired_at, publish_until) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, public_key = excluded.public_key, created_at = excluded.created_at,
         retired_at = excluded.retired_at, publish_until = excluded.publish_until`,
      [k.kid, k.alg, keyBlob(k.publicKey), k.createdAt, k.retiredAt ?? null, k.publishUntil ?? null],
    );
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return (await this.q('SELECT * FROM signing_keys ORDER BY created_at, kid')).map(rowToSigningKey);
  }

  async retireSigningKey(kid: string, at: number, publishUntil: number): Promise<void> {
    await this.q('UPDATE signing_keys SET retired_at = $1, publish_until = $2 WHERE kid = $3 AND retired_at IS NULL', [at, publishUntil, kid]);
  }

  async putSealedKey(kid: string, sealed: Uint8Array): Promise<void> {
    // A kid is random and written once; a second write under it would be a bug, not a rotation.
    await this.q('INSERT INTO sealed_signing_keys (kid, sealed) VALUES ($1, $2)', [kid, blob(sealed)]);
  }

  async getSealedKey(kid: string): Promise<Uint8Array | undefined> {
    const [r] = await this.q('SELECT sealed FROM sealed_signing_keys WHERE kid = $1', [kid]);
    return r ? new Uint8Array(r.sealed as Buffer) : undefined;
  }

  async getSession(id: string): Promise<BrowserSession | undefined> {
    const h = idHash(id);
    const [r] = await this.q('SELECT * FROM browser_sessions WHERE id_hash = $1', [h]);
    if (!r) return undefined;
    const rows = await this.q('SELECT request_hash, request FROM pending_authorizations WHERE session_hash = $1 ORDER BY seq', [h]);
    // Pending requests are stored by the hash of their id too; HashedPending looks them up by id.
    const pending = new Map<string, PendingAuthorization>(rows.map((p) => [p.request_hash as string, pendingOf(p.request as string)]));
    const s: BrowserSession = { id, csrf: r.csrf as string, createdAt: Number(r.created_at), pending: new HashedPending(pending), address: r.address as string };
    if (r.username != null) s.user = r.username as string;
    return s;
  }

  async putSession(s: BrowserSession): Promise<void> {
    await this.tx(async (q) => {
      // Bounded as in memory (MAX_SESSIONS, an address that floods gives up its own oldest), and
      // sessions past their lifetime are gone for good.
      await q('DELETE FROM browser_sessions WHERE created_at < $1', [s.createdAt - SESSION_LIFETIME]);
      const [{ n }] = (await q('SELECT COUNT(*)::int AS n FROM browser_sessions')) as [{ n: number }];
      if (n >= MAX_SESSIONS) {
        const [{ own }] = (await q('SELECT COUNT(*)::int AS own FROM browser_sessions WHERE address = $1', [s.address])) as [{ own: number }];
        if (own >= SESSIONS_PER_ADDRESS_WHEN_FULL) await q('DELETE FROM browser_sessions WHERE id_hash = (SELECT id_hash FROM browser_sessions WHERE address = $1 ORDER BY seq LIMIT 1)', [s.address]);
        else await q('DELETE FROM browser_sessions WHERE id_hash = (SELECT id_hash FROM browser_sessions ORDER BY seq LIMIT 1)');
      }
      const h = idHash(s.id);
      await q('INSERT INTO browser_sessions (id_hash, csrf, created_at, username, address) VALUES ($1, $2, $3, $4, $5)', [h, s.csrf, s.createdAt, s.user ?? null, s.address]);
      const entries = s.pending instanceof HashedPending ? [...s.pending.byHash()] : [...s.pending].map(([id, p]) => [idHash(id), p] as const);
      for (const [rh, p] of entries) await q('INSERT INTO pending_authorizations (session_hash, request_hash, request) VALUES ($1, $2, $3)', [h, rh, pendingText(p)]);
    });
  }

  async deleteSession(id: string): Promise<void> {
    await this.q('DELETE FROM browser_sessions WHERE id_hash = $1', [idHash(id)]);
  }

  async addPending(s: BrowserSession, requestId: string, request: PendingAuthorization): Promise<void> {
    const h = idHash(s.id);
    await this.tx(async (q) => {
      await q('INSERT INTO pending_authorizations (session_hash, request_hash, request) VALUES ($1, $2, $3)', [h, idHash(requestId), pendingText(request)]);
      await q(
        `DELETE FROM pending_authorizations WHERE session_hash = $1 AND seq NOT IN
           (SELECT seq FROM pending_authorizations WHERE session_hash = $1 ORDER BY seq DESC LIMIT $2)`,
        [h, MAX_PENDING_PER_SESSION],
      );
    });
    s.pending.set(requestId, request);
  }

  async takePending(s: BrowserSession, requestId: string): Promise<PendingAuthorization | undefined> {
    // One DELETE ... RETURNING: of two instances handed the same consent form, one gets the request.
    const [r] = await this.q('DELETE FROM pending_authorizations WHERE session_hash = $1 AND request_hash = $2 RETURNING request', [idHash(s.id), idHash(requestId)]);
    s.pending.delete(requestId);
    return r ? pendingOf(r.request as string) : undefined;
  }

  /** Closes the pool; await `ended` to know the connections are gone. */
  close(): void {
    this.ended = this.pool.end();
  }

  ended: Promise<void> = Promise.resolve();
}
