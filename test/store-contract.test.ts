/**
 * The AuthzStore contract (authz/store.ts), run against both stores: SQLite (the embedded
 * default) and PostgreSQL (several instances on one database). The races open two stores on one
 * database, as two service instances would, and fire the same atomic operation through both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgStore, SqliteStore, StoreMigrationError, type AuthzStore } from '../authz/index.js';
import type { AudienceRecord, IssuedTokenRecord, RefreshTokenRecord } from '../authz/index.js';
import { startPostgres, postgresUnavailable, type PostgresServer } from './support/postgres-server.js';
import { secretKey, signingKey } from './support/keys.js';

const pgMissing = postgresUnavailable();
if (pgMissing) console.warn(`store-contract: PostgreSQL half skipped: ${pgMissing}`);

let pgServer: PostgresServer | undefined;
let tmp: string;
let n = 0;
const opened: AuthzStore[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'keybound-store-'));
  if (!pgMissing) pgServer = await startPostgres();
}, 60_000);

afterAll(async () => {
  for (const s of opened) s.close();
  await Promise.all(opened.map((s) => (s instanceof PgStore ? s.ended : undefined)));
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

/** Opens `count` stores on one fresh database (two = two instances). */
type Open = (count: number) => Promise<AuthzStore[]>;
const kinds: { name: string; skip: boolean; open: Open }[] = [
  {
    name: 'SqliteStore',
    skip: false,
    open: async (count) => {
      const file = join(tmp, `db${++n}.sqlite`);
      const stores = Array.from({ length: count }, () => new SqliteStore(file));
      opened.push(...stores);
      return stores;
    },
  },
  {
    name: 'PgStore',
    skip: Boolean(pgMissing),
    open: async (count) => {
      const url = pgServer!.createDatabase(`contract_${++n}`);
      // Opened together: both migrate at once, as instances started together would.
      const stores = await Promise.all(Array.from({ length: count }, () => PgStore.open(url)));
      opened.push(...stores);
      return stores;
    },
  },
];

const audience = (id: string, clockless = false): AudienceRecord => ({
  id,
  protection: 'sign1',
  macKey: secretKey(32, `${id}-mac`),
  encKey: secretKey(16, `${id}-enc`),
  clockless,
  referenceTokens: false,
  policy: { scopes: ['read'], exchangeFrom: [], narrow: false, lifetime: 300 },
});

const token = (cti: string, aud: string, extra: Partial<IssuedTokenRecord> = {}): IssuedTokenRecord => ({
  cti,
  tokenHash: `h-${cti}`,
  audience: aud,
  clientId: 'c1',
  subject: 'alice',
  scope: 'read',
  issuedAt: 1000,
  expiresAt: 2000,
  reference: false,
  revoked: false,
  ...extra,
});

const refresh = (hash: string, family: string, expiresAt = 5000): RefreshTokenRecord => ({
  tokenHash: hash, family, clientId: 'c1', audience: 'rs1', scope: 'read', subject: 'alice', expiresAt, used: false,
});

