/**
 * Adversarial review 36, record retention (authz/record-retention.ts, store.purgeExpired).
 * A refresh-token family was deleted once every refresh token of it had expired before the cut,
 * whatever its access tokens: an audience's lifetime has no upper bound, so an access token of the
 * family (here 40 days) outlives its refresh tokens (30 days) and the cut. A replay of a used
 * refresh token must end the family, its access tokens included (RFC 9700 §4.14.2,
 * token-endpoint.ts); after the purge it was an unknown refresh token and the live tokens stayed
 * active. The same for a replayed authorization code (RFC 6749 §4.1.2): the used code went after
 * its own (short) expiry, while the grant it started lived on.
 * The real service on a real port, the real browser flow; SQLite on disk, then PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, PgStore, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer, type AuthzStore } from '../authz/index.js';
import { basic, errorOf, loginAndConsent, post as postTo } from './support/authz-client.js';
import { postgresUnavailable, startPostgres, type PostgresServer } from './support/postgres-server.js';

const DAY = 86_400;
const dir = mkdtempSync(join(tmpdir(), 'review36-retention-'));
let now = 1_800_000_000;
let store: AuthzStore;
let server: AuthzServer;
let base = '';
let pg: PostgresServer | undefined;
const pgMissing = postgresUnavailable();
const redirectUri = 'http://127.0.0.1:9/cb';
const app = { authorization: basic('app', 'app-secret-0123456789') };
const rs = { authorization: basic('rs', 'rs-secret-0123456789') };
const post = (path: string, body: Record<string, unknown>, headers: Record<string, string>) => postTo(base, path, body, 'json', headers);
const active = async (token: string) => (await post('/introspect', { token }, rs)).data.active as boolean;

async function serve(opened: AuthzStore): Promise<void> {
  store = opened;
  // Long-lived access tokens: 40 days, past the refresh tokens' 30 (REFRESH_TOKEN_LIFETIME).
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'], lifetime: 40 * DAY });
  await registerClient(store, { id: 'app', secret: 'app-secret-0123456789', audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [redirectUri] });
  await registerClient(store, { id: 'rs', secret: 'rs-secret-0123456789', audiences: ['ekg'], grantTypes: [] });
  await registerUser(store, 'alice', 'correct horse battery');
  server = await createAuthzServer({ store, dataDir: dir, clock: () => now, retentionDays: 1 });
  base = (await server.listen(0)).url;
}

async function unserve(): Promise<void> {
  await server?.close();
  store?.close();
  if (store instanceof PgStore) await store.ended;
}

beforeAll(async () => {
  if (!pgMissing) pg = await startPostgres();
}, 60_000);

afterAll(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A grant: its code (and verifier), the first access token and refresh token. */
async function grant(): Promise<{ redeem: () => ReturnType<typeof post>; access: string; refresh: string }> {
  const verifier = 'v'.repeat(50);
  const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: redirectUri, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
  const code = await loginAndConsent(base, q, 'alice', 'correct horse battery');
  const redeem = () => post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri }, app);
  const first = await redeem();
  expect(first.status).toBe(200);
  return { redeem, access: first.data.access_token as string, refresh: first.data.refresh_token as string };
}

const kinds = [
  { name: 'SqliteStore', skip: false, open: async (): Promise<AuthzStore> => new SqliteStore(join(dir, 'authz.sqlite')) },
  { name: 'PgStore', skip: Boolean(pgMissing), open: async (): Promise<AuthzStore> => PgStore.open(pg!.createDatabase('review36')) },
];

for (const kind of kinds) {
  describe.skipIf(kind.skip)(`review 36 (${kind.name}): retention keeps what a replay needs to end a grant whose tokens still live`, () => {
    beforeAll(async () => serve(await kind.open()));
    afterAll(unserve);
    it('a used refresh token replayed after the purge still revokes its family\'s live access tokens', async () => {
      const g = await grant();
      const refreshed = await post('/token', { grant_type: 'refresh_token', refresh_token: g.refresh }, app);
      expect(refreshed.status).toBe(200);
      const second = refreshed.data.access_token as string;
      // 32 days on: both refresh tokens expired (30 days) more than the 1-day retention ago; both
      // access tokens live 8 more days.
      now += 32 * DAY;
      expect([await active(g.access), await active(second)]).toEqual([true, true]);
      await server.purgeExpiredRecords();
      // The thief (or the holder) presents the used refresh token again: the grant ends.
      expect(errorOf(await post('/token', { grant_type: 'refresh_token', refresh_token: g.refresh }, app))).toBe('invalid_grant');
      expect([await active(g.access), await active(second)]).toEqual([false, false]);
    });

    it('a used authorization code replayed after the purge still revokes the live grant it started', async () => {
      const g = await grant();
      // The grant goes on: refreshed at day 25, its new refresh token lives to day 55.
      now += 25 * DAY;
      const refreshed = await post('/token', { grant_type: 'refresh_token', refresh_token: g.refresh }, app);
      expect(refreshed.status).toBe(200);
      now += 5 * DAY; // the code expired 30 days ago
      await server.purgeExpiredRecords();
      expect(await active(refreshed.data.access_token as string)).toBe(true);
      expect(errorOf(await g.redeem())).toBe('invalid_grant');
      expect(await active(refreshed.data.access_token as string)).toBe(false);
      expect(errorOf(await post('/token', { grant_type: 'refresh_token', refresh_token: refreshed.data.refresh_token }, app))).toBe('invalid_grant');
    });
  });
}
