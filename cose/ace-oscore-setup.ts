/**
 * The OSCORE setup of the ACE-OSCORE profile (RFC 9203 §4.3), the same for both ends: from the
 * OSCORE_Input_Material the service issued, the nonces N1 (client) and N2 (RS) and the Recipient
 * IDs ID1 (client's) and ID2 (RS's) exchanged at /authz-info, the input of an RFC 8613 §3.2
 * security context derivation. The client's Sender ID is ID2 and its Recipient ID is ID1; the RS
 * the other way round, so both derive the same two keys.
 */
import { CoseFormatError, ERR } from './errors.js';
import { constantTimeEqual } from './bytes.js';
import { aceOscoreMasterSalt, type OscoreInputMaterial } from './oscore-input-material.js';
import { OSCORE_DEFAULT_AEAD, OSCORE_DEFAULT_HKDF } from './oscore-context.js';

/** RFC 9203 §4.1: "a 64-bit long random number as the nonce's value is RECOMMENDED"; 32 refuses junk. */
export const ACE_OSCORE_NONCE_BYTES = 8;
export const MIN_ACE_OSCORE_NONCE_BYTES = 8;
export const MAX_ACE_OSCORE_NONCE_BYTES = 32;
/**
 * RFC 8613 §3.3: a Sender ID is at most (AEAD nonce length - 6) bytes: 7 for AES-CCM-16-64-128,
 * the profile's default AEAD. Both IDs of the exchange become Sender IDs on one side.
 */
export const MAX_ACE_OSCORE_ID_BYTES = 7;

/** The input of an OSCORE security context derivation (RFC 8613 §3.2), as cose/oscore-context.ts takes it. */
export interface AceOscoreContextInput {
  masterSecret: Uint8Array;
  masterSalt: Uint8Array;
  idContext?: Uint8Array;
  senderId: Uint8Array;
  recipientId: Uint8Array;
  aeadAlg: number;
  hkdfAlg: number;
}

export interface AceOscoreExchange {
  nonce1: Uint8Array;
  nonce2: Uint8Array;
  /** ID1: ace_client_recipientid, chosen by the client. */
  clientRecipientId: Uint8Array;
  /** ID2: ace_server_recipientid, chosen by the RS. */
  serverRecipientId: Uint8Array;
}

/** RFC 9203 §3.2.1: hkdf and alg may be text; these are the names of the values keybound derives with. */
const ALG_BY_NAME: Readonly<Record<string, number>> = { 'AES-CCM-16-64-128': 10, 'HKDF SHA-256': -10, 'direct+HKDF-SHA-256': -10 };

function invalid(reason: string): CoseFormatError {
  return new CoseFormatError(ERR.COSE_MALFORMED, `ACE-OSCORE setup: ${reason}`);
}

function algValue(v: number | string | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return v;
  const n = ALG_BY_NAME[v];
  if (n === undefined) throw invalid(`${what} "${v.slice(0, 32)}" is not an algorithm name this implementation knows`);
  return n;
}

function checkBytes(v: Uint8Array, what: string, min: number, max: number): void {
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max) throw invalid(`${what} must be ${min} to ${max} bytes`);
}

/**
 * RFC 9203 §4.3 for `role`: refuses what the RFC says to stop on (a missing Master Secret, ID1 =
 * ID2: "the Sender and Recipient Keys derived would be equal") and identifiers or nonces out of
 * bounds. The algorithms are not checked here: the derivation refuses those it cannot run.
 */
export function aceOscoreContextInput(material: OscoreInputMaterial, exchange: AceOscoreExchange, role: 'client' | 'server'): AceOscoreContextInput {
  if (!material.ms) throw invalid('the OSCORE_Input_Material has no ms(2)');
  checkBytes(exchange.nonce1, 'nonce1(40)', MIN_ACE_OSCORE_NONCE_BYTES, MAX_ACE_OSCORE_NONCE_BYTES);
  checkBytes(exchange.nonce2, 'nonce2(42)', MIN_ACE_OSCORE_NONCE_BYTES, MAX_ACE_OSCORE_NONCE_BYTES);
  // An empty ID is valid in OSCORE (RFC 8613 §3.1: the ID may be the empty byte string).
  checkBytes(exchange.clientRecipientId, 'ace_client_recipientid(43)', 0, MAX_ACE_OSCORE_ID_BYTES);
  checkBytes(exchange.serverRecipientId, 'ace_server_recipientid(44)', 0, MAX_ACE_OSCORE_ID_BYTES);
  if (constantTimeEqual(exchange.clientRecipientId, exchange.serverRecipientId)) {
    throw invalid('ace_client_recipientid equals ace_server_recipientid (RFC 9203 §4.3: the two keys would be equal)');
  }
  const client = role === 'client';
  return {
    masterSecret: material.ms,
    masterSalt: aceOscoreMasterSalt(material.salt, exchange.nonce1, exchange.nonce2),
    ...(material.contextId !== undefined ? { idContext: material.contextId } : {}),
    senderId: client ? exchange.serverRecipientId : exchange.clientRecipientId,
    recipientId: client ? exchange.clientRecipientId : exchange.serverRecipientId,
    aeadAlg: algValue(material.alg, OSCORE_DEFAULT_AEAD, 'alg(4)'),
    hkdfAlg: algValue(material.hkdf, OSCORE_DEFAULT_HKDF, 'hkdf(3)'),
  };
}
