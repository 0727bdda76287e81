/**
 * Adversarial review 36b: an RFC 9203 update token is linked under the token whose OSCORE input
 * material it reuses (issuer.ts, store.linkExchangedToken), so revoking that original revokes the
 * update too. A token exchange (RFC 8693) links its result under the subject token as well, with
 * the same single parent_hash: an exchange that also asks for a rights update (req_cnf kid(3))
 * got its update link overwritten by the exchange link. The update then reused the original's
 * material (and took over its contexts at the device, §4.4) but no longer died with it: the
 * client kept the OSCORE context after the original was revoked.
 * Against the real service over HTTP with SQLite on disk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACE_PROFILE, encodeCbor, fromBase64Url, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_CWT, toBase64Url, toHex, tokenHash } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { requestToken, type TokenResponse } from '../device/index.js';
import { createAuthzServer, registerAudience, registerClient, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, post, trlHashes } from './support/authz-client.js';

const OSC = 'tube-osc';
const PLAIN = 'ekg-plain';
const READ = [['/result', 1]];
const now = 1_800_000_000;
const clock = () => now;
const dir = mkdtempSync(join(tmpdir(), 'review36b-upd-x-'));
const SECRET = 'ekg-secret-that-is-long-enough';
let store: SqliteStore;
let server: AuthzServer;
let base: string;

const auth = { authorization: basic('ekg', SECRET) };
const hashOf = (t: Uint8Array) => toHex(tokenHash(t, nativeProvider));

function oscoreToken(): Promise<TokenResponse> {
  return requestToken(
    async (body) => new Uint8Array(await (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/ace+cbor' }, body })).arrayBuffer()),
    { grant: 'client_credentials', auth: { clientId: 'ekg', clientSecret: SECRET }, audience: OSC, scope: READ as never },
  );
}

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  const scopes = [JSON.stringify(READ)];
  await registerAudience(store, nativeProvider, { id: PLAIN, scopes });
  await registerAudience(store, nativeProvider, { id: OSC, scopes, aceProfile: ACE_PROFILE.coap_oscore, exchangeFrom: [PLAIN] });
  await registerClient(store, { id: 'ekg', secret: SECRET, audiences: [OSC, PLAIN], scopes, grantTypes: ['client_credentials', GRANT_TOKEN_EXCHANGE as never] });
  server = await createAuthzServer({ store, dataDir: dir, clock });
  base = (await server.listen(0)).url;
});

afterAll(async () => {
  await server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('review 36b: a rights update obtained by token exchange', () => {
  it('dies with the original whose OSCORE material it reuses (or is refused)', async () => {
    const original = await oscoreToken();
    const materialId = (original.cnf as { osc: { id: Uint8Array } }).osc.id;
    // Any other token of the client, for an audience the OSCORE one may be exchanged from.
    const subject = await post(base, '/token', { grant_type: 'client_credentials', audience: PLAIN, scope: JSON.stringify(READ) }, 'form', auth);
    expect(subject.status).toBe(200);
    // The exchange asks for an update of the original's access rights: req_cnf {kid(3): its id}.
    const r = await post(
      base,
      '/token',
      {
        grant_type: GRANT_TOKEN_EXCHANGE,
        audience: OSC,
        subject_token: subject.data.access_token,
        subject_token_type: TOKEN_TYPE_CWT,
        req_cnf: toBase64Url(encodeCbor(new Map([[3, materialId]]))),
      },
      'json',
      auth,
    );
    if (r.status !== 200) {
      expect(r.status).toBe(400); // refusing the combination is a fix too
      return;
    }
    const update = fromBase64Url(r.data.access_token as string);
    // The client (or an operator) revokes the original: its material is compromised.
    const revoked = await post(base, '/revoke', { token: toBase64Url(original.accessToken) }, 'form', auth);
    expect(revoked.status).toBe(200);
    // The device moved the original's contexts to the update (§4.4): it must be revoked too.
    expect((await store.getTokenByHash(hashOf(update)))?.revoked).toBe(true);
    expect(await trlHashes(base, OSC)).toContain(hashOf(update));
  });
});
