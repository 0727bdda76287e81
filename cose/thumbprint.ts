/**
 * COSE Key Thumbprint (RFC 9679): a hash over the deterministic CBOR of a key's required
 * parameters only, so the same key has the same name whatever kid, alg or key_ops it carries and
 * whether or not its private part is present. keybound names cnf keys by it (DESIGN "cnf").
 */
import { CoseKeyError, ERR } from './errors.js';
import type { HashName } from './algorithms.js';
import { KEY_LABEL, coseKeyToMap, type CoseKey } from './cose-key.js';
import { encodeCbor } from './cbor-encode.js';
import type { CborMap, CborValue } from './cbor-value.js';
import { toBase64Url } from './bytes.js';
import type { CryptoProvider } from './crypto-provider.js';
import { portableProvider } from './portable-provider.js';

export interface ThumbprintOptions {
  /** RFC 9679 §4: SHA-256 unless the application says otherwise. */
  hash?: HashName;
  provider?: CryptoProvider;
}

/** RFC 9679 §4: the required parameters per key type (RFC 9053 §7.1, §7.2, §7.3). */
const REQUIRED: Record<CoseKey['kty'], readonly number[]> = {
  OKP: [KEY_LABEL.kty, KEY_LABEL.crv, KEY_LABEL.x],
  EC2: [KEY_LABEL.kty, KEY_LABEL.crv, KEY_LABEL.x, KEY_LABEL.y],
  Symmetric: [KEY_LABEL.kty, KEY_LABEL.k],
};

/**
 * The bytes RFC 9679 §3 hashes: a map of only the required parameters, deterministically encoded
 * (RFC 8949 §4.2.1: labels 1, -1, -2, -3 sort by their encodings 0x01, 0x20, 0x21, 0x22).
 */
export function coseKeyThumbprintInput(key: CoseKey): Uint8Array {
  const full = coseKeyToMap(key); // validates type, curve and lengths
  const required: CborMap = new Map<CborValue, CborValue>();
  for (const label of REQUIRED[key.kty]) {
    const v = full.get(label);
    if (v === undefined) throw new CoseKeyError(ERR.COSE_KEY_INVALID, `COSE_Key: label ${label} missing for a thumbprint`);
    required.set(label, v);
  }
  return encodeCbor(required);
}

/** The thumbprint bytes (RFC 9679 §3). */
export function coseKeyThumbprint(key: CoseKey, options: ThumbprintOptions = {}): Uint8Array {
  const provider = options.provider ?? portableProvider;
  return provider.digest(options.hash ?? 'SHA-256', coseKeyThumbprintInput(key));
}

/** Hash names of the IANA "Named Information Hash Algorithm" registry used in the URI (RFC 6920 §9.4). */
const URI_HASH_NAME: Record<HashName, string> = { 'SHA-256': 'sha-256', 'SHA-384': 'sha-384', 'SHA-512': 'sha-512' };

/** RFC 9679 §5.6: `urn:ietf:params:oauth:ckt:<hash>:<base64url thumbprint>`. */
export function coseKeyThumbprintUri(key: CoseKey, options: ThumbprintOptions = {}): string {
  const hash = options.hash ?? 'SHA-256';
  return `urn:ietf:params:oauth:ckt:${URI_HASH_NAME[hash]}:${toBase64Url(coseKeyThumbprint(key, { ...options, hash }))}`;
}
