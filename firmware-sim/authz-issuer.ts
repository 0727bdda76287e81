/**
 * The fleet's issuer backed by the REAL authorization service (authz/): SQLite in a data
 * directory, HTTP on 127.0.0.1 (port 0), on the simulator's virtual clock. Devices are
 * registered as audiences and provisioned with authz/'s own bundles; tokens, introspection,
 * revocation and the signed revocation lists all go over loopback HTTP in application/ace+cbor
 * or form encoding, as any client would. For small fleets (the demo, the integration test).
 */
import { join } from 'node:path';
import {
  ACE_PARAM,
  CLAIM,
  decodeCbor,
  encodeCbor,
  encodeProvisioningBundle,
  isMap,
  toBase64Url,
  type CborMap,
  type CborValue,
  utf8,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { requestToken } from '../device/index.js';
import { SqliteStore, createAuthzServer, provisionDevice, registerAudience, registerClient } from '../authz/index.js';
import {
  BROKER_AUDIENCE_GRANT,
  BROKER_CLIENT_SCOPE,
  BROKER_DEVICE_GRANT,
  BROKER_TOKEN_LIFETIME_S,
  GATEWAY_AUDIENCE,
  SENSOR_SCOPE,
  SIM_CLIENT_ID,
  SIM_FLEET_ID,
  SIM_THIEF_ID,
  type DeviceRegistration,
  type FleetIssuer,
} from './fleet-issuer.js';
import { startConnectedGateway } from './connected-gateway.js';

/** Loopback credentials made for one run; they never leave the process. */
const CLIENT_SECRET = 'sim-client-secret-loopback-only';
const RS_ID = 'sim-gateway-rs';
const RS_SECRET = 'sim-gateway-secret-loopback-only';

export interface AuthzIssuer extends FleetIssuer {
  readonly url: string;
}

export async function startAuthzIssuer(opts: { dataDir: string; clock: () => number; lifetime?: number }): Promise<AuthzIssuer> {
  const store = new SqliteStore(join(opts.dataDir, 'authz.sqlite'));
  const server = await createAuthzServer({ store, dataDir: opts.dataDir, clock: opts.clock });
  const { url } = await server.listen(0, '127.0.0.1');
  const audiences: string[] = [GATEWAY_AUDIENCE];
  const basic = `Basic ${Buffer.from(`${SIM_CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;

  const post = async (path: string, body: Uint8Array | string, type: string, headers: Record<string, string> = {}): Promise<Uint8Array> => {
    const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
    return new Uint8Array(await res.arrayBuffer());
  };
  const tokenTransport = (body: Uint8Array) => post('/token', body, 'application/ace+cbor');
  let brokerScopes = false;
  const registerTheClient = () =>
    registerClient(store, {
      id: SIM_CLIENT_ID,
      secret: CLIENT_SECRET,
      audiences,
      scopes: [SENSOR_SCOPE as unknown[], 'read', ...(brokerScopes ? [BROKER_CLIENT_SCOPE] : [])],
      grantTypes: ['client_credentials'],
    });

  await registerAudience(store, nativeProvider, { id: GATEWAY_AUDIENCE, protection: 'mac0', referenceTokens: true, scopes: ['read'] });
  await registerClient(store, { id: RS_ID, secret: RS_SECRET, audiences: [GATEWAY_AUDIENCE], grantTypes: [], resourceServer: true });
  await registerTheClient();
  // The connected flow goes through the real gateway, introspecting at this service as RS_ID.
  const connectedGateway = await startConnectedGateway({
    serviceUrl: url,
    audience: GATEWAY_AUDIENCE,
    scope: 'read',
    client: { id: SIM_CLIENT_ID, secret: CLIENT_SECRET },
    resourceServer: { id: RS_ID, secret: RS_SECRET },
    clock: opts.clock,
  });

  return {
    name: `authz/ service over HTTP at ${url} (SQLite)`,
    url,
    connectedGateway,
    async register(devices: readonly DeviceRegistration[]) {
      for (const d of devices) {
        await registerAudience(store, nativeProvider, {
          id: d.id,
          // authz/ signs with one algorithm per service: an ES256 plan is served as EdDSA Sign1 here.
          protection: d.protection === 'mac0' ? 'mac0' : 'sign1',
          clockless: d.clockless,
          scopes: [SENSOR_SCOPE as unknown[]],
          ...(opts.lifetime ? { lifetime: opts.lifetime } : {}),
        });
        audiences.push(d.id);
      }
      await registerTheClient();
    },
    async bundleFor(deviceId) {
      // The service's bundle is used as it comes: its shared keys are trust anchors.
      const bundle = await provisionDevice(store, server.keys, { deviceId, issuer: url, now: Math.floor(opts.clock()), asUrl: `${url}/token` });
      return encodeProvisioningBundle(bundle);
    },
    async issue(req) {
      const res = await requestToken(tokenTransport, {
        grant: 'client_credentials',
        auth: { clientId: SIM_CLIENT_ID, clientSecret: CLIENT_SECRET },
        audience: req.audience,
        scope: req.scope,
        ...(req.clientKey ? { popKey: req.clientKey } : {}),
      });
      if (!res.popKey) throw new Error('the authorization service gave no PoP key');
      return { token: res.accessToken, popKey: res.popKey };
    },
    async issueReference(clientId) {
      const res = await requestToken(tokenTransport, {
        grant: 'client_credentials',
        auth: { clientId, clientSecret: CLIENT_SECRET },
        audience: GATEWAY_AUDIENCE,
        scope: 'read',
      });
      return res.accessToken;
    },
    async introspect(token) {
      const body = encodeCbor(new Map<CborValue, CborValue>([[ACE_PARAM.token, token], [ACE_PARAM.client_id, RS_ID], [ACE_PARAM.client_secret, utf8(RS_SECRET)]]));
      const answer = decodeCbor(await post('/introspect', body, 'application/ace+cbor'));
      if (!isMap(answer) || (answer as CborMap).get(ACE_PARAM.active) !== true) return { active: false };
      // RFC 9200 §5.9.2: exp under its CWT claim label 4.
      const exp = (answer as CborMap).get(CLAIM.exp);
      return typeof exp === 'number' ? { active: true, exp } : { active: true };
    },
    async revokeReference(token) {
      await post('/revoke', new URLSearchParams({ token: toBase64Url(token) }).toString(), 'application/x-www-form-urlencoded', { authorization: basic });
    },
    async revoke(token, audience) {
      await post('/revoke', new URLSearchParams({ token: toBase64Url(token) }).toString(), 'application/x-www-form-urlencoded', { authorization: basic });
      const res = await fetch(`${url}/trl/${encodeURIComponent(audience)}`);
      return new Uint8Array(await res.arrayBuffer());
    },
    async brokerAccess(brokerAudience) {
      // The broker is an audience of the service like any device, with AIF-MQTT grants (RFC 9431):
      // devices read their own ace/<device>/ topics, the app and the thief publish to them. Each
      // principal asks for exactly its own scope (client_credentials, its key in req_cnf).
      await registerAudience(store, nativeProvider, {
        id: brokerAudience,
        scopes: [BROKER_AUDIENCE_GRANT],
        lifetime: BROKER_TOKEN_LIFETIME_S,
      });
      audiences.push(brokerAudience);
      await registerClient(store, { id: SIM_CLIENT_ID, secret: CLIENT_SECRET, audiences, scopes: [SENSOR_SCOPE as unknown[], 'read', BROKER_CLIENT_SCOPE], grantTypes: ['client_credentials'] });
      await registerClient(store, { id: SIM_THIEF_ID, secret: CLIENT_SECRET, audiences: [brokerAudience], scopes: [BROKER_CLIENT_SCOPE], grantTypes: ['client_credentials'] });
      await registerClient(store, { id: SIM_FLEET_ID, secret: CLIENT_SECRET, audiences: [brokerAudience], scopes: [BROKER_DEVICE_GRANT], grantTypes: ['client_credentials'] });
      brokerScopes = true;
      return {
        trust: server.keys.publicKeys(Math.floor(opts.clock())),
        async issue(req) {
          // Devices' tokens come from the fleet's provisioning client; sub is then that client.
          const principal = req.clientId === SIM_CLIENT_ID || req.clientId === SIM_THIEF_ID ? req.clientId : SIM_FLEET_ID;
          const res = await requestToken(tokenTransport, {
            grant: 'client_credentials',
            auth: { clientId: principal, clientSecret: CLIENT_SECRET },
            audience: brokerAudience,
            scope: req.scope,
            popKey: req.key,
          });
          return res.accessToken;
        },
      };
    },
    async close() {
      await connectedGateway.close();
      await server.close();
      store.close();
    },
  };
}
