/**
 * Encrypted_COSE_Key (RFC 8747 §3.3): a symmetric PoP key the service seals for the audience in
 * cnf(8) encryptedCoseKey(2). A module of its own (cnf.ts re-exports it) so that the verify-only
 * device bundle, which has no AES-CCM to open one (device/no-symmetric-pop.ts), leaves it out:
 * there opening one refuses with ERR_COSE_ALG_UNSUPPORTED, as its COSE_Encrypt0 did first thing.
 */
import { CwtClaimError, ERR } from './errors.js';
import type { CborValue } from './cbor-value.js';
import { decodeCoseKey, encodeCoseKey, type CoseKey } from './cose-key.js';
import { buildEncrypt0, decryptEncrypt0, type CreateEncrypt0Options } from './encrypt0.js';
import type { KeyInput, VerifyOptions } from './key-input.js';
import type { Confirmation } from './cnf.js';

/**
 * Seals a symmetric PoP key for the audience (RFC 8747 §3.3): a COSE_Encrypt0 of the COSE_Key
 * under a key the service shares with that audience.
 */
export function sealCoseKey(popKey: CoseKey, audienceKey: CoseKey, opts: CreateEncrypt0Options = {}): Confirmation {
  // The audience may share several keys with the service: name the one used, by default.
  const named = audienceKey.kid ? { kid: audienceKey.kid } : {};
  return { encryptedCoseKey: buildEncrypt0(encodeCoseKey(popKey), audienceKey, { ...named, ...opts }) };
}

/** Opens an Encrypted_COSE_Key with the audience's shared key and returns the PoP key. */
export function openEncryptedCoseKey(cnf: { encryptedCoseKey: CborValue }, audienceKey: KeyInput, opts: VerifyOptions = {}): CoseKey {
  const { plaintext } = decryptEncrypt0(cnf.encryptedCoseKey, audienceKey, opts);
  try {
    return decodeCoseKey(plaintext);
  } catch (cause) {
    throw new CwtClaimError(ERR.CWT_CLAIM_INVALID, 'cnf(8)', `Encrypted_COSE_Key(2) holds no valid COSE_Key: ${(cause as Error).message}`);
  }
}
