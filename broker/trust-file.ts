/**
 * Reading the broker's trust from bytes a file holds: a COSE_KeySet (RFC 9052 §7: an array of
 * COSE_Keys, as the service serves at /keys), a CBOR provisioning bundle, or its JSON form.
 * Private parts are dropped: the broker only verifies.
 */
import {
  bundleFromJson,
  coseKeyFromMap,
  decodeCbor,
  decodeProvisioningBundle,
  fromUtf8,
  publicCoseKey,
  type CoseKey,
  type ProvisioningBundle,
} from '../cose/index.js';

/** A key set or bundle is a few KB; anything larger is not one. */
export const MAX_TRUST_FILE_BYTES = 64 * 1024;
const MAX_KEYS = 64;

export function trustFromBytes(bytes: Uint8Array, now: number): CoseKey[] | ProvisioningBundle {
  if (bytes.length > MAX_TRUST_FILE_BYTES) throw new TypeError(`trust file larger than ${MAX_TRUST_FILE_BYTES} bytes`);
  if (bytes[0] === 0x7b /* '{' */) return bundleFromJson(fromUtf8(bytes), now);
  const value = decodeCbor(bytes, { maxBytes: MAX_TRUST_FILE_BYTES, maxDepth: 8 });
  if (Array.isArray(value)) {
    if (value.length === 0 || value.length > MAX_KEYS) throw new TypeError(`a COSE_KeySet of 1 to ${MAX_KEYS} keys is expected`);
    // Symmetric keys (cnf kid, Encrypted_COSE_Key) stay whole: they are shared secrets by nature.
    return value.map((v) => {
      const key = coseKeyFromMap(v);
      return key.kty === 'Symmetric' ? key : publicCoseKey(key);
    });
  }
  return decodeProvisioningBundle(bytes, now);
}