for (const kind of kinds) {
  describe.skipIf(kind.skip)(`${kind.name} keeps the store contract`, () => {
    it('stores, lists and deletes clients, audiences and users, keys intact', async () => {
      const [s] = await kind.open(1);
      const pub = signingKey('P-256', 'dev-1').pub;
      await s!.putClient({ id: 'c1', name: 'one', secretHash: 'scrypt$x', audiences: ['rs1'], scopes: ['read', '[["/a",1]]'], grantTypes: ['client_credentials'], redirectUris: [], resourceServer: false });
      await s!.putClient({ id: 'c0', name: 'zero', publicKey: pub, audiences: [], scopes: [], grantTypes: [], redirectUris: ['https://x/cb'], resourceServer: true });
      await s!.putClient({ id: 'c1', name: 'one again', audiences: ['rs1'], scopes: [], grantTypes: ['password'], redirectUris: [], resourceServer: false });
      expect((await s!.listClients()).map((c) => c.id)).toEqual(['c0', 'c1']);
      const c0 = await s!.getClient('c0');
      expect(c0).toMatchObject({ name: 'zero', resourceServer: true, redirectUris: ['https://x/cb'] });
      expect(c0!.publicKey!.x).toEqual(pub.x);
      expect(c0!.secretHash).toBeUndefined();
      expect(await s!.getClient('c1')).toMatchObject({ name: 'one again', grantTypes: ['password'] });
      const a = audience('rs1');
      await s!.putAudience({ ...a, rsKey: pub, policy: { ...a.policy, untaggedTokens: true } });
      const got = await s!.getAudience('rs1');
      expect(got!.macKey.k).toEqual(a.macKey.k);
      expect(got!.rsKey!.x).toEqual(pub.x);
      expect(got!.policy.untaggedTokens).toBe(true);
      await s!.putUser({ username: 'bob', passwordHash: 'h1' });
      await s!.putUser({ username: 'alice', passwordHash: 'h2' });
      expect(await s!.listUsernames()).toEqual(['alice', 'bob']);
      expect(await s!.getUser('bob')).toEqual({ username: 'bob', passwordHash: 'h1' });
      expect(await s!.deleteUser('bob')).toBe(true);
      expect(await s!.deleteUser('bob')).toBe(false);
      expect(await s!.deleteClient('c0')).toBe(true);
      expect(await s!.deleteAudience('rs1')).toBe(true);
      expect(await s!.getAudience('rs1')).toBeUndefined();
      expect(await s!.deleteAudience('rs1')).toBe(false);
    });

    it('redeems an authorization code once; a replay returns the first family; two instances racing get one winner', async () => {
      const [a, b] = await kind.open(2);
      const code = { clientId: 'c1', username: 'alice', redirectUri: 'https://x/cb', audience: 'rs1', scope: 'read', codeChallenge: 'ch', reqCnf: new Uint8Array([1, 2, 3]), expiresAt: 9999 };
      await a!.putAuthCode({ ...code, codeHash: 'one' });
      const first = await b!.consumeAuthCode('one', 'fam-1');
      expect(first).toMatchObject({ replayed: false, code: { family: 'fam-1', username: 'alice' } });
      expect(first.code!.reqCnf).toEqual(new Uint8Array([1, 2, 3]));
      expect(await a!.consumeAuthCode('one', 'fam-2')).toMatchObject({ replayed: true, family: 'fam-1', code: { clientId: 'c1' } });
      expect(await a!.consumeAuthCode('nope', 'fam-3')).toEqual({ replayed: false });
      for (let i = 0; i < 10; i++) await a!.putAuthCode({ ...code, codeHash: `race-${i}` });
      for (let i = 0; i < 10; i++) {
        const tries = Array.from({ length: 8 }, (_, j) => (j % 2 ? a! : b!).consumeAuthCode(`race-${i}`, `f-${j}`));
        const results = await Promise.all(tries);
        const winners = results.filter((r) => !r.replayed);
        expect(winners).toHaveLength(1);
        // Every loser learns the winner's family (to revoke what it issued).
        for (const r of results) expect(r.code!.family ?? r.family).toBe(winners[0]!.code!.family);
      }
    });

    it('rotates a refresh token once; a replay ends the family, also across instances and in a race', async () => {
      const [a, b] = await kind.open(2);
      await a!.putRefreshToken(refresh('r0', 'fam'));
      expect(await a!.rotateRefreshToken('r0', refresh('r1', 'fam'), 100)).toEqual({ ok: true });
      expect((await b!.getRefreshToken('r0'))!.used).toBe(true);
      expect(await b!.rotateRefreshToken('r0', refresh('r1b', 'fam'), 100)).toEqual({ ok: false, reason: 'reused' });
      // The legitimate holder's new token died with the family.
      expect(await a!.getRefreshToken('r1')).toBeUndefined();
      expect(await a!.rotateRefreshToken('r1', refresh('r2', 'fam'), 100)).toEqual({ ok: false, reason: 'unknown' });
      await a!.putRefreshToken(refresh('old', 'fam2', 50));
      expect(await a!.rotateRefreshToken('old', refresh('x', 'fam2'), 100)).toEqual({ ok: false, reason: 'expired' });
      expect(await a!.rotateRefreshToken('missing', refresh('y', 'fam3'), 100)).toEqual({ ok: false, reason: 'unknown' });
      await a!.putRefreshToken(refresh('race', 'fam4'));
      const results = await Promise.all(Array.from({ length: 8 }, (_, j) => (j % 2 ? a! : b!).rotateRefreshToken('race', refresh(`race-next-${j}`, 'fam4'), 100)));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      // The losers were replays: the family is gone, winner's new token included.
      expect(results.filter((r) => !r.ok && r.reason === 'reused').length).toBeGreaterThan(0);
      const winner = results.findIndex((r) => r.ok);
      expect(await b!.getRefreshToken(`race-next-${winner}`)).toBeUndefined();
    });

    it('DPoP: codes and refresh tokens keep their key; a (jkt, jti) is recorded once across instances until it expires', async () => {
      const [a, b] = await kind.open(2);
      await a!.putAuthCode({ codeHash: 'dpop-code', clientId: 'c1', username: 'u', redirectUri: 'https://x/cb', audience: 'rs1', scope: 'read', codeChallenge: 'ch', dpopJkt: 'jkt-A', expiresAt: 9999 });
      expect((await b!.consumeAuthCode('dpop-code', 'f')).code!.dpopJkt).toBe('jkt-A');
      await a!.putRefreshToken({ ...refresh('dpop-r0', 'dfam'), dpopJkt: 'jkt-A' });
      expect((await b!.getRefreshToken('dpop-r0'))!.dpopJkt).toBe('jkt-A');
      expect(await b!.rotateRefreshToken('dpop-r0', { ...refresh('dpop-r1', 'dfam'), dpopJkt: 'jkt-A' }, 100)).toEqual({ ok: true });
      expect((await a!.getRefreshToken('dpop-r1'))!.dpopJkt).toBe('jkt-A');
      expect(await a!.recordDpopProof('jkt-A', 'j1', 160, 100)).toBe(false);
      expect(await b!.recordDpopProof('jkt-A', 'j1', 160, 120)).toBe(true);
      expect(await b!.recordDpopProof('jkt-B', 'j1', 160, 120)).toBe(false); // per key
      expect(await a!.recordDpopProof('jkt-A', 'j1', 230, 170)).toBe(false); // expired: taken over
      const race = await Promise.all(Array.from({ length: 8 }, (_, j) => (j % 2 ? a! : b!).recordDpopProof('jkt-A', 'race', 500, 200)));
      expect(race.filter((seen) => !seen)).toHaveLength(1);
    });

    it('RFC 8705 / RFC 9126: certificate client auth and require_par persist; a pushed request is taken once, by its client only', async () => {
      const [a, b] = await kind.open(2);
      const base = { name: 'm', audiences: [], scopes: [], grantTypes: ['authorization_code' as const], redirectUris: [], resourceServer: false };
      await a!.putClient({ ...base, id: 'mtls-1', tlsClientAuth: { method: 'tls_client_auth', subjectDn: 'CN=app,O=Clinic' }, requirePar: true });
      await a!.putClient({ ...base, id: 'mtls-2', tlsClientAuth: { method: 'self_signed_tls_client_auth', thumbprints: ['A'.repeat(43)] } });
      expect(await b!.getClient('mtls-1')).toMatchObject({ tlsClientAuth: { method: 'tls_client_auth', subjectDn: 'CN=app,O=Clinic' }, requirePar: true });
      expect(await b!.getClient('mtls-2')).toMatchObject({ tlsClientAuth: { method: 'self_signed_tls_client_auth', thumbprints: ['A'.repeat(43)] } });
      expect((await b!.getClient('mtls-2'))!.requirePar).toBeUndefined();
      await a!.putPushedRequest({ uriHash: 'par-1', clientId: 'mtls-1', params: '{"scope":"read"}', expiresAt: 160 }, 100);
      expect(await b!.takePushedRequest('par-1', 'mtls-2')).toBeUndefined(); // another client's: not given, not burnt
      const race = await Promise.all(Array.from({ length: 6 }, (_, j) => (j % 2 ? a! : b!).takePushedRequest('par-1', 'mtls-1')));
      expect(race.filter((r) => r !== undefined)).toEqual([{ uriHash: 'par-1', clientId: 'mtls-1', params: '{"scope":"read"}', expiresAt: 160 }]);
      expect(await a!.takePushedRequest('par-1', 'mtls-1')).toBeUndefined();
    });

    it('device codes: poll returns the previous poll time, one decision, one deletion', async () => {
      const [a, b] = await kind.open(2);
      await a!.putDeviceCode({ deviceCodeHash: 'd1', userCode: 'ABCD-EFGH', clientId: 'c1', audience: 'rs1', scope: 'read', expiresAt: 5000, status: 'pending', interval: 5, lastPolledAt: 0 });
      expect((await b!.pollDeviceCode('d1', 10))!.lastPolledAt).toBe(0);
      expect((await a!.pollDeviceCode('d1', 12))!.lastPolledAt).toBe(10);
      await b!.setDeviceCodeInterval('d1', 10);
      expect((await a!.getDeviceCodeByUserCode('ABCD-EFGH'))!.interval).toBe(10);
      const decisions = await Promise.all([a!.decideDeviceCode('ABCD-EFGH', 'approved', 'alice'), b!.decideDeviceCode('ABCD-EFGH', 'denied', 'eve')]);
      expect(decisions.filter(Boolean)).toHaveLength(1);
      const d = await a!.getDeviceCodeByHash('d1');
      expect(d!.username).toBe(decisions[0] ? 'alice' : 'eve');
      expect(await b!.pollDeviceCode('nope', 1)).toBeUndefined();
      const deletions = await Promise.all([a!.deleteDeviceCode('d1'), b!.deleteDeviceCode('d1'), a!.deleteDeviceCode('d1')]);
      expect(deletions.filter(Boolean)).toHaveLength(1);
    });

    it('counts rate-limit hits from both instances in one window, none lost; release and a new window', async () => {
      const [a, b] = await kind.open(2);
      const counts = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a! : b!).hitRateLimit('k', 100, 60)));
      expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      await a!.releaseRateLimit('k', 100, 60);
      expect(await b!.hitRateLimit('k', 120, 60)).toBe(40);
      // A release for an attempt of an earlier window does not touch this one.
      expect(await a!.hitRateLimit('k', 200, 60)).toBe(1);
      await b!.releaseRateLimit('k', 100, 60);
      expect(await b!.hitRateLimit('k', 201, 60)).toBe(2);
    });

    it('takes exi sequence numbers one at a time across instances, each recorded with its token', async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('dev', true));
      await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a! : b!).recordExiToken('dev', (seq) => token(`exi-${i}`, 'dev', { exiSequence: Number(seq) }))));
      const seqs: number[] = [];
      for (let i = 0; i < 30; i++) seqs.push((await a!.getTokenByHash(`h-exi-${i}`))!.exiSequence!);
      expect(seqs.sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      await expect(a!.recordExiToken('no-such', (seq) => token('x', 'no-such', { exiSequence: Number(seq) }))).rejects.toThrow();
      expect(await a!.getTokenByHash('h-x')).toBeUndefined();
      // No token is past issue + exi at now = 1500: the floor is below the oldest.
      expect((await b!.revocationList('dev', 1500)).exiFloor).toBe(0);
      expect((await b!.revocationList('dev', 3000)).exiFloor).toBe(30);
    });

    it("finds a token by cti and a client's live tokens (what `authz revoke` selects), and keeps message PoP", async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('rs1'));
      await a!.recordToken(token('live', 'rs1'));
      await a!.recordToken(token('old', 'rs1', { expiresAt: 900 }));
      await a!.recordToken(token('exi', 'rs1', { expiresAt: 900, exiSequence: 1 }));
      await a!.recordToken(token('gone', 'rs1'));
      await a!.recordToken(token('other', 'rs1', { clientId: 'c2' }));
      await a!.revokeToken('h-gone');
      expect(await b!.tokenHashByCti('gone')).toBe('h-gone');
      expect(await b!.tokenHashByCti('nope')).toBeUndefined();
      expect((await b!.liveTokens('c1', 1000)).map((t) => t.tokenHash).sort()).toEqual(['h-exi', 'h-live']);
      await a!.putClient({ id: 'mp', name: 'mp', audiences: [], scopes: [], grantTypes: [], redirectUris: [], resourceServer: false, messagePop: true });
      await a!.putClient({ id: 'plain', name: 'plain', audiences: [], scopes: [], grantTypes: [], redirectUris: [], resourceServer: false });
      expect((await b!.getClient('mp'))!.messagePop).toBe(true);
      expect((await b!.getClient('plain'))!.messagePop).toBeUndefined();
    });

    it("deleting a client revokes its tokens onto the TRLs and ends its refresh families", async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('rs1'));
      await a!.putClient({ id: 'c1', name: 'one', audiences: ['rs1'], scopes: [], grantTypes: [], redirectUris: [], resourceServer: false });
      await a!.recordToken(token('d1', 'rs1'));
      await a!.recordToken(token('d2', 'rs1', { clientId: 'c2' }));
      await a!.putRefreshToken(refresh('dr', 'famd'));
      expect(await b!.deleteClient('c1')).toBe(true);
      expect((await a!.getTokenByHash('h-d1'))!.revoked).toBe(true);
      expect((await a!.getTokenByHash('h-d2'))!.revoked).toBe(false);
      expect((await a!.revocationList('rs1', 1500)).entries.map((e) => e.tokenHash)).toEqual(['h-d1']);
      expect(await a!.getRefreshToken('dr')).toBeUndefined();
      expect(await b!.deleteClient('c1')).toBe(false);
    });

    it('finds a token that shows its cti by cti and hash only, and any other by its hash (issue 13)', async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('rs1'));
      await a!.recordToken(token('shown', 'rs1', { ctiInToken: true }));
      await a!.recordToken(token('hidden', 'rs1'));
      expect(await b!.getTokenByHash('h-shown')).toBeUndefined();
      expect(await b!.getTokenByHash('h-shown', 'hidden')).toBeUndefined();
      expect(await b!.getTokenByHash('h-shown', 'shown')).toEqual(token('shown', 'rs1', { ctiInToken: true }));
      // A token recorded without ctiInToken is found by its hash, whatever cti the caller read.
      expect((await b!.getTokenByHash('h-hidden'))!.cti).toBe('hidden');
      expect((await b!.getTokenByHash('h-hidden', 'shown'))!.cti).toBe('hidden');
      expect(await b!.revokeToken('h-shown')).toEqual([]);
      expect(await b!.revokeToken('h-shown', 'hidden')).toEqual([]);
      expect(await a!.revokeToken('h-shown', 'shown')).toEqual(['rs1']);
      expect((await b!.revocationList('rs1', 1500)).entries.map((e) => e.tokenHash)).toEqual(['h-shown']);
    });

    it('refuses a second token with the same cti (a replayed jti/cti record)', async () => {
      const [a, b] = await kind.open(2);
      await a!.recordToken(token('same', 'rs1'));
      await expect(b!.recordToken(token('same', 'rs1', { tokenHash: 'other' }))).rejects.toThrow();
    });

    it('revokes a token and its exchanges onto the TRLs once, also when two instances revoke it together', async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('rs1'));
      await a!.putAudience(audience('rs2'));
      await a!.recordToken(token('t1', 'rs1', { family: 'fam' }));
      await a!.recordToken(token('t2', 'rs2'));
      expect(await b!.linkExchangedToken({ tokenHash: 'h-t2' }, { tokenHash: 'h-t1' })).toBe(true);
      expect((await a!.getTokenByHash('h-t2'))!).toMatchObject({ family: 'fam', parent: 'h-t1' });
      const both = await Promise.all([a!.revokeToken('h-t1'), b!.revokeToken('h-t1')]);
      expect(both.flat().sort()).toEqual(['rs1', 'rs2']);
      const trl1 = await b!.revocationList('rs1', 1500);
      expect(trl1).toEqual({ sequence: 1, entries: [{ tokenHash: 'h-t1', expiresAt: 2000, issuedAt: 1000 }] });
      expect((await a!.revocationList('rs2', 1500)).entries.map((e) => e.tokenHash)).toEqual(['h-t2']);
      expect(await a!.revokeToken('h-t1')).toEqual([]);
      expect((await a!.revocationList('rs1', 2500)).entries).toEqual([]);
      // An exchange linked to a revoked subject is revoked at once.
      await a!.recordToken(token('t3', 'rs2'));
      expect(await a!.linkExchangedToken({ tokenHash: 'h-t3' }, { tokenHash: 'h-t1' })).toBe(false);
      expect((await b!.getTokenByHash('h-t3'))!.revoked).toBe(true);
      expect((await b!.revocationList('rs2', 1500)).sequence).toBe(2);
    });

    it('revokes a grant family: its live tokens onto the TRL and its refresh tokens', async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('rs1'));
      await a!.recordToken(token('f1', 'rs1', { family: 'fam' }));
      await a!.recordToken(token('f2', 'rs1', { family: 'fam', expiresAt: 1200 }));
      await a!.recordToken(token('g1', 'rs1', { family: 'other' }));
      await a!.putRefreshToken(refresh('rf', 'fam'));
      expect(await b!.revokeFamily('fam', 1500)).toEqual(['rs1']);
      expect((await a!.getTokenByHash('h-f1'))!.revoked).toBe(true);
      expect((await a!.getTokenByHash('h-f2'))!.revoked).toBe(false);
      expect((await a!.getTokenByHash('h-g1'))!.revoked).toBe(false);
      expect(await a!.getRefreshToken('rf')).toBeUndefined();
      expect(await b!.revokeFamily('fam', 1500)).toEqual([]);
    });

    it("lists a client's live tokens' cnf for one audience, newest first (RFC 9203 update of access rights)", async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('rs1'));
      await a!.putAudience(audience('rs2'));
      const cnf = (n: number) => Uint8Array.of(0xa1, 0x03, 0x41, n);
      await a!.recordToken(token('t1', 'rs1', { cnf: cnf(1), issuedAt: 1000 }));
      await a!.recordToken(token('t2', 'rs1', { cnf: cnf(2), issuedAt: 1100 }));
      await a!.recordToken(token('t3', 'rs1', { cnf: cnf(3), issuedAt: 1200 }));
      await a!.recordToken(token('old', 'rs1', { cnf: cnf(4), expiresAt: 1400 }));
      await a!.recordToken(token('other-aud', 'rs2', { cnf: cnf(5) }));
      await a!.recordToken(token('other-client', 'rs1', { cnf: cnf(6), clientId: 'c2' }));
      await a!.revokeToken('h-t2');
      expect((await b!.liveTokenConfirmations('c1', 'rs1', 1500, 10)).map((c) => [c.cnf[3], c.token.tokenHash])).toEqual([
        [3, 'h-t3'],
        [1, 'h-t1'],
      ]);
      expect((await b!.liveTokenConfirmations('c1', 'rs1', 1500, 1)).map((c) => c.cnf[3])).toEqual([3]);
    });

    it('retention: deletes what expired before the cut, in bounded steps, and nothing a live token, a list or a replay check reads', async () => {
      const [a, b] = await kind.open(2);
      await a!.putAudience(audience('rs1'));
      await a!.putAudience(audience('dev', true));
      await a!.recordToken(token('old', 'rs1'));
      await a!.recordToken(token('old-revoked', 'rs1'));
      await a!.recordToken(token('live', 'rs1', { issuedAt: 2500, expiresAt: 5000 }));
      await a!.recordToken(token('long', 'rs1', { expiresAt: 9000 }));
      await a!.recordExiToken('dev', (seq) => token('exi', 'dev', { exiSequence: Number(seq) }));
      await a!.recordToken(token('new', 'rs1', { issuedAt: 3500, expiresAt: 4000 }));
      await a!.revokeToken('h-old-revoked');
      await a!.revokeToken('h-live');
      // Family A: its used token expired, its current one lives (a replay of the first must still end it).
      await a!.putRefreshToken(refresh('ra1', 'famA', 1500));
      await a!.putRefreshToken(refresh('ra2', 'famA', 5000));
      // Family B: every token expired.
      await a!.putRefreshToken(refresh('rb1', 'famB', 1500));
      await a!.putRefreshToken(refresh('rb2', 'famB', 2500));
      const code = { clientId: 'c1', username: 'u', redirectUri: 'https://x/cb', audience: 'rs1', scope: 'read', codeChallenge: 'ch' };
      await a!.putAuthCode({ ...code, codeHash: 'code-old', expiresAt: 1000 });
      await a!.putAuthCode({ ...code, codeHash: 'code-live', expiresAt: 9999 });
      let deleted = 0;
      let steps = 0;
      for (let more = true; more; steps++) {
        const step = await b!.purgeExpired(3000, 2);
        deleted += step.deleted;
        more = step.more;
        expect(steps).toBeLessThan(20);
      }
      expect(steps).toBeGreaterThan(1);
      // Two tokens, one revocation, family B's two refresh tokens, one code.
      expect(deleted).toBe(6);
      expect(await a!.getTokenByHash('h-old')).toBeUndefined();
      expect(await a!.getTokenByHash('h-old-revoked')).toBeUndefined();
      for (const kept of ['h-live', 'h-long', 'h-exi', 'h-new']) expect(await a!.getTokenByHash(kept)).toBeDefined();
      expect((await a!.revocationList('rs1', 3000)).entries.map((e) => e.tokenHash)).toEqual(['h-live']);
      expect(await a!.getRefreshToken('ra1')).toBeDefined();
      expect(await a!.rotateRefreshToken('ra1', refresh('ra3', 'famA'), 3000)).toMatchObject({ ok: false });
      expect(await a!.getRefreshToken('rb1')).toBeUndefined();
      expect(await a!.getRefreshToken('rb2')).toBeUndefined();
      expect((await a!.consumeAuthCode('code-old', 'f')).code).toBeUndefined();
      expect((await a!.consumeAuthCode('code-live', 'f')).code).toBeDefined();
      // A second run finds nothing more.
      let again = 0;
      for (let more = true; more; ) {
        const step = await a!.purgeExpired(3000, 1000);
        again += step.deleted;
        more = step.more;
      }
      expect(again).toBe(0);
    });

    it('keeps signing keys and retires a key once; a reopened store keeps everything', async () => {
      const [a, b] = await kind.open(2);
      const k1 = signingKey('Ed25519', 'k1').pub;
      await a!.putSigningKey({ kid: 'k1', alg: -8, publicKey: k1, createdAt: 10 });
      await a!.putSigningKey({ kid: 'k2', alg: -7, publicKey: signingKey('P-256', 'k2').pub, createdAt: 20 });
      await b!.retireSigningKey('k1', 30, 90);
      await a!.retireSigningKey('k1', 40, 100);
      const keys = await b!.listSigningKeys();
      expect(keys.map((k) => [k.kid, k.alg, k.retiredAt, k.publishUntil])).toEqual([['k1', -8, 30, 90], ['k2', -7, undefined, undefined]]);
      expect(keys[0]!.publicKey.x).toEqual(k1.x);
    });
  });
}

