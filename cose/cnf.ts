/**
 * The confirmation claim (RFC 8747 §3): the key a token's holder must prove. Exactly one of
 * COSE_Key (1, a client-held public key), Encrypted_COSE_Key (2, a service-generated symmetric
 * key sealed for the audience), kid (3, a key both sides already hold) or osc (4, RFC 9203
 * §3.2.1: the OSCORE_Input_Material of the ACE-OSCORE profile, in an encrypted token only).
 */
import { CwtClaimError, ERR } from './errors.js';
import { isMap, Tag, type CborMap, type CborValue } from './cbor-value.js';
import { COSE_TAG } from './message.js';
import { coseKeyFromMap, coseKeyToMap, type CoseKey } from './cose-key.js';
import { oscoreInputMaterialFromMap, oscoreInputMaterialToMap, type OscoreInputMaterial } from './oscore-input-material.js';

export const CNF_LABEL = { coseKey: 1, encryptedCoseKey: 2, kid: 3, osc: 4 } as const;

export type Confirmation =
  | { coseKey: CoseKey }
  | { encryptedCoseKey: CborValue }
  | { kid: Uint8Array }
  | { osc: OscoreInputMaterial };

function invalid(reason: string): CwtClaimError {
  return new CwtClaimError(ERR.CWT_CLAIM_INVALID, 'cnf(8)', reason);
}

/**
 * RFC 8747 §3.3 / RFC 9052 §5.2: an Encrypted_COSE_Key is a COSE_Encrypt0, optionally tag 16:
 * [protected: bstr, unprotected: map, ciphertext: bstr]. Checked when the claim is read, so that
 * a token carrying anything else is refused for its cnf, not kept until a key opens it.
 */
function checkEncrypt0Shape(value: CborValue): void {
  const arr = value instanceof Tag && value.tag === COSE_TAG.Encrypt0 ? (value.value as CborValue) : value;
  const ok = Array.isArray(arr) && arr.length === 3 && arr[0] instanceof Uint8Array && isMap(arr[1]) && arr[2] instanceof Uint8Array;
  if (!ok) throw invalid('Encrypted_COSE_Key(2) must be a COSE_Encrypt0: [protected bstr, unprotected map, ciphertext bstr], untagged or tag 16');
}

export function cnfToMap(cnf: Confirmation): CborMap {
  if ('coseKey' in cnf) {
    if (cnf.coseKey.d) throw invalid('must not carry a private key d(-4)');
    if (cnf.coseKey.kty === 'Symmetric') throw invalid('a symmetric key is never sent in the clear: use Encrypted_COSE_Key(2) or kid(3)');
    return new Map([[CNF_LABEL.coseKey, coseKeyToMap(cnf.coseKey)]]);
  }
  if ('encryptedCoseKey' in cnf) {
    checkEncrypt0Shape(cnf.encryptedCoseKey);
    return new Map([[CNF_LABEL.encryptedCoseKey, cnf.encryptedCoseKey]]);
  }
  if ('osc' in cnf) return new Map([[CNF_LABEL.osc, oscoreInputMaterialToMap(cnf.osc)]]);
  return new Map([[CNF_LABEL.kid, cnf.kid]]);
}

export function cnfFromMap(value: CborValue): Confirmation {
  if (!isMap(value) || value.size !== 1) throw invalid('must be a map with exactly one confirmation method');
  const [[label, inner]] = [...value] as [[CborValue, CborValue]];
  switch (label) {
    case CNF_LABEL.coseKey: {
      let key: CoseKey;
      try {
        key = coseKeyFromMap(inner);
      } catch (cause) {
        throw invalid(`COSE_Key(1): ${(cause as Error).message}`);
      }
      if (key.d || key.kty === 'Symmetric') throw invalid('COSE_Key(1) must be a public key');
      return { coseKey: key };
    }
    case CNF_LABEL.encryptedCoseKey:
      checkEncrypt0Shape(inner);
      return { encryptedCoseKey: inner };
    case CNF_LABEL.kid:
      if (!(inner instanceof Uint8Array) || inner.length === 0) throw invalid('kid(3) must be a non-empty byte string');
      return { kid: inner };
    case CNF_LABEL.osc:
      return { osc: oscoreInputMaterialFromMap(inner) };
    default:
      throw invalid(`confirmation method ${String(label)} is not supported`);
  }
}

// Sealing and opening an Encrypted_COSE_Key (symmetric PoP) live in sealed-cose-key.ts.
export { sealCoseKey, openEncryptedCoseKey } from './sealed-cose-key.js';
