/**
 * What a simulated fleet needs from an authorization service, so that a scenario runs the same
 * against the in-simulator issuer (deterministic, for 10 000 devices) and against the real authz/
 * service over loopback HTTP (for a small fleet, the demo and the integration test).
 */
import type { CborValue, CoseKey } from '../cose/index.js';

/** How the token is protected: COSE_Sign1 (EdDSA or ES256) or COSE_Mac0 (HMAC 256/64). */
export type TokenProtection = 'sign1' | 'sign1-es256' | 'mac0';

export interface DeviceRegistration {
  id: string;
  protection: TokenProtection;
  /** No real-time clock: tokens carry exi (RFC 9200 §5.10.3) instead of exp. */
  clockless: boolean;
}

export interface IssuedToken {
  token: Uint8Array;
  /** The PoP key the client holds: the symmetric one the AS made, or the client's own. */
  popKey: CoseKey;
}

export interface IssueRequest {
  audience: string;
  clientId: string;
  scope: CborValue;
  /** The client's own asymmetric PoP key (its public part goes in req_cnf); omit for a symmetric one. */
  clientKey?: CoseKey;
}

export interface FleetIssuer {
  /** Which service answered: said in the report and by the demo. */
  readonly name: string;
  register(devices: readonly DeviceRegistration[]): Promise<void>;
  /** The device's provisioning bundle (pre-provisioned trust), encoded. */
  bundleFor(deviceId: string): Promise<Uint8Array>;
  issue(req: IssueRequest): Promise<IssuedToken>;
  /** A reference (opaque) token for the gateway audience, for the connected flow. */
  issueReference(clientId: string): Promise<Uint8Array>;
  /** RFC 7662 / RFC 9200 §5.9: is this reference token active? */
  introspect(token: Uint8Array): Promise<boolean>;
  /** Revokes a token and returns the audience's new signed revocation list. */
  revoke(token: Uint8Array, audience: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** The AIF-REST scope every simulated client asks for: read the sensor. */
export const SENSOR_SCOPE: CborValue = [['/temp', 1]];
export const GATEWAY_AUDIENCE = 'sim-gateway';
export const SIM_CLIENT_ID = 'ekg-app';
