/**
 * The service's signing keys. Public halves live in the store; private halves in a KeyVault
 * (key-vault.ts: files in the data directory, or sealed under a KEK in PostgreSQL), never logged.
 * Rotation: a new key signs from now on; the old one stays published (and so keeps verifying)
 * until every token it signed has expired.
 */
import { ALG, publicCoseKey, toHex, type CoseKey, type CryptoProvider } from '../cose/index.js';
import type { AuthzStore, SigningKeyRecord } from './store.js';
import type { KeyVault } from './key-vault.js';

export type SigningAlgorithm = 'EdDSA' | 'ES256';

export interface ActiveKey {
  kid: string;
  key: CoseKey;
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
  private readonly privates = new Map<string, CoseKey>();

  constructor(
    private readonly store: AuthzStore,
    private readonly vault: KeyVault,
    private readonly provider: CryptoProvider,
  ) {}

  /** Loads the newest unretired key, creating one (Ed25519 unless told) on first start. */
  async load(alg: SigningAlgorithm = 'EdDSA', now = 0): Promise<void> {
    const records = await this.store.listSigningKeys();
    const current = records.filter((r) => r.retiredAt === undefined).at(-1);
    const key = current ? await this.vault.read(current.kid) : undefined;
    if (current && key) {
      this.active = { kid: current.kid, key };
      this.published = records;
      await this.readPrivates(now);
      return;
    }
    await this.rotate(alg, now, 0);
  }

  /** A new key signs from now on; the previous one is published for `keepSeconds` more (the longest token lifetime). */
  async rotate(alg: SigningAlgorithm, now: number, keepSeconds: number): Promise<ActiveKey> {
    const key = generateSigningKey(this.provider, alg);
    const kid = toHex(key.kid!);
    await this.vault.write(kid, key);
    if (this.active) await this.store.retireSigningKey(this.active.kid, now, now + keepSeconds);
    await this.store.putSigningKey({ kid, alg: key.alg!, publicKey: publicCoseKey(key), createdAt: now });
    this.active = { kid, key };
    this.published = await this.store.listSigningKeys();
    await this.readPrivates(now);
    return this.active;
  }

  /**
   * Re-reads the keys from the store, for services scaled out over one store and data directory:
   * a rotation at another instance (an emergency one, after a leak) retires our active key too,
   * and publishes the new one. Signs with the newest unretired key; if its private half is not in
   * our vault, signs with nothing (current() throws) rather than with a retired key.
   */
  async refresh(now = Date.now() / 1000): Promise<void> {
    const records = await this.store.listSigningKeys();
    const newest = records.filter((r) => r.retiredAt === undefined).at(-1);
    if (newest && newest.kid !== this.active?.kid) {
      const key = await this.vault.read(newest.kid);
      this.active = key ? { kid: newest.kid, key } : undefined;
    }
    this.published = records;
    await this.readPrivates(now);
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

  /** The private half of a published key, from the vault; undefined if this instance lacks it. */
  privateKey(kid: string): CoseKey | undefined {
    return this.privates.get(kid);
  }

  /**
   * Reads from the vault the private halves of the published keys not read yet (trust updates
   * are signed by the oldest one, trust-update-issuer.ts), and forgets those of unpublished keys.
   * A key that does not open (another KEK, a tampered row) is left out, not signed with.
   */
  private async readPrivates(now: number): Promise<void> {
    const published = new Set(this.publishedRecords(now).map((r) => r.kid));
    for (const kid of this.privates.keys()) if (!published.has(kid)) this.privates.delete(kid);
    if (this.active) this.privates.set(this.active.kid, this.active.key);
    for (const kid of published) {
      if (this.privates.has(kid)) continue;
      const key = await this.vault.read(kid).catch(() => undefined);
      if (key) this.privates.set(kid, key);
    }
  }
}
