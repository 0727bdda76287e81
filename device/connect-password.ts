/**
 * The MQTT CONNECT credentials a client sends to the keybound broker (DESIGN.md "MQTT"):
 * username `ace` (RFC 9431's convention) and the password CBOR [token, proof], where the proof
 * (purpose `mqtt-connect`) binds the broker's audience, the MQTT client id and the token's hash,
 * fresh by iat and a random jti. Built on the device side, so it lives here; the broker reads it.
 */
import { encodeCbor, portableProvider, tokenHash, type Clock, type CoseKey, type CryptoProvider } from '../cose/index.js';
import { createPopProof } from './pop-proof.js';

export const ACE_USERNAME = 'ace';
/** RFC 9431 / DESIGN.md: the proof's purpose at CONNECT. */
export const PURPOSE_CONNECT = 'mqtt-connect';
/** jti bytes our clients send: 128 random bits, above MIN_JTI_BYTES. */
export const CONNECT_JTI_BYTES = 16;

export interface ConnectPasswordOptions {
  /** The broker's audience. */
  audience: string;
  /** The MQTT client id the CONNECT carries. */
  clientId: string;
  clock: Clock;
  provider?: CryptoProvider;
  /** Purpose override: `mqtt-connect` at CONNECT, `mqtt-authz-info` for an in-band refresh. */
  purpose?: string;
}

/** The CONNECT password for a token and its PoP key: CBOR [token, proof]. A new proof each call. */
export function createConnectPassword(token: Uint8Array, popKey: CoseKey, opts: ConnectPasswordOptions): Uint8Array {
  return createConnectCredentials(token, popKey, opts).password;
}

/**
 * The password and the proof's jti: a publisher with per-message PoP binds every signed message
 * to the jti of the CONNECT that opened its connection (broker/message-pop.ts).
 */
export function createConnectCredentials(token: Uint8Array, popKey: CoseKey, opts: ConnectPasswordOptions): { password: Uint8Array; jti: Uint8Array } {
  const provider = opts.provider ?? portableProvider;
  const jti = provider.randomBytes(CONNECT_JTI_BYTES);
  const proof = createPopProof(
    {
      purpose: opts.purpose ?? PURPOSE_CONNECT,
      audience: opts.audience,
      tokenHash: tokenHash(token, provider),
      iat: Math.floor(opts.clock()),
      jti,
      clientId: opts.clientId,
    },
    popKey,
    { provider },
  );
  return { password: encodeCbor([token, proof]), jti };
}