/** Polls `check` every 10 ms until it gives a value, for at most 5 s. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${what} never happened`);
}

/**
 * Runs `body` in a transaction that is rolled back, with sequential scans off (on a small table the
 * planner would pick one whatever the indexes): `run` sends a statement, `plan` an EXPLAIN's text.
 */
async function withSeqScansOff(store: PgStore, body: (run: (sql: string) => Promise<unknown>, plan: (sql: string) => Promise<string>) => Promise<void>): Promise<void> {
  const client = await store.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL enable_seqscan = off');
    await body(
      (sql) => client.query(sql),
      async (sql) => (await client.query(sql)).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'),
    );
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
}

/** Until a migration (another connection of `store`'s database) waits for its lock on tokens. */
const migrationQueued = (store: PgStore): Promise<true> =>
  eventually('the migration queuing for its lock on tokens', async () =>
    (await store.pool.query("SELECT 1 FROM pg_locks WHERE relation = 'tokens'::regclass AND NOT granted")).rowCount ? true : undefined,
  );

/**
 * Takes a migrated database back to the schema of an earlier release (6: before the partial
 * family and parent indexes; 2: also before migrations 3 to 6), as a database of it is.
 */
async function toSchemaOf(store: PgStore, version: 6 | 2): Promise<void> {
  await store.pool.query(`DROP INDEX tokens_family; CREATE INDEX tokens_family ON tokens (family);
    DROP INDEX tokens_parent; CREATE INDEX tokens_parent ON tokens (parent_hash);`);
  if (version <= 2) {
    await store.pool.query(`DROP INDEX tokens_client; ALTER TABLE clients DROP COLUMN message_pop;
      DROP TABLE pending_authorizations; DROP TABLE browser_sessions;
      DROP TABLE dpop_proofs; ALTER TABLE auth_codes DROP COLUMN dpop_jkt; ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
      ALTER TABLE clients DROP COLUMN tls_client_auth; ALTER TABLE clients DROP COLUMN require_par; DROP TABLE pushed_requests;`);
  }
  await store.pool.query('UPDATE schema_version SET version = $1', [version]);
}

