/**
 * A new signing key pair for a client (a PoP key, or the key of its client assertions), written as
 * the file's extension says: `.json` a JWK (RFC 7517), anything else a COSE_Key (RFC 9052 §7).
 * The kid defaults to the start of the key's RFC 9679 thumbprint, so it names this key and no other.
 */
import { ALG, coseKeyThumbprint, coseKeyToJwk, encodeCoseKey, publicCoseKey, toBase64Url, utf8, type CoseKey } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { writePrivateFile } from './private-file.js';

export type KeyAlgorithm = 'EdDSA' | 'ES256';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['EdDSA', 'ES256'];
/** 16 base64url characters of the thumbprint: 96 bits, unique among any keys a service will see. */
const KID_CHARS = 16;

export function generateSigningKey(alg: KeyAlgorithm, kid?: string): CoseKey {
  const pair = nativeProvider.generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : 'P-256');
  const key: CoseKey =
    alg === 'EdDSA'
      ? { kty: 'OKP', crv: 'Ed25519', alg: ALG.EdDSA, x: pair.x, d: pair.d }
      : { kty: 'EC2', crv: 'P-256', alg: ALG.ES256, x: pair.x, y: pair.y!, d: pair.d };
  key.kid = utf8(kid ?? toBase64Url(coseKeyThumbprint(publicCoseKey(key), { provider: nativeProvider })).slice(0, KID_CHARS));
  return key;
}

/** The file's bytes for `key`: JWK text for `.json`, COSE_Key CBOR otherwise. */
export function keyFileContent(path: string, key: CoseKey): string | Uint8Array {
  return path.endsWith('.json') ? `${JSON.stringify(coseKeyToJwk(key), null, 2)}\n` : encodeCoseKey(key);
}

/** Writes a private key: exclusively (never over an existing file), mode 0600. */
export function writePrivateKeyFile(path: string, key: CoseKey): void {
  writePrivateFile(path, keyFileContent(path, key));
}
