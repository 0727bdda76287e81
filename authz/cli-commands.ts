/**
 * The `keybound authz ...` commands as plain functions (the CLI in cli/ parses argv and calls
 * these; tests call them directly). Each opens the data directory's SQLite store itself.
 */
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bundleToJson, encodeProvisioningBundle, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { SqliteStore } from './sqlite-store.js';
import { createAuthzServer, type AuthzServer } from './server.js';
import { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
import { provisionDevice, registerAudience, registerClient, type AudienceOptions, type ClientOptions } from './registry.js';
import { revokeSelection, type RevokeResult, type RevokeSelection } from './operator-revocation.js';
import { rotateSigningKey, type RotationResult } from './operator-key-rotation.js';

export const DB_FILE = 'authz.sqlite';

function openStore(dataDir: string): SqliteStore {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return new SqliteStore(join(dataDir, DB_FILE));
}

export async function authzServe(opts: {
  dataDir: string;
  port?: number;
  host?: string;
  issuer?: string;
  adminToken?: string;
  /** PEM certificate chain and key: serve HTTPS. */
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
}): Promise<{ server: AuthzServer; url: string; store: SqliteStore }> {
  const store = openStore(opts.dataDir);
  const server = await createAuthzServer({
    store,
    dataDir: opts.dataDir,
    ...(opts.issuer ? { issuer: opts.issuer } : {}),
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  const { url } = await server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  return { server, url, store };
}

/** Registers a device (a resource server and so an audience). */
export async function registerDevice(opts: { dataDir: string } & AudienceOptions): Promise<{ id: string }> {
  const store = openStore(opts.dataDir);
  try {
    const { dataDir: _d, ...audience } = opts;
    const a = await registerAudience(store, nativeProvider, audience);
    return { id: a.id };
  } finally {
    store.close();
  }
}

export async function registerClientCommand(opts: { dataDir: string } & ClientOptions): Promise<{ id: string }> {
  const store = openStore(opts.dataDir);
  try {
    const { dataDir: _d, ...client } = opts;
    const c = await registerClient(store, client);
    return { id: c.id };
  } finally {
    store.close();
  }
}
export { registerClientCommand as registerClient };

/** `authz revoke`: on the data directory's store, which the running service reads its lists from. */
export async function revokeCommand(opts: { dataDir: string; now?: number } & RevokeSelection): Promise<RevokeResult> {
  const store = openStore(opts.dataDir);
  try {
    return await revokeSelection(store, opts, opts.now ?? Math.floor(Date.now() / 1000));
  } finally {
    store.close();
  }
}

/** `authz rotate-key`: a new signing key; a service running on this data directory picks it up. */
export async function rotateKeyCommand(opts: { dataDir: string; alg?: SigningAlgorithm; keepSeconds?: number; now?: number }): Promise<RotationResult> {
  const store = openStore(opts.dataDir);
  try {
    return await rotateSigningKey(store, opts.dataDir, {
      alg: opts.alg ?? 'EdDSA',
      now: opts.now ?? Math.floor(Date.now() / 1000),
      ...(opts.keepSeconds !== undefined ? { keepSeconds: opts.keepSeconds } : {}),
    });
  } finally {
    store.close();
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
  const fd = openSync(tmp, 'wx', 0o600);
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
export async function provision(opts: { dataDir: string; deviceId: string; out: string; issuer: string; asUrl?: string; brokerUrl?: string; now?: number }): Promise<{ out: string; trustAnchors: CoseKey[] }> {
  const store = openStore(opts.dataDir);
  try {
    const now = opts.now ?? Math.floor(Date.now() / 1000);
    const keys = new SigningKeys(store, opts.dataDir, nativeProvider);
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
    store.close();
  }
}