describe.skipIf(Boolean(pgMissing))('PgStore on PostgreSQL', () => {
  it('migrates a database once and refuses one migrated by a newer keybound', async () => {
    const url = pgServer!.createDatabase('migrations');
    const first = await PgStore.open(url);
    await first.putUser({ username: 'kept', passwordHash: 'h' });
    first.close();
    await first.ended;
    const again = await PgStore.open(url);
    expect(await again.getUser('kept')).toBeDefined();
    await again.pool.query('UPDATE schema_version SET version = version + 1');
    again.close();
    await again.ended;
    await expect(PgStore.open(url)).rejects.toThrow(/newer than this keybound/);
  });

  it('keeps tokens without a family or a parent out of those indexes, and the lookups still use them (issue 13)', async () => {
    const url = pgServer!.createDatabase('partial_indexes');
    const s = await PgStore.open(url);
    try {
      const defs = await s.pool.query("SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ('tokens_family', 'tokens_parent') ORDER BY indexname");
      expect(defs.rows.map((r: { indexdef: string }) => r.indexdef)).toEqual([
        expect.stringMatching(/WHERE \(family IS NOT NULL\)$/),
        expect.stringMatching(/WHERE \(parent_hash IS NOT NULL\)$/),
      ]);
      // A prepared lookup (generic plan, $1 unknown) can use a partial index only if the planner
      // proves `family = $1` implies the index's predicate.
      await withSeqScansOff(s, async (run, plan) => {
        await run("SET LOCAL plan_cache_mode = 'force_generic_plan'");
        await run('PREPARE fam(text) AS SELECT token_hash FROM tokens WHERE family = $1 AND NOT revoked');
        await run('PREPARE par(text) AS SELECT token_hash FROM tokens WHERE parent_hash = $1');
        expect(await plan("EXPLAIN EXECUTE fam('f')")).toContain('tokens_family');
        expect(await plan("EXPLAIN EXECUTE par('p')")).toContain('tokens_parent');
        // revokeTrees' walk down an exchange chain: the parent is a join clause there, not a parameter.
        await run(`PREPARE chain(text) AS WITH RECURSIVE tree(h) AS (SELECT $1::text UNION SELECT t.token_hash FROM tokens t JOIN tree ON t.parent_hash = tree.h)
          SELECT token_hash FROM tokens WHERE token_hash IN (SELECT h FROM tree) AND NOT revoked`);
        expect(await plan("EXPLAIN EXECUTE chain('p')")).toContain('tokens_parent');
      });
    } finally {
      s.close();
      await s.ended;
    }
  });

  it('retention finds expired codes and revocations by index, not by reading both tables (review 36)', async () => {
    const url = pgServer!.createDatabase('expiry_indexes');
    const s = await PgStore.open(url);
    try {
      const defs = await s.pool.query("SELECT indexname FROM pg_indexes WHERE indexname IN ('auth_codes_expiry', 'revocations_expiry') ORDER BY indexname");
      expect(defs.rows.map((r: { indexname: string }) => r.indexname)).toEqual(['auth_codes_expiry', 'revocations_expiry']);
      await withSeqScansOff(s, async (_run, plan) => {
        expect(await plan('EXPLAIN DELETE FROM revocations WHERE exi_seq IS NULL AND expires_at < 100')).toContain('revocations_expiry');
        expect(await plan('EXPLAIN DELETE FROM auth_codes c WHERE c.expires_at < 100 AND c.family IS NULL')).toContain('auth_codes_expiry');
        expect(await plan('EXPLAIN DELETE FROM rate_limits WHERE window_start < 100')).toContain('rate_limits_window');
      });
    } finally {
      s.close();
      await s.ended;
    }
  });

  it('migrates a busy database to the partial indexes: bounded lock waits, a typed refusal that changes nothing, no timeout left behind (issue 13)', async () => {
    const url = pgServer!.createDatabase('partial_migration');
    const prev = await PgStore.open(url);
    const now = Math.floor(Date.now() / 1000);
    const row = (n: number, family: string | null) => [`c${n}`, String(n).repeat(64), 'dev', 'app', 'app', 'read', now, now + 600, false, family];
    const insert = 'INSERT INTO tokens (cti, token_hash, audience, client_id, subject, scope, issued_at, expires_at, reference, family) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)';
    const writer = await prev.pool.connect();
    const reader = await prev.pool.connect();
    let opening: Promise<PgStore> | undefined;
    try {
      await prev.pool.query(insert, row(1, null));
      await prev.pool.query(insert, row(2, 'f1'));
      // Back to the release before the partial indexes, as a database of it is.
      await toSchemaOf(prev, 6);
      const state = async () => ({
        version: Number((await prev.pool.query('SELECT version FROM schema_version')).rows[0].version),
        defs: (await prev.pool.query("SELECT indexdef FROM pg_indexes WHERE tablename = 'tokens' ORDER BY indexname")).rows.map((r: { indexdef: string }) => r.indexdef),
      });
      const before = await state();
      const queued = () => migrationQueued(prev);

      // An instance of that release is mid-write on tokens and stays there: the migration waits
      // 100 ms a try, 10 tries, stepping back between them, then gives up with a typed error,
      // changes nothing and leaves no connection behind.
      await writer.query('BEGIN');
      await writer.query(insert, row(3, 'f1'));
      const t0 = Date.now();
      const refused = await PgStore.open(url, { migrationLockTimeoutMs: 100 }).catch((e: unknown) => e);
      const took = Date.now() - t0;
      expect(refused).toBeInstanceOf(StoreMigrationError);
      expect((refused as StoreMigrationError).code).toBe('ERR_AUTHZ_MIGRATION_LOCKED');
      // The LOCK's own lock_timeout or its statement's timeout, whichever fires first.
      expect(['55P03', '57014']).toContain(((refused as Error).cause as { code?: string }).code);
      expect(took).toBeGreaterThanOrEqual(10 * 100 + 100 * 45 * 0.25);
      expect(took).toBeLessThan(20_000);
      expect(await state()).toEqual(before);
      // (A closed backend leaves pg_stat_activity a moment after the client hangs up.)
      const connections = async () => Number((await prev.pool.query('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()')).rows[0].n);
      await expect.poll(connections, { timeout: 5000 }).toBe(prev.pool.totalCount);

      // Again, with the writer still there. A reader arriving while the migration is queued for
      // its lock waits behind it, but only as long as the migration's lock timeout (300 ms), not
      // for the writer: the migration steps back.
      opening = PgStore.open(url, { migrationLockTimeoutMs: 300 });
      await queued();
      await reader.query("SET lock_timeout = '5s'");
      const r0 = Date.now();
      expect((await reader.query('SELECT count(*)::int AS n FROM tokens')).rows[0].n).toBe(2);
      expect(Date.now() - r0).toBeLessThan(1500);
      // The writer commits: the migration gets through on a later try.
      await writer.query('COMMIT');
      const migrated = await opening;
      opening = undefined;
      try {
        const after = await state();
        expect(after.version).toBe(migrated.schemaVersionCount);
        expect(after.defs.filter((d: string) => /tokens_(family|parent) /.test(d))).toEqual([
          expect.stringMatching(/^CREATE INDEX tokens_family ON public\.tokens USING btree \(family\) WHERE \(family IS NOT NULL\)$/),
          expect.stringMatching(/^CREATE INDEX tokens_parent ON public\.tokens USING btree \(parent_hash\) WHERE \(parent_hash IS NOT NULL\)$/),
        ]);
        expect(await migrated.revokeFamily('f1', now)).toEqual(['dev']);
        expect((await migrated.getTokenByHash(String(3).repeat(64)))!.revoked).toBe(true);
        expect((await migrated.getTokenByHash(String(1).repeat(64)))!.revoked).toBe(false);
        // The migration's timeouts were its transaction's only: the pool's connections have the server's.
        const clients = await Promise.all(Array.from({ length: 3 }, () => migrated.pool.connect()));
        for (const c of clients) {
          expect((await c.query('SHOW lock_timeout')).rows[0].lock_timeout).toBe('0');
          expect((await c.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('0');
          c.release();
        }
      } finally {
        migrated.close();
        await migrated.ended;
      }
    } finally {
      await writer.query('ROLLBACK').catch(() => {});
      writer.release();
      reader.release();
      await opening?.then((s) => (s.close(), s.ended)).catch(() => {});
      prev.close();
      await prev.ended;
    }
  });

  it.each([
    ['of the release before (version 6)', 6 as const],
    ['from three releases back (version 2: one migration indexes tokens, a later one drops its index)', 2 as const],
  ])("upgrades a database %s without a deadlock against a previous release's read-then-write transaction", async (_what, from) => {
    const url = pgServer!.createDatabase(`upgrade_from_${from}`);
    const prev = await PgStore.open(url);
    const now = Math.floor(Date.now() / 1000);
    const hash = 'ab'.repeat(32);
    await prev.pool.query(
      "INSERT INTO tokens (cti, token_hash, audience, client_id, subject, scope, issued_at, expires_at, reference, family) VALUES ('c1', $1, 'dev', 'app', 'app', 'read', $2, $3, false, 'f1')",
      [hash, now, now + 600],
    );
    // Back to that release's schema, as a database of it is.
    await toSchemaOf(prev, from);
    // A previous-release instance reads a token to change it (as linkExchangedToken and
    // revokeFamily do), and the migration arrives between its read and its write.
    const t = await prev.pool.connect();
    let opening: Promise<PgStore> | undefined;
    try {
      await t.query('BEGIN');
      await t.query('SELECT family FROM tokens WHERE token_hash = $1 FOR SHARE', [hash]);
      opening = PgStore.open(url, { migrationLockTimeoutMs: 5000 });
      await migrationQueued(prev);
      await t.query('UPDATE tokens SET revoked = true WHERE token_hash = $1', [hash]);
      await t.query('COMMIT');
      const migrated = await opening;
      opening = undefined;
      expect(Number((await migrated.pool.query('SELECT version FROM schema_version')).rows[0].version)).toBe(migrated.schemaVersionCount);
      expect((await migrated.getTokenByHash(hash))!.revoked).toBe(true);
      migrated.close();
      await migrated.ended;
    } finally {
      await t.query('ROLLBACK').catch(() => {});
      t.release();
      await opening?.then((s) => (s.close(), s.ended)).catch(() => {});
      prev.close();
      await prev.ended;
    }
  });

  it('fails the open, not the process, when its connection is cut while it steps back between tries', async () => {
    const url = pgServer!.createDatabase('migration_cut');
    const prev = await PgStore.open(url);
    const writer = await prev.pool.connect();
    try {
      await toSchemaOf(prev, 6);
      await writer.query('BEGIN');
      await writer.query('LOCK TABLE tokens IN ROW EXCLUSIVE MODE');
      const opening = PgStore.open(url, { migrationLockTimeoutMs: 200 }).catch((e: unknown) => e);
      // Its connection, idle in its transaction after a try rolled back: terminated, as by an
      // operator's idle-session killer or a failover.
      const pid = await eventually('the migration stepping back', async () =>
        (await prev.pool.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction' AND query LIKE 'ROLLBACK TO SAVEPOINT%'")).rows[0]?.pid as number | undefined,
      );
      await prev.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      const failure = await opening;
      expect(failure).toBeInstanceOf(Error);
      expect(String(failure)).toMatch(/terminat/i);
      expect(Number((await prev.pool.query('SELECT version FROM schema_version')).rows[0].version)).toBe(6);
    } finally {
      await writer.query('ROLLBACK').catch(() => {});
      writer.release();
      prev.close();
      await prev.ended;
    }
  });

  it("waits for another instance's migration however short the database's own lock_timeout, and checks its option", async () => {
    const url = pgServer!.createDatabase('migration_wait');
    const first = await PgStore.open(url);
    const holder = await first.pool.connect();
    try {
      // An operator's lock_timeout and statement_timeout for the database (new sessions get
      // them), and another instance migrating for 2 s (holding the migration lock, "keybound"
      // in ASCII): longer than all the tries of a 100 ms lock wait, were that wait to count.
      await first.pool.query("ALTER DATABASE migration_wait SET lock_timeout = '100ms'");
      await first.pool.query("ALTER DATABASE migration_wait SET statement_timeout = '100ms'");
      await holder.query('SELECT pg_advisory_lock($1)', [0x6b6579626f756e64n.toString()]);
      const released = new Promise((r) => setTimeout(r, 2000)).then(() => holder.query('SELECT pg_advisory_unlock_all()'));
      const second = await PgStore.open(url, { migrationLockTimeoutMs: 100 });
      await released;
      second.close();
      await second.ended;
    } finally {
      holder.release();
      first.close();
      await first.ended;
    }
    for (const bad of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      await expect(PgStore.open(url, { migrationLockTimeoutMs: bad })).rejects.toThrow(RangeError);
    }
  });

  it('fails to open, with the reason, when no server answers', async () => {
    await expect(PgStore.open('postgres://keybound@127.0.0.1:1/none')).rejects.toThrow(/ECONNREFUSED/);
  });
});
