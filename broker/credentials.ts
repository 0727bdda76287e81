/**
 * The CONNECT credentials (DESIGN.md "MQTT"): username `ace` (RFC 9431's convention) and a
 * password that is the CBOR array [token, proof], as raw bytes or as base64url text for
 * clients that can only send text (`mosquitto_pub -P`).
 */
import {
  decodeCbor,
  encodeCbor,
  fromBase64Url,
  toBase64Url,
  tokenHash,
  MAX_TOKEN_BYTES,
  type Clock,
  type CoseKey,
  type CryptoProvider,
} from '../cose/index.js';
import { MAX_PROOF_BYTES } from '../device/index.js';
import { BrokerError, BROKER_ERR } from './errors.js';

// The client side (building the password) is device/'s: devices connect with it.
export { ACE_USERNAME, PURPOSE_CONNECT, CONNECT_JTI_BYTES, createConnectPassword, createConnectCredentials, type ConnectPasswordOptions } from '../device/index.js';
/** A token, a proof and CBOR framing; base64url text is 4/3 of that. */
export const MAX_PASSWORD_BYTES = Math.ceil(((MAX_TOKEN_BYTES + MAX_PROOF_BYTES + 16) * 4) / 3);

export interface ConnectCredentials {
  token: Uint8Array;
  proof: Uint8Array;
}

function bad(message: string): BrokerError {
  return new BrokerError(BROKER_ERR.BAD_CREDENTIALS, `CONNECT password: ${message}`);
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Reads the password: CBOR [token, proof] raw, or the same as base64url text. */
export function decodeConnectPassword(password: Uint8Array | undefined): ConnectCredentials {
  if (!password || password.length === 0) throw bad('missing');
  if (password.length > MAX_PASSWORD_BYTES) throw bad(`longer than ${MAX_PASSWORD_BYTES} bytes`);
  let raw = password;
  // A CBOR array of two starts with 0x82; base64url text never does (it is ASCII).
  if (password[0] !== 0x82) {
    let text = '';
    for (const b of password) text += String.fromCharCode(b);
    if (!BASE64URL.test(text)) throw bad('neither a CBOR array nor base64url text');
    try {
      raw = fromBase64Url(text);
    } catch {
      throw bad('bad base64url');
    }
  }
  let value;
  try {
    value = decodeCbor(raw, { maxBytes: MAX_PASSWORD_BYTES, maxDepth: 2 });
  } catch (cause) {
    throw bad(`not valid CBOR (${(cause as { code?: string }).code ?? 'error'})`);
  }
  if (!Array.isArray(value) || value.length !== 2 || !(value[0] instanceof Uint8Array) || !(value[1] instanceof Uint8Array)) {
    throw bad('expected [token, proof] as two byte strings');
  }
  if (value[0].length === 0 || value[0].length > MAX_TOKEN_BYTES) throw bad(`token must be 1 to ${MAX_TOKEN_BYTES} bytes`);
  if (value[1].length === 0 || value[1].length > MAX_PROOF_BYTES) throw bad(`proof must be 1 to ${MAX_PROOF_BYTES} bytes`);
  // Copies: decoded byte strings alias the password buffer, which aedes may reuse.
  return { token: value[0].slice(), proof: value[1].slice() };
}

/** The same password as base64url text (for `mosquitto_pub -u ace -P <text>`). */
export function connectPasswordText(password: Uint8Array): string {
  return toBase64Url(password);
}
