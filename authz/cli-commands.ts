/**
 * The `keybound authz ...` commands as plain functions (the CLI in cli/ parses argv and calls
 * these; tests call them directly). Each opens the store itself: the data directory's SQLite
 * file, or PostgreSQL given `database` (several instances; private keys sealed under `kek`).
 */
import { closeSync, existsSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bundleToJson, encodeProvisioningBundle, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import type { Logger } from '../device/index.js';
import { SqliteStore } from './sqlite-store.js';
import { PgStore } from './pg-store.js';
import { FileKeyVault, readKekFile, SealedKeyVault, type KeyVault } from './key-vault.js';
import type { AuthzStore } from './store.js';
import { createAuthzServer, type AuthzServer, type AuthzServerOptions } from './server.js';
import { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
import { provisionDevice, registerAudience, registerClient, registerUser, RegistryError, type AudienceOptions, type ClientOptions } from './registry.js';
import { secretWeakness } from './secret-strength.js';
import { passwordWeakness } from './password-dictionary.js';
import { decideScope } from './policy.js';
import { revokeSelection, type RevokeResult, type RevokeSelection } from './operator-revocation.js';
import { rotateSigningKey, type RotationResult } from './operator-key-rotation.js';
import type { DpopSettings } from './dpop-binding.js';

export const DB_FILE = 'authz.sqlite';

/** Every command takes these: where the service's state is, and whether it may be created. */
export interface DataDirOptions {
  /** The SQLite service's state directory (store and private signing keys); not with `database`. */
  dataDir?: string;
  /** postgres://... : the store of several instances behind one address, instead of dataDir. */
  database?: string;
  /**
   * With `database`: the file of the key-encryption key that seals the private signing keys in
   * the database (32 random bytes, raw or hex). Every instance reads the same file; it is never
   * stored in the database. Needed by the commands that sign (serve, provision).
   */
  kekFile?: string;
  /**
   * Create the data directory (and so a new service with new signing keys) if it does not exist.
   * Off by default: a mistyped --data-dir must fail, not silently start a second service whose
   * tokens no provisioned device trusts.
   */
  init?: boolean;
}

interface OpenedStore {
  store: AuthzStore;
  /** Where the private signing keys are (undefined: PostgreSQL without a KEK, for registrations). */
  vault: KeyVault | undefined;
  close(): Promise<void>;
}

async function openStore(opts: DataDirOptions): Promise<OpenedStore> {
  if (opts.database !== undefined) {
    if (opts.dataDir !== undefined) throw new RegistryError('--database and --data-dir name two different services: give one', 'ERR_AUTHZ_REGISTRY');
    if (!/^postgres(ql)?:\/\//.test(opts.database)) throw new RegistryError('--database must be a postgres:// URL', 'ERR_AUTHZ_REGISTRY');
    // Read before connecting: a bad KEK file fails fast, without touching the database.
    const kek = opts.kekFile !== undefined ? readKekFile(opts.kekFile) : undefined;
    const store = await PgStore.open(opts.database);
    return {
      store,
      vault: kek ? new SealedKeyVault(store, kek) : undefined,
      close: async () => {
        store.close();
        await store.ended;
      },
    };
  }
  if (opts.dataDir === undefined) throw new RegistryError('--data-dir or --database is needed', 'ERR_AUTHZ_NO_DATA_DIR');
  if (!existsSync(opts.dataDir)) {
    if (!opts.init) throw new RegistryError(`the data directory ${JSON.stringify(opts.dataDir)} does not exist (a typo? serve or register-… with --init creates a new service there)`, 'ERR_AUTHZ_NO_DATA_DIR');
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  }
  let migrating: { to: number; started: number } | undefined;
  const store = new SqliteStore(join(opts.dataDir, DB_FILE), { onMigration: (from, to) => {
    migrating = { to, started: Date.now() };
    // A large store takes a while (schema 13 rebuilds the tokens table), and nothing else is said until it is done.
    process.stderr.write(`keybound: migrating the store's schema from ${from} to ${to}; a large store takes a while (about 5 s a million issued tokens)\n`);
  } });
  if (migrating) process.stderr.write(`keybound: store schema ${migrating.to}, migrated in ${((Date.now() - migrating.started) / 1000).toFixed(1)} s\n`);
  return { store, vault: new FileKeyVault(opts.dataDir), close: async () => store.close() };
}

function vaultOf(opened: OpenedStore): KeyVault {
  if (!opened.vault) throw new RegistryError('--database needs --kek-file (or KEYBOUND_KEK_FILE): the key that seals the signing keys', 'ERR_AUTHZ_REGISTRY');
  return opened.vault;
}

export async function authzServe(opts: DataDirOptions & {
  port?: number;
  host?: string;
  issuer?: string;
  adminToken?: string;
  /** PEM certificate chain and key: serve HTTPS; with clientCa / requestClientCert, certificate client auth (RFC 8705). */
  tls?: AuthzServerOptions['tls'];
  /** Structured logs (pino from the CLI); none by default. */
  logger?: Logger;
  /** Bearer credential for /metrics (otherwise loopback peers only). */
  metricsToken?: string;
  /** `fapi2`: the FAPI 2.0 Security Profile (fapi2-profile.ts). */
  profile?: AuthzServerOptions['profile'];
  /** DPoP at /token: nonce secrets shared by the instances, iat window (dpop-binding.ts). */
  dpop?: DpopSettings;
  /** Split tokens' signature halves (the gateways' Redis). */
  splitTokens?: AuthzServerOptions['splitTokens'];
  /** Days expired records are kept (record-retention.ts); Infinity keeps them all. */
  retentionDays?: number;
}): Promise<{ server: AuthzServer; url: string; store: AuthzStore }> {
  const opened = await openStore(opts);
  const store = opened.store;
  const server = await createAuthzServer({
    store,
    keyVault: vaultOf(opened),
    // Several instances: a login at one continues at another.
    ...(store instanceof PgStore ? { sessionStore: store, sharedClientAuthLimit: true } : {}),
    ...(opts.issuer ? { issuer: opts.issuer } : {}),
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.metricsToken ? { metricsToken: opts.metricsToken } : {}),
    ...(opts.profile ? { profile: opts.profile } : {}),
    ...(opts.retentionDays !== undefined ? { retentionDays: opts.retentionDays } : {}),
    ...(opts.dpop ? { dpop: opts.dpop } : {}),
    ...(opts.splitTokens ? { splitTokens: opts.splitTokens } : {}),
  });
  const { url } = await server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  return { server, url, store };
}

/** Registers a device (a resource server and so an audience). */
/**
 * Registers a device, or updates a registered one: what is given replaces, what is not stays, and
 * its keys always stay (a provisioned device holds them). An update says which scopes it dropped:
 * a client registered for one of them is then refused it, which an operator re-running a
 * registration with other scopes does not expect (walkthrough, stop 36).
 */
export async function registerDevice(opts: DataDirOptions & AudienceOptions): Promise<{ id: string; updated: boolean; droppedScopes: string[] }> {
  const opened = await openStore(opts);
  const store = opened.store;
  try {
    const { dataDir: _d, init: _i, database: _db, kekFile: _k, ...audience } = opts;
    const before = await store.getAudience(audience.id);
    const a = await registerAudience(store, nativeProvider, audience);
    const kept = new Set(a.policy.scopes);
    return { id: a.id, updated: before !== undefined, droppedScopes: (before?.policy.scopes ?? []).filter((s) => !kept.has(s)) };
  } finally {
    await opened.close();
  }
}

/**
 * Registrations that can never get a token, refused before they are stored (walkthrough, stop 36):
 * client_credentials (the default grant) or introspection by a client that proves nothing (RFC
 * 6749 §4.4: a confidential client), and the code grant without a redirect URI to send the code
 * to (RFC 6749 §3.1.2: registered, compared exactly).
 */
function unusableClient(client: ClientOptions): void {
  const grants = client.grantTypes ?? ['client_credentials'];
  const authenticates = client.secret !== undefined || client.publicKey !== undefined || client.tlsClientAuth !== undefined;
  if (!authenticates && (grants.includes('client_credentials') || client.resourceServer)) {
    const what = client.resourceServer ? 'a resource server (introspection)' : 'the client_credentials grant';
    throw new RegistryError(`${what} needs a client that authenticates (RFC 6749 §4.4): give --secret-file, --public-key or a --tls-client-auth-* option`, 'ERR_AUTHZ_REGISTRY');
  }
  if (grants.includes('authorization_code') && (client.redirectUris ?? []).length === 0) {
    throw new RegistryError('the authorization_code grant needs a --redirect-uri (RFC 6749 §3.1.2: the code is sent only to a registered URI)', 'ERR_AUTHZ_REGISTRY');
  }
}

/**
 * A client registration as an operator makes it: the secret must be strong, every audience must
 * be registered already (a typo would otherwise register a client that can never get a token, or
 * one that silently gets tokens for a device registered later under that name), and an existing
 * registration is replaced only with `force` (replacing it changes who holds the client's secret).
 */
export async function registerClientCommand(opts: DataDirOptions & ClientOptions & { force?: boolean }): Promise<{ id: string; replaced: boolean; warnings: string[] }> {
  const opened = await openStore(opts);
  const store = opened.store;
  try {
    const { dataDir: _d, init: _i, database: _db, kekFile: _k, force, ...client } = opts;
    if (client.secret !== undefined) {
      const weak = secretWeakness(client.secret, 'client secret');
      if (weak) throw new RegistryError(`${weak} (omit the file and --secret-file writes a strong one)`, 'ERR_AUTHZ_WEAK_SECRET');
    }
    const known = new Set((await store.listAudiences()).map((a) => a.id));
    const unknown = (client.audiences ?? []).filter((a) => !known.has(a));
    if (unknown.length > 0) {
      throw new RegistryError(`unknown audience ${unknown.map((a) => JSON.stringify(a)).join(', ')} (register it first with keybound authz register-device)`, 'ERR_AUTHZ_UNKNOWN_AUDIENCE');
    }
    unusableClient(client);
    const existing = await store.getClient(client.id);
    if (existing && !force) throw new RegistryError(`client ${client.id} is already registered (--force replaces it)`, 'ERR_AUTHZ_ALREADY_REGISTERED');
    const c = await registerClient(store, client);
    // A scope no audience of the client serves is a typo or a device registered with others: the
    // client would get invalid_scope at every request. Said, not refused (the device may be
    // re-registered with it next).
    const warnings: string[] = [];
    if (!c.resourceServer && c.grantTypes.length > 0) {
      for (const id of c.audiences) {
        const audience = await store.getAudience(id);
        if (!audience) continue;
        try {
          decideScope(undefined, c, audience);
        } catch {
          warnings.push(`${c.id} gets no scope at ${id}: its scopes (${c.scopes.join(' ') || 'none'}) and what ${id} serves (${audience.policy.scopes.join(' ') || 'nothing'}) share nothing`);
        }
      }
    }
    return { id: c.id, replaced: existing !== undefined, warnings };
  } finally {
    await opened.close();
  }
}

/** A person who signs in at the service's pages (authorization code and device flows). */
export async function registerUserCommand(opts: DataDirOptions & { username: string; password: string; force?: boolean }): Promise<{ replaced: boolean }> {
  const opened = await openStore(opts);
  const store = opened.store;
  try {
    const weak = await passwordWeakness(opts.password, opts.username);
    if (weak) throw new RegistryError(weak, 'ERR_AUTHZ_WEAK_SECRET');
    const existing = await store.getUser(opts.username);
    if (existing && !opts.force) throw new RegistryError(`user ${opts.username} is already registered (--force sets a new password)`, 'ERR_AUTHZ_ALREADY_REGISTERED');
    await registerUser(store, opts.username, opts.password);
    return { replaced: existing !== undefined };
  } finally {
    await opened.close();
  }
}

/** What an operator sees of the registrations: never a secret, a hash or a private key. */
export interface RegistrationListing {
  clients: { id: string; audiences: string[]; scopes: string[]; grantTypes: string[]; auth: 'secret' | 'public-key' | 'tls_client_auth' | 'self_signed_tls_client_auth' | 'none'; requirePar: boolean; resourceServer: boolean }[];
  devices: { id: string; protection: string; clockless: boolean; referenceTokens: boolean; scopes: string[] }[];
  users: string[];
}

export async function listRegistrations(opts: DataDirOptions): Promise<RegistrationListing> {
  const opened = await openStore(opts);
  const store = opened.store;
  try {
    return {
      clients: (await store.listClients()).map((c) => ({
        id: c.id,
        audiences: c.audiences,
        scopes: c.scopes,
        grantTypes: c.grantTypes,
        // RFC 8705 §2: a certificate client has no secret and no key, and is not a public client.
        auth: c.secretHash ? 'secret' : c.publicKey ? 'public-key' : (c.tlsClientAuth?.method ?? 'none'),
        requirePar: c.requirePar === true,
        resourceServer: c.resourceServer,
      })),
      devices: (await store.listAudiences()).map((a) => ({ id: a.id, protection: a.protection, clockless: a.clockless, referenceTokens: a.referenceTokens, scopes: a.policy.scopes })),
      users: await store.listUsernames(),
    };
  } finally {
    await opened.close();
  }
}

export type RegistrationKind = 'client' | 'device' | 'user';

/**
 * Deletes one registration. An id may name a client and a device at once (a broker is both):
 * then `kind` must say which, rather than delete the wrong one. A device that clients (or other devices' exchange-from) still name is
 * refused without `detach`: left named, a device registered later under that id would be given
 * their tokens without anyone deciding so (walkthrough, stop 36). With `detach` the id is taken
 * out of those registrations first, then the device goes (a crash between leaves it detached, never
 * named by an orphan).
 */
export async function deleteRegistration(opts: DataDirOptions & { id: string; kind?: RegistrationKind; detach?: boolean }): Promise<{ kind: RegistrationKind; detachedFrom: string[] }> {
  const opened = await openStore(opts);
  const store = opened.store;
  try {
    const found: RegistrationKind[] = [];
    if (await store.getClient(opts.id)) found.push('client');
    if (await store.getAudience(opts.id)) found.push('device');
    if (await store.getUser(opts.id)) found.push('user');
    const kinds = opts.kind ? found.filter((k) => k === opts.kind) : found;
    if (kinds.length === 0) throw new RegistryError(`no ${opts.kind ?? 'client, device or user'} ${JSON.stringify(opts.id)} is registered`, 'ERR_AUTHZ_NOT_REGISTERED');
    if (kinds.length > 1) throw new RegistryError(`${JSON.stringify(opts.id)} is a ${kinds.join(' and a ')}: say which with --kind`, 'ERR_AUTHZ_REGISTRY');
    const kind = kinds[0]!;
    const detachedFrom: string[] = [];
    if (kind === 'device') {
      const clients = (await store.listClients()).filter((c) => c.audiences.includes(opts.id));
      const exchanging = (await store.listAudiences()).filter((a) => a.id !== opts.id && a.policy.exchangeFrom.includes(opts.id));
      const naming = [...clients.map((c) => `client ${c.id}`), ...exchanging.map((a) => `device ${a.id} (exchange-from)`)];
      if (naming.length > 0 && !opts.detach) {
        throw new RegistryError(`device ${JSON.stringify(opts.id)} is still named by ${naming.join(', ')}: re-register ${naming.length === 1 ? 'it' : 'them'} without it, or --detach takes it out of them`, 'ERR_AUTHZ_IN_USE');
      }
      for (const c of clients) await store.putClient({ ...c, audiences: c.audiences.filter((a) => a !== opts.id) });
      for (const a of exchanging) await store.putAudience({ ...a, policy: { ...a.policy, exchangeFrom: a.policy.exchangeFrom.filter((x) => x !== opts.id) } });
      detachedFrom.push(...naming);
    }
    if (kind === 'client') await store.deleteClient(opts.id);
    else if (kind === 'device') await store.deleteAudience(opts.id);
    else await store.deleteUser(opts.id);
    return { kind, detachedFrom };
  } finally {
    await opened.close();
  }
}
export { registerClientCommand as registerClient };

/** `authz revoke`: on the data directory's store, which the running service reads its lists from. */
export async function revokeCommand(opts: DataDirOptions & { now?: number } & RevokeSelection): Promise<RevokeResult> {
  const opened = await openStore({ ...opts, init: false });
  const store = opened.store;
  try {
    return await revokeSelection(store, opts, opts.now ?? Math.floor(Date.now() / 1000));
  } finally {
    await opened.close();
  }
}

/** `authz rotate-key`: a new signing key; a service running on this data directory picks it up. */
export async function rotateKeyCommand(opts: DataDirOptions & { alg?: SigningAlgorithm; keepSeconds?: number; now?: number }): Promise<RotationResult> {
  const opened = await openStore({ ...opts, init: false });
  const store = opened.store;
  try {
    return await rotateSigningKey(store, vaultOf(opened), {
      alg: opts.alg ?? 'EdDSA',
      now: opts.now ?? Math.floor(Date.now() / 1000),
      ...(opts.keepSeconds !== undefined ? { keepSeconds: opts.keepSeconds } : {}),
    });
  } finally {
    await opened.close();
  }
}

/**
 * Writes a file that holds keys: mode 0600 whether or not `path` existed (writeFileSync's mode
 * applies only to a file it creates, so an existing 0644 file would stay readable by all).
 * A fresh file created exclusively at 0600, then renamed over `path`: no reader ever sees the new
 * keys under the old mode, nor an fd opened on the old file, nor a half-written file.
 */
function writeKeyFile(path: string, content: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (e) {
    // The error names the temporary file, which the operator never asked for: name theirs.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RegistryError(`cannot write ${path}: its directory ${dirname(path)} does not exist`);
    if (code === 'EACCES' || code === 'EROFS') throw new RegistryError(`cannot write ${path}: ${dirname(path)} is not writable (${code})`);
    throw e;
  }
  try {
    try {
      fchmodSync(fd, 0o600); // exactly 0600, whatever the umask
      writeFileSync(fd, content); // to an fd: written whole
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Writes `<out>` (CBOR) or JSON when `out` ends in .json; the file holds keys, so mode 0600. */
export async function provision(opts: DataDirOptions & { deviceId: string; out: string; issuer: string; asUrl?: string; brokerUrl?: string; now?: number }): Promise<{ out: string; trustAnchors: CoseKey[] }> {
  const opened = await openStore(opts);
  const store = opened.store;
  try {
    const now = opts.now ?? Math.floor(Date.now() / 1000);
    const keys = new SigningKeys(store, vaultOf(opened), nativeProvider);
    await keys.load('EdDSA', now);
    const bundle = await provisionDevice(store, keys, {
      deviceId: opts.deviceId,
      issuer: opts.issuer,
      now,
      ...(opts.asUrl ? { asUrl: opts.asUrl } : {}),
      ...(opts.brokerUrl ? { brokerUrl: opts.brokerUrl } : {}),
    });
    writeKeyFile(opts.out, opts.out.endsWith('.json') ? bundleToJson(bundle) : encodeProvisioningBundle(bundle));
    return { out: opts.out, trustAnchors: bundle.trustAnchors };
  } finally {
    await opened.close();
  }
}
