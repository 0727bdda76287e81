/**
 * Client secrets and user passwords are stored only as scrypt hashes (RFC 7914) and compared in
 * constant time, so that neither a database leak nor response timing gives them away.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHash } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/** N = 2^14, r = 8: about 16 MiB and ~30 ms here, the interactive-login figure from RFC 7914 §2. */
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const HASH_BYTES = 32;
/** A secret longer than this is refused before it is hashed: scrypt of megabytes is a DoS. */
export const MAX_SECRET_LENGTH = 512;

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(secret, salt, HASH_BYTES, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

// Hash an unknown user's password too, so a wrong username and a wrong password take the same time.
const DUMMY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(32).toString('base64url')}`;

export async function verifySecret(secret: string, stored: string | undefined): Promise<boolean> {
  if (secret.length > MAX_SECRET_LENGTH) return false;
  const parts = (stored ?? DUMMY_HASH).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return timingSafeEqual(actual, expected) && stored !== undefined;
}

/** SHA-256 hex of a high-entropy value (codes, handles, refresh tokens): a lookup key that is useless if leaked. */
export function lookupHash(value: string | Uint8Array): string {
  return createHash('sha256').update(value).digest('hex');
}
