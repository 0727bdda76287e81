/**
 * The node:crypto provider, for servers (10-20x faster than the portable one). It must agree
 * with the portable provider byte for byte wherever an algorithm is deterministic (EdDSA, HMAC,
 * HKDF, every AEAD); the tests run every vector through both.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hash as nodeHash,
  hkdfSync,
  randomBytes,
  randomFillSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
  type CipherCCMTypes,
  type CipherGCMTypes,
} from 'node:crypto';
import { toBase64Url, fromBase64Url } from '../bytes.js';
import { lowS } from '../ecdsa-low-s.js';
import { publicPointFlaw } from '../curve-points.js';
import { eddsaStrictlyValid } from '../eddsa-strict.js';
import { CoseKeyError, ERR } from '../errors.js';
import type { AeadCipher, Curve, HashName } from '../algorithms.js';
import type { CoseKey } from '../cose-key.js';
import type { CryptoProvider, KeyPair } from '../crypto-provider.js';

/** generateKeyPairSync with JWK encodings (Node >= 15.12; @types/node 20 has no overload for them). */
const generateJwkPair = generateKeyPairSync as unknown as (type: string, options: object) => { privateKey: { d?: string; x?: string; y?: string } };

const NODE_HASH: Record<HashName, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
const OKP_CURVES = new Set<Curve>(['Ed25519', 'Ed448']);

// One KeyObject per COSE_Key object: an import (~5 us for Ed25519, from JWK) on each use would be
// paid again on every verify and sign with the same key.
const publicCache = new WeakMap<CoseKey, KeyObject>();
const privateCache = new WeakMap<CoseKey, KeyObject>();
// The same public key also arrives as a new COSE_Key object on every request (a client's key read
// from the store for each client assertion): kept by its bytes too, for a bounded number of keys
// (past it the map starts again empty). The import and the point checks were ~15 us of a client
// assertion's CPU (issue 13). Public keys only: nothing here is secret.
const PUBLIC_BY_BYTES_MAX = 4096;
const publicByBytes = new Map<string, KeyObject>();

const bytesId = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function jwkOf(key: CoseKey, withPrivate: boolean): Record<string, string> {
  const jwk: Record<string, string> = {
    kty: OKP_CURVES.has(key.crv!) ? 'OKP' : 'EC',
    crv: key.crv!,
    x: toBase64Url(key.x!),
  };
  if (key.y) jwk.y = toBase64Url(key.y);
  if (withPrivate) jwk.d = toBase64Url(key.d!);
  return jwk;
}

function publicKeyObject(key: CoseKey): KeyObject {
  let ko = publicCache.get(key);
  if (ko) return ko;
  const id = `${key.crv}:${key.x ? bytesId(key.x) : ''}:${key.y ? bytesId(key.y) : ''}`;
  ko = publicByBytes.get(id);
  if (!ko) {
    // OpenSSL takes a small-order Ed25519 key (the identity among them); refuse what the portable
    // provider refuses (curve-points.ts). Once per key, as the import; a flawed key is never kept.
    if (publicPointFlaw(key)) throw new CoseKeyError(ERR.COSE_KEY_INVALID, 'COSE_Key: unusable public point');
    ko = createPublicKey({ key: jwkOf(key, false), format: 'jwk' });
    if (publicByBytes.size >= PUBLIC_BY_BYTES_MAX) publicByBytes.clear();
    publicByBytes.set(id, ko);
  }
  publicCache.set(key, ko);
  return ko;
}

function privateKeyObject(key: CoseKey): KeyObject {
  if (!key.d) throw new CoseKeyError(ERR.COSE_NO_KEY, 'COSE_Key: d(-4) is needed to sign');
  let ko = privateCache.get(key);
  if (!ko) {
    ko = createPrivateKey({ key: jwkOf(key, true), format: 'jwk' });
    privateCache.set(key, ko);
  }
  return ko;
}

function toU8(b: Buffer | ArrayBuffer): Uint8Array {
  return b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function cipherName(aead: AeadCipher): string {
  if (aead.cipher === 'ChaCha20-Poly1305') return 'chacha20-poly1305';
  const bits = aead.keyLength * 8;
  return aead.cipher === 'AES-CCM' ? `aes-${bits}-ccm` : `aes-${bits}-gcm`;
}

/**
 * `nativeProvider.verify`, same rules, run on libuv's thread pool (node:crypto's callback form):
 * the event loop goes on serving other connections while OpenSSL checks the signature. For a
 * server that verifies on its hot path (the broker at CONNECT); false where `verify` is false.
 */
export function verifyInThreadPool(key: CoseKey, hash: HashName | undefined, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  let ko: KeyObject;
  try {
    ko = publicKeyObject(key);
  } catch {
    return Promise.resolve(false);
  }
  const okp = OKP_CURVES.has(key.crv!);
  // The same strict EdDSA rules as verify, before the primitive (eddsa-strict.ts).
  if (okp && !eddsaStrictlyValid(key.crv as 'Ed25519' | 'Ed448', key.x!, signature)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (error: Error | null, ok: boolean) => resolve(!error && ok);
    try {
      if (okp) nodeVerify(null, message, ko, signature, done);
      else nodeVerify(NODE_HASH[hash ?? 'SHA-256'], message, { key: ko, dsaEncoding: 'ieee-p1363' }, signature, done);
    } catch {
      resolve(false); // a malformed signature
    }
  });
}

