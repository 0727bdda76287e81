/**
 * What a simulated fleet needs from an authorization service, so that a scenario runs the same
 * against the in-simulator issuer (deterministic, for 10 000 devices) and against the real authz/
 * service over loopback HTTP (for a small fleet, the demo and the integration test).
 */
import { safeAudienceName, type CborValue, type CoseKey } from '../cose/index.js';
import type { IntrospectionAnswer } from '../gateway/index.js';

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

/** An AIF-MQTT scope (RFC 9431): topic filters and their actions. */
export type MqttScope = Array<[string, Array<'pub' | 'sub'>]>;

/** Broker tokens from the same service, for the real-broker relay. */
export interface BrokerAccess {
  /** The service's public keys: what the broker verifies tokens and revocation lists with. */
  trust: CoseKey[];
  /** A by-value CWT for the broker's audience, `sub` = clientId, bound to `key` (its public part in req_cnf). */
  issue(req: { clientId: string; scope: MqttScope; key: CoseKey }): Promise<Uint8Array>;
}

/** Lifetime of broker tokens in the simulator: past the run's horizon (6 virtual hours). */
export const BROKER_TOKEN_LIFETIME_S = 24 * 3600;
/** What the fleet's clients (app and thief) and devices may do at the broker: their own ace/ topics. */
export const BROKER_CLIENT_SCOPE: MqttScope = [['ace/+/authz-info', ['pub']], ['ace/+/req', ['pub']]];
export const brokerDeviceScope = (deviceId: string): MqttScope => [
  [`ace/${safeAudienceName(deviceId)}/authz-info`, ['sub']],
  [`ace/${safeAudienceName(deviceId)}/req`, ['sub']],
  [`ace/${safeAudienceName(deviceId)}/res/+`, ['pub']],
];
/** The registration-side grant covering every device's scope above. */
export const BROKER_DEVICE_GRANT: MqttScope = [['ace/+/authz-info', ['sub']], ['ace/+/req', ['sub']], ['ace/+/res/+', ['pub']]];
/** The broker audience's grant: the union of the two above (one entry per filter). */
export const BROKER_AUDIENCE_GRANT: MqttScope = [['ace/+/authz-info', ['pub', 'sub']], ['ace/+/req', ['pub', 'sub']], ['ace/+/res/+', ['pub']]];
export const SIM_THIEF_ID = 'sim-thief';
export const SIM_FLEET_ID = 'sim-fleet';

export interface FleetIssuer {
  /** Which service answered: said in the report and by the demo. */
  readonly name: string;
  register(devices: readonly DeviceRegistration[]): Promise<void>;
  /** The device's provisioning bundle (pre-provisioned trust), encoded. */
  bundleFor(deviceId: string): Promise<Uint8Array>;
  issue(req: IssueRequest): Promise<IssuedToken>;
  /** A reference (opaque) token for the gateway audience, for the connected flow. */
  issueReference(clientId: string): Promise<Uint8Array>;
  /** RFC 7662 / RFC 9200 §5.9: is this reference token active, and until when? */
  introspect(token: Uint8Array): Promise<IntrospectionAnswer>;
  /** RFC 7009: revokes a reference token at the service (introspection then says inactive). */
  revokeReference(token: Uint8Array): Promise<void>;
  /** Revokes a token and returns the audience's new signed revocation list. */
  revoke(token: Uint8Array, audience: string): Promise<Uint8Array>;
  /**
   * The connected flow's real HTTP gateway (keybound gateway, DPoP and phantom tokens, in front of
   * the EKG's HTTP API), when the backend has one; without it the scenario models the gateway's
   * cache alone (the in-simulator issuer, for large fleets).
   */
  readonly connectedGateway?: ConnectedGateway;
  /** Registers a broker audience and says how to get tokens for it. */
  brokerAccess(audience: string): Promise<BrokerAccess>;
  close(): Promise<void>;
}

/** An app of the connected flow: its DPoP-bound reference token, and one DPoP request through the gateway. */
export interface ConnectedApp {
  /** The reference token's bytes (what revokeReference takes). */
  readonly token: Uint8Array;
  request(): Promise<{ served: boolean; reason?: string }>;
}

export interface ConnectedGateway {
  /** Where the gateway listens (said by the demo). */
  readonly url: string;
  /** A new app: its own DPoP key, a reference token bound to it from the service. */
  open(): Promise<ConnectedApp>;
  /** The real gateway's phantom-token cache counters (a miss is an introspection). */
  stats(): { hits: number; misses: number; expired: number; evictions: number };
}

/** The AIF-REST scope every simulated client asks for: read the sensor. */
export const SENSOR_SCOPE: CborValue = [['/temp', 1]];
export const GATEWAY_AUDIENCE = 'sim-gateway';
export const SIM_CLIENT_ID = 'ekg-app';
