/**
 * The service's signing keys. Public halves live in the store; private halves in
 * `<dataDir>/keys/<kid>.cose` (a COSE_Key, file mode 0600), never in the database, never logged.
 * Rotation: a new key signs from now on; the old one stays published (and so keeps verifying)
 * until every token it signed has expired.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ALG, decodeCoseKey, encodeCoseKey, publicCoseKey, toHex, type CoseKey, type CryptoProvider } from '../cose/index.js';
import type { AuthzStore, SigningKeyRecord } from './store.js';

export type SigningAlgorithm = 'EdDSA' | 'ES256';

export interface ActiveKey {
  kid: string;
  key: CoseKey;
}

function keyPath(dataDir: string, kid: string): string {
  if (!/^[0-9a-f]{1,64}$/.test(kid)) throw new Error('kid must be hex');
  return join(dataDir, 'keys', `${kid}.cose`);
}

function writePrivateKey(dataDir: string, kid: string, key: CoseKey): void {
  const dir = join(dataDir, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = keyPath(dataDir, kid);
  const tmp = `${path}.tmp`;
  // Write then rename, so a crash never leaves a half-written key file.
  writeFileSync(tmp, encodeCoseKey(key), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function generateSigningKey(provider: CryptoProvider, alg: SigningAlgorithm): CoseKey {
  const crv = alg === 'EdDSA' ? 'Ed25519' : 'P-256';
  const pair = provider.generateKeyPair(crv);
  const kid = provider.randomBytes(8);
  return {
    kty: alg === 'EdDSA' ? 'OKP' : 'EC2',
    crv,
    alg: alg === 'EdDSA' ? ALG.EdDSA : ALG.ES256,
    kid,
    x: pair.x,
    ...(pair.y ? { y: pair.y } : {}),
    d: pair.d,
  };
}

export class SigningKeys {
  private active: ActiveKey | undefined;
  private published: SigningKeyRecord[] = [];

  constructor(
    private readonly store: AuthzStore,
    private readonly dataDir: string,
    private readonly provider: CryptoProvider,
  ) {}

  /** Loads the newest unretired key, creating one (Ed25519 unless told) on first start. */
  async load(alg: SigningAlgorithm = 'EdDSA', now = 0): Promise<void> {
    const records = await this.store.listSigningKeys();
    const current = records.filter((r) => r.retiredAt === undefined).at(-1);
    if (current && existsSync(keyPath(this.dataDir, current.kid))) {
      this.active = { kid: current.kid, key: decodeCoseKey(new Uint8Array(readFileSync(keyPath(this.dataDir, current.kid)))) };
      this.published = records;
      return;
    }
    await this.rotate(alg, now, 0);
  }

  /** A new key signs from now on; the previous one is published for `keepSeconds` more (the longest token lifetime). */
  async rotate(alg: SigningAlgorithm, now: number, keepSeconds: number): Promise<ActiveKey> {
    const key = generateSigningKey(this.provider, alg);
    const kid = toHex(key.kid!);
    writePrivateKey(this.dataDir, kid, key);
    if (this.active) await this.store.retireSigningKey(this.active.kid, now, now + keepSeconds);
    await this.store.putSigningKey({ kid, alg: key.alg!, publicKey: publicCoseKey(key), createdAt: now });
    this.active = { kid, key };
    this.published = await this.store.listSigningKeys();
    return this.active;
  }

  /**
   * Re-reads the keys from the store, for services scaled out over one store and data directory:
   * a rotation at another instance (an emergency one, after a leak) retires our active key too,
   * and publishes the new one. Signs with the newest unretired key; if its private half is not in
   * our data directory, signs with nothing (current() throws) rather than with a retired key.
   */
  async refresh(): Promise<void> {
    const records = await this.store.listSigningKeys();
    const newest = records.filter((r) => r.retiredAt === undefined).at(-1);
    if (newest && newest.kid !== this.active?.kid) {
      const path = keyPath(this.dataDir, newest.kid);
      this.active = existsSync(path) ? { kid: newest.kid, key: decodeCoseKey(new Uint8Array(readFileSync(path))) } : undefined;
    }
    this.published = records;
  }

  current(): ActiveKey {
    if (!this.active) throw new Error('signing keys not loaded');
    return this.active;
  }

  /** Public keys a verifier should trust now: the active one and retired ones still inside their window. */
  publicKeys(now: number): CoseKey[] {
    return this.publishedRecords(now).map((r) => r.publicKey);
  }

  /** The records of those keys, oldest first. */
  publishedRecords(now: number): SigningKeyRecord[] {
    return this.published.filter((r) => r.publishUntil === undefined || r.publishUntil > now);
  }

  /** Every key record ever made (retired ones too), oldest first. */
  allRecords(): readonly SigningKeyRecord[] {
    return this.published;
  }

  /** The private half of a key of ours, from <dataDir>/keys; undefined if this instance lacks it. */
  privateKey(kid: string): CoseKey | undefined {
    const path = keyPath(this.dataDir, kid);
    return existsSync(path) ? decodeCoseKey(new Uint8Array(readFileSync(path))) : undefined;
  }
}