/**
 * A call into OpenSSL's RAND_bytes costs about 4 us whatever its size (~15 us inside a busy token
 * service: a service asks for a cti, a kid, a nonce on every request), so small requests are cut
 * from a pool filled POOL_BYTES at a time, as Node's own randomUUID does. Each request gets a copy
 * of its own (never a view of the pool), and the pool's bytes are zeroed as they are handed out:
 * a later read of this process's memory finds no past output. The bytes not yet handed out are
 * future output; so is the DRBG state OpenSSL keeps in the same memory.
 */
const POOL_BYTES = 4096;
const POOLED_MAX = 64;
const pool = new Uint8Array(POOL_BYTES);
let poolAt = POOL_BYTES;

function pooledRandomBytes(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('randomBytes: length must be a non-negative integer');
  if (length > POOLED_MAX) return toU8(randomBytes(length));
  if (poolAt + length > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = pool.slice(poolAt, poolAt + length);
  pool.fill(0, poolAt, poolAt + length);
  poolAt += length;
  return out;
}

export const nativeProvider: CryptoProvider = {
  name: 'native',

  sign(key, hash, message) {
    const ko = privateKeyObject(key);
    if (OKP_CURVES.has(key.crv!)) return toU8(nodeSign(null, message, ko));
    // node:crypto makes high-S signatures half the time; emit the canonical low-S form (ecdsa-low-s.ts).
    return lowS(toU8(nodeSign(NODE_HASH[hash ?? 'SHA-256'], message, { key: ko, dsaEncoding: 'ieee-p1363' })));
  },

  verify(key, hash, message, signature) {
    try {
      const ko = publicKeyObject(key);
      if (OKP_CURVES.has(key.crv!)) {
        // OpenSSL checks S < L but neither a small-order R nor a non-canonical one before its
        // cofactorless equation: the same rules as the portable provider first (eddsa-strict.ts).
        return eddsaStrictlyValid(key.crv as 'Ed25519' | 'Ed448', key.x!, signature) && nodeVerify(null, message, ko, signature);
      }
      return nodeVerify(NODE_HASH[hash ?? 'SHA-256'], message, { key: ko, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false; // a point not on the curve, or a malformed signature
    }
  },

  hmac(hash, key, data) {
    return toU8(createHmac(NODE_HASH[hash], key).update(data).digest());
  },

  digest(hash, data) {
    // One-shot (Node >= 20.12): no Hash object per call, about 40% less on the token path.
    return toU8(nodeHash(NODE_HASH[hash], data, 'buffer') as unknown as Buffer);
  },

  hkdf(hash, ikm, salt, info, length) {
    return toU8(hkdfSync(NODE_HASH[hash], ikm, salt, info, length));
  },

  aeadEncrypt(aead, key, nonce, aad, plaintext) {
    const name = cipherName(aead);
    if (aead.cipher === 'AES-CCM') {
      const c = createCipheriv(name as CipherCCMTypes, key, nonce, { authTagLength: aead.tagLength });
      c.setAAD(aad, { plaintextLength: plaintext.length });
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      return toU8(Buffer.concat([body, c.getAuthTag()]));
    }
    const c = createCipheriv(name as CipherGCMTypes, key, nonce, { authTagLength: 16 });
    c.setAAD(aad);
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return toU8(Buffer.concat([body, c.getAuthTag()]));
  },

  aeadDecrypt(aead, key, nonce, aad, sealed) {
    if (sealed.length < aead.tagLength) return null;
    const body = sealed.subarray(0, sealed.length - aead.tagLength);
    const tag = sealed.subarray(sealed.length - aead.tagLength);
    try {
      if (aead.cipher === 'AES-CCM') {
        const d = createDecipheriv(cipherName(aead) as CipherCCMTypes, key, nonce, { authTagLength: aead.tagLength });
        d.setAuthTag(tag);
        d.setAAD(aad, { plaintextLength: body.length });
        return toU8(Buffer.concat([d.update(body), d.final()]));
      }
      const d = createDecipheriv(cipherName(aead) as CipherGCMTypes, key, nonce, { authTagLength: 16 });
      d.setAuthTag(tag);
      d.setAAD(aad);
      return toU8(Buffer.concat([d.update(body), d.final()]));
    } catch {
      return null;
    }
  },

  randomBytes(length) {
    return pooledRandomBytes(length);
  },

  generateKeyPair(crv): KeyPair {
    // The JWK comes out of the generation itself, never from KeyObject.export() after it: Node 20's
    // JWK export holds the key's mutex while it allocates, a GC there may destroy the spent
    // generation job, and that job's destructor takes the same mutex. The event loop then waits on
    // itself for good (seen under load in the broker bench; gdb: ~KeyGenJob in ExportJWKEdKey).
    const jwk = OKP_CURVES.has(crv)
      ? generateJwkPair(crv.toLowerCase(), { privateKeyEncoding: { format: 'jwk' }, publicKeyEncoding: { format: 'jwk' } }).privateKey
      : generateJwkPair('ec', { namedCurve: crv, privateKeyEncoding: { format: 'jwk' }, publicKeyEncoding: { format: 'jwk' } }).privateKey;
    const pair: KeyPair = { crv, d: fromBase64Url(jwk.d!), x: fromBase64Url(jwk.x!) };
    if (jwk.y) pair.y = fromBase64Url(jwk.y);
    return pair;
  },
};
