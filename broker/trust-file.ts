/**
 * Reading the broker's trust from bytes a file holds (`broker serve --trust F`): the service's
 * `/keys` (a COSE_KeySet, RFC 9052 §7: an array of COSE_Keys), its `/jwks.json` (a JWK Set,
 * RFC 7517 §5), or the broker's own provisioning bundle (CBOR, or its JSON twin).
 * A key set is public by nature: one that carries a private part or a symmetric key is refused
 * (someone exported the wrong file), never trimmed into shape. Whether a bundle is the broker's
 * own is checked against its audience by brokerTrust (trust.ts).
 */
import {
  CoseError,
  bundleFromJson,
  coseKeyFromMap,
  decodeCbor,
  fromUtf8,
  isMap,
  jwkToCoseKey,
  decodeProvisioningBundle,
  type CoseKey,
  type Jwk,
} from '../cose/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';
import type { TrustInput } from './trust.js';

/** A key set or bundle is a few KB; anything larger is not one. */
export const MAX_TRUST_FILE_BYTES = 64 * 1024;
const MAX_KEYS = 64;

function refuse(message: string, cause?: unknown): BrokerError {
  return new BrokerError(BROKER_ERR.BAD_TRUST, message, cause === undefined ? undefined : { cause });
}

/** A key of a published key set: the service's public key, nothing secret. */
function publicOnly(key: CoseKey, where: string): CoseKey {
  if (key.kty === 'Symmetric') throw refuse(`trust file: ${where} holds a symmetric key; the service's key set is public keys only`);
  if (key.d) throw refuse(`trust file: ${where} holds a private key (d); the service's key set is public keys only`);
  return key;
}

function keyCount(n: number, what: string): void {
  if (n === 0 || n > MAX_KEYS) throw refuse(`trust file: a ${what} of 1 to ${MAX_KEYS} keys is expected`);
}

/** RFC 7517 §5: {"keys": [JWK, ...]}. The service writes kids as base64url of the COSE kid (authz/jwks.ts). */
function fromJwks(keys: unknown[]): CoseKey[] {
  keyCount(keys.length, 'JWK Set');
  return keys.map((jwk, i) => publicOnly(jwkToCoseKey(jwk as Jwk, { kidEncoding: 'base64url' }), `JWK ${i}`));
}

function fromJson(bytes: Uint8Array, now: number): TrustInput {
  let text: string;
  let value: unknown;
  try {
    text = fromUtf8(bytes);
    value = JSON.parse(text);
  } catch {
    throw refuse('trust file: not valid UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse('trust file: a JSON trust file is a JWK Set or a provisioning bundle');
  const keys = (value as { keys?: unknown }).keys;
  if (keys !== undefined) {
    if (!Array.isArray(keys)) throw refuse('trust file: keys of a JWK Set must be an array');
    return fromJwks(keys);
  }
  return bundleFromJson(text, now);
}

function fromCbor(bytes: Uint8Array, now: number): TrustInput {
  const value = decodeCbor(bytes, { maxBytes: MAX_TRUST_FILE_BYTES, maxDepth: 8 });
  if (Array.isArray(value)) {
    keyCount(value.length, 'COSE_KeySet');
    return value.map((v, i) => publicOnly(coseKeyFromMap(v), `COSE_Key ${i}`));
  }
  if (!isMap(value)) throw refuse('trust file: a COSE_KeySet (array) or a provisioning bundle (map) is expected');
  return decodeProvisioningBundle(bytes, now);
}

export function trustFromBytes(bytes: Uint8Array, now: number): TrustInput {
  if (bytes.length === 0 || bytes.length > MAX_TRUST_FILE_BYTES) throw refuse(`trust file: 1 to ${MAX_TRUST_FILE_BYTES} bytes are expected`);
  try {
    // JSON text starts with '{' (after any white space); CBOR of a map or array never starts with a space or '{' (0x7b: a text string).
    let i = 0;
    while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
    return bytes[i] === 0x7b ? fromJson(bytes, now) : fromCbor(bytes, now);
  } catch (cause) {
    if (cause instanceof CoseError) throw refuse(`trust file: ${cause.message} (${cause.code})`, cause);
    throw cause;
  }
}
