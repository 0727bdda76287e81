/**
 * Keys for a protected session (DESIGN.md "Protected sessions"), modelled on OSCORE's key
 * derivation (RFC 8613 §3.2) as the OSCORE profile of ACE sets it up (RFC 9203 §4.3): the PoP
 * key is the master secret, the two nonces (N1 from the client, N2 from the device) the salt, so
 * that a session's keys are fresh even when the same token is posted twice. Each direction has
 * its own key and IV, so a sequence number is never used twice under one key.
 */
import { encodeCbor, algorithmById, type CryptoProvider } from '../cose/index.js';

export type Direction = 'c2d' | 'd2c';

/** RFC 9203 §4.1: nonces of at least 8 bytes; we insist on that at the door. */
export const MIN_SESSION_NONCE_BYTES = 8;
export const MAX_SESSION_NONCE_BYTES = 32;
/** Session ids: 4 bytes, chosen by the device, unique among its sessions. */
export const SESSION_ID_BYTES = 4;

export interface DirectionKeys {
  key: Uint8Array;
  iv: Uint8Array;
}

export interface SessionKeys {
  id: Uint8Array;
  alg: number;
  c2d: DirectionKeys;
  d2c: DirectionKeys;
}

export function deriveSessionKeys(
  masterSecret: Uint8Array,
  nonce1: Uint8Array,
  nonce2: Uint8Array,
  id: Uint8Array,
  alg: number,
  provider: CryptoProvider,
): SessionKeys {
  const algorithm = algorithmById(alg);
  if (algorithm.kind !== 'aead') throw new RangeError('session algorithm must be an AEAD');
  const salt = new Uint8Array(nonce1.length + nonce2.length);
  salt.set(nonce1);
  salt.set(nonce2, nonce1.length);
  // RFC 8613 §3.2.1 info = [id, id_context, alg_aead, type, L]; here id_context is the direction.
  const derive = (dir: Direction, type: 'Key' | 'IV', length: number) =>
    provider.hkdf('SHA-256', masterSecret, salt, encodeCbor([id, dir, alg, type, length]), length);
  const k = algorithm.aead.keyLength;
  const n = algorithm.aead.nonceLength;
  return {
    id,
    alg,
    c2d: { key: derive('c2d', 'Key', k), iv: derive('c2d', 'IV', n) },
    d2c: { key: derive('d2c', 'Key', k), iv: derive('d2c', 'IV', n) },
  };
}
