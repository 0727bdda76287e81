/**
 * The real authorization service over HTTP (SQLite on disk) with one device audience and a few
 * confidential clients, for attacks on a device runtime: issue, revoke, fetch the signed list.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coseKeyToMap, encodeCbor, fromBase64Url, publicCoseKey, toBase64Url, type CborValue, type CoseKey } from '../../cose/index.js';
import { nativeProvider } from '../../cose/adapters/index.js';
import { requestToken, type TokenResponse } from '../../device/index.js';
import { createAuthzServer, provisionDevice, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../../authz/index.js';
import { basic, post } from './authz-client.js';
import { ISSUER } from './device-issuer.js';

export const DEVICE_SCOPE = '[["/result",1]]';

export interface DeviceService {
  readonly dir: string;
  readonly base: string;
  readonly bundle: Awaited<ReturnType<typeof provisionDevice>>;
  /** A token for `client`, bound to `popKey` (req_cnf), or to a symmetric key the service makes. */
  issue(client: string, popKey?: CoseKey): Promise<TokenResponse>;
  /** RFC 9203 §3.1: a token for `scope` bound to the OSCORE input material `materialId` names (req_cnf kid). */
  issueUpdate(client: string, materialId: Uint8Array, scope: CborValue): Promise<TokenResponse>;
  revoke(client: string, token: Uint8Array): Promise<void>;
  /** The audience's signed revocation list, as the service serves it. */
  trl(): Promise<Uint8Array>;
  close(): Promise<void>;
}

const secretOf = (client: string) => `${client}-secret-that-is-long-enough`;

export async function startDeviceService(opts: {
  audience: string;
  clients: string[];
  lifetime: number;
  clockless?: boolean;
  /** The audience's ACE profile (ACE_PROFILE): coap_oscore gives OSCORE_Input_Material tokens. */
  aceProfile?: number;
  /** The AIF the audience and its clients are registered with (default DEVICE_SCOPE); issue() asks for /result. */
  grantable?: string;
  clock: () => number;
}): Promise<DeviceService> {
  const dir = mkdtempSync(join(tmpdir(), 'device-service-'));
  const store = new SqliteStore(join(dir, 'authz.sqlite'));
  let server: AuthzServer | undefined;
  try {
    await registerAudience(store, nativeProvider, { id: opts.audience, scopes: [opts.grantable ?? DEVICE_SCOPE], lifetime: opts.lifetime, ...(opts.clockless ? { clockless: true } : {}), ...(opts.aceProfile !== undefined ? { aceProfile: opts.aceProfile } : {}) });
    for (const id of opts.clients) {
      await registerClient(store, { id, secret: secretOf(id), audiences: [opts.audience], scopes: [opts.grantable ?? DEVICE_SCOPE], grantTypes: ['client_credentials'] });
    }
    server = await createAuthzServer({ store, dataDir: dir, clock: opts.clock, issuer: ISSUER });
    const base = (await server.listen(0)).url;
    const bundle = await provisionDevice(store, server.keys, { deviceId: opts.audience, issuer: ISSUER, now: opts.clock() });
    const running = server;
    return {
      dir,
      base,
      bundle,
      async issue(client, popKey) {
        if (!popKey) {
          return requestToken(
            async (body) => new Uint8Array(await (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body })).arrayBuffer()),
            { grant: 'client_credentials', auth: { clientId: client, clientSecret: secretOf(client) }, audience: opts.audience, scope: [['/result', 1]] },
          );
        }
        const reqCnf = toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(popKey))]])));
        const r = await post(base, '/token', { grant_type: 'client_credentials', audience: opts.audience, scope: [['/result', 1]], req_cnf: reqCnf }, 'json', {
          authorization: basic(client, secretOf(client)),
        });
        if (r.status !== 200) throw new Error(`/token answered ${r.status}: ${JSON.stringify(r.data)}`);
        return { accessToken: fromBase64Url(r.data.access_token as string), popKey, expiresIn: undefined, scope: undefined, aceProfile: undefined, rsCnf: undefined, tokenType: undefined, refreshToken: undefined, cnf: undefined, rsCnfRef: undefined };
      },
      issueUpdate: (client, materialId, scope) =>
        requestToken(
          async (body) => new Uint8Array(await (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body })).arrayBuffer()),
          { grant: 'client_credentials', auth: { clientId: client, clientSecret: secretOf(client) }, audience: opts.audience, scope, popKeyId: materialId },
        ),
      async revoke(client, token) {
        const r = await fetch(`${base}/revoke`, {
          method: 'POST',
          headers: { authorization: basic(client, secretOf(client)), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: toBase64Url(token) }),
        });
        if (r.status !== 200) throw new Error(`/revoke answered ${r.status}`);
      },
      trl: async () => new Uint8Array(await (await fetch(`${base}/trl/${opts.audience}`)).arrayBuffer()),
      async close() {
        await running.close();
        store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await server?.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
