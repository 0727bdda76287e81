/**
 * `keybound authz rotate-key`: a new signing key (new kid) signs from now on. It works while
 * `authz serve` runs on the same data directory: the running service re-reads the signing keys
 * from the store at most once a second (server.ts refreshKeys), finds the new newest key and its
 * private half in <dataDir>/keys, and signs with it; no restart. The previous key stays published
 * at /keys and /jwks.json (so brokers and devices keep verifying its tokens) until the longest
 * token lifetime of any audience has passed, unless the operator says otherwise (`keepSeconds`:
 * 0 after a leak, so its tokens stop verifying as soon as verifiers refresh). On PostgreSQL
 * (--database, --kek-file) the new key is sealed into the database and every instance signs with it.
 */
import { nativeProvider } from '../cose/adapters/index.js';
import { DEFAULT_TOKEN_LIFETIME, RegistryError } from './registry.js';
import { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
import type { AuthzStore } from './store.js';
import type { KeyVault } from './key-vault.js';

export interface RotationResult {
  kid: string;
  /** The key that signed until now; absent on a first start. */
  previousKid: string | undefined;
  /** Seconds since the epoch after which the previous key is no longer published. */
  previousPublishedUntil: number | undefined;
  /** The longest token lifetime of any audience (s): an old key kept less long cuts live tokens off. */
  longestLifetime: number;
}

/** The longest token lifetime (or exi) any audience issues: how long an old key's tokens live. */
export async function longestTokenLifetime(store: AuthzStore): Promise<number> {
  const audiences = await store.listAudiences();
  return Math.max(DEFAULT_TOKEN_LIFETIME, ...audiences.map((a) => a.policy.lifetime));
}

export async function rotateSigningKey(
  store: AuthzStore,
  vault: KeyVault,
  opts: { alg: SigningAlgorithm; now: number; keepSeconds?: number },
): Promise<RotationResult> {
  if (opts.keepSeconds !== undefined && !(Number.isInteger(opts.keepSeconds) && opts.keepSeconds >= 0)) throw new RegistryError('keep seconds must be an integer >= 0');
  const keys = new SigningKeys(store, vault, nativeProvider);
  await keys.load(opts.alg, opts.now);
  const previousKid = keys.current().kid;
  const longestLifetime = await longestTokenLifetime(store);
  const keep = opts.keepSeconds ?? longestLifetime;
  const { kid } = await keys.rotate(opts.alg, opts.now, keep);
  return { kid, previousKid, previousPublishedUntil: opts.now + keep, longestLifetime };
}
