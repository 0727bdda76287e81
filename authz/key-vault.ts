/**
 * Where the private halves of the signing keys live. SQLite (one instance): files in the data
 * directory (FileKeyVault). PostgreSQL (several instances): in the database, sealed with
 * AES-256-GCM under a key-encryption key (KEK) that every instance reads from a file and that is
 * never stored in the database (SealedKeyVault): a copy of the database alone signs nothing.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeCoseKey, encodeCoseKey, type CoseKey } from '../cose/index.js';

export interface KeyVault {
  read(kid: string): Promise<CoseKey | undefined>;
  write(kid: string, key: CoseKey): Promise<void>;
}

/** A store that keeps sealed key bytes (PgStore); it never sees the KEK. */
export interface SealedKeyStore {
  putSealedKey(kid: string, sealed: Uint8Array): Promise<void>;
  getSealedKey(kid: string): Promise<Uint8Array | undefined>;
}

export class KeyVaultError extends Error {
  readonly code = 'ERR_AUTHZ_KEK';
  constructor(message: string) {
    super(message);
    this.name = 'KeyVaultError';
  }
}

function checkKid(kid: string): void {
  if (!/^[0-9a-f]{1,64}$/.test(kid)) throw new Error('kid must be hex');
}

/** `<dataDir>/keys/<kid>.cose`, mode 0600, written then renamed (a crash never leaves half a key). */
export class FileKeyVault implements KeyVault {
  constructor(private readonly dataDir: string) {}

  private path(kid: string): string {
    checkKid(kid);
    return join(this.dataDir, 'keys', `${kid}.cose`);
  }

  async read(kid: string): Promise<CoseKey | undefined> {
    const path = this.path(kid);
    return existsSync(path) ? decodeCoseKey(new Uint8Array(readFileSync(path))) : undefined;
  }

  async write(kid: string, key: CoseKey): Promise<void> {
    mkdirSync(join(this.dataDir, 'keys'), { recursive: true, mode: 0o700 });
    const path = this.path(kid);
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, encodeCoseKey(key), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  }
}

export const KEK_BYTES = 32;
const FORMAT = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Reads a KEK file: 32 random bytes, as raw bytes or as 64 hex digits (a trailing newline
 * allowed). Anything else is refused: a short or guessable KEK would protect nothing.
 */
export function readKekFile(path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new KeyVaultError(`cannot read the key-encryption key file ${JSON.stringify(path)} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (raw.length === KEK_BYTES) return new Uint8Array(raw);
  const text = raw.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  throw new KeyVaultError(`the key-encryption key file must hold ${KEK_BYTES} random bytes, raw or as 64 hex digits`);
}

/**
 * AES-256-GCM (NIST SP 800-38D) with a fresh 96-bit random nonce per key (one seal per kid, so
 * far below the 2^32 invocation limit), the kid as additional data: a sealed key moved to
 * another kid's row does not open. Layout: format byte | nonce | ciphertext | tag.
 */
export class SealedKeyVault implements KeyVault {
  private readonly kek: Buffer;

  constructor(private readonly store: SealedKeyStore, kek: Uint8Array) {
    if (kek.length !== KEK_BYTES) throw new KeyVaultError(`the key-encryption key must be ${KEK_BYTES} bytes`);
    this.kek = Buffer.from(kek);
  }

  private aad(kid: string): Buffer {
    return Buffer.from(`keybound signing key ${kid}`);
  }

  async write(kid: string, key: CoseKey): Promise<void> {
    checkKid(kid);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.kek, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aad(kid));
    const body = Buffer.concat([cipher.update(encodeCoseKey(key)), cipher.final()]);
    await this.store.putSealedKey(kid, Buffer.concat([Buffer.of(FORMAT), nonce, body, cipher.getAuthTag()]));
  }

  async read(kid: string): Promise<CoseKey | undefined> {
    checkKid(kid);
    const sealed = await this.store.getSealedKey(kid);
    if (!sealed) return undefined;
    if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT) throw new KeyVaultError(`the sealed signing key ${kid} is malformed`);
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.kek, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(this.aad(kid));
    decipher.setAuthTag(tag);
    try {
      const plain = Buffer.concat([decipher.update(sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      return decodeCoseKey(new Uint8Array(plain));
    } catch {
      // Never say more: the KEK is wrong (another service's), or the row was tampered with.
      throw new KeyVaultError(`signing key ${kid} does not open with this key-encryption key (another service's KEK, or a tampered row)`);
    }
  }
}
