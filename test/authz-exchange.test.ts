/**
 * Finding 7 (issue 9): token exchange never widens (RFC 8693). Attacks against the real service
 * over HTTP with SQLite on disk: an exchange that asks for more than the subject token carried is
 * refused (or narrowed, where the audience's policy narrows), and an exchanged token dies with its
 * subject: when the subject's grant family is revoked (refresh token reuse) or the subject token
 * itself is revoked at /revoke, the exchanged token is on its audience's signed /trl and
 * introspects inactive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBase64Url, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_CWT, toHex, tokenHash, readableCti } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, errorOf, loginAndConsent, post as postTo, trlHashes, type Enc } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-exchange-'));
let now = 1_800_000_000;
const clock = () => now;
const redirectUri = 'http://127.0.0.1:9/cb';
let store: SqliteStore;
let server: AuthzServer;
let base = '';
const published: string[] = [];
const post = (path: string, body: Parameters<typeof postTo>[2], enc: Enc = 'json', headers: Record<string, string> = dev) => postTo(base, path, body, enc, headers);
const dev = { authorization: basic('ekg-dev', 'dev-secret') };
const rs = { authorization: basic('rs', 'rs-secret') };

const REST = [['/ecg', 3]]; // GET | POST
const MQTT = [['sensors/#', ['pub', 'sub']]];

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  const scopes = ['read', 'write', REST];
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes });
  await registerAudience(store, nativeProvider, { id: 'tube', scopes, exchangeFrom: ['ekg'], clockless: true });
  await registerAudience(store, nativeProvider, { id: 'tube-narrow', scopes, exchangeFrom: ['ekg'], narrow: true });
  await registerAudience(store, nativeProvider, { id: 'relay', scopes, exchangeFrom: ['tube-narrow'] });
  await registerAudience(store, nativeProvider, { id: 'broker-a', scopes: [MQTT] });
  await registerAudience(store, nativeProvider, { id: 'broker-b', scopes: [MQTT], exchangeFrom: ['broker-a'] });
  const audiences = ['ekg', 'tube', 'tube-narrow', 'relay', 'broker-a', 'broker-b'];
  await registerClient(store, {
    id: 'ekg-dev',
    secret: 'dev-secret',
    audiences,
    scopes: ['read', 'write', REST, MQTT],
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token', GRANT_TOKEN_EXCHANGE as never],
    redirectUris: [redirectUri],
  });
  await registerClient(store, { id: 'rs', secret: 'rs-secret', audiences, grantTypes: [] });
  await registerClient(store, { id: 'app', secret: 'app-secret', audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code'], redirectUris: [redirectUri] });
  await registerUser(store, 'alice', 'correct horse');
  // A user whose name is the device's client id: the sub of the tokens other clients get for them.
  await registerUser(store, 'ekg-dev', 'user-password');
  server = await createAuthzServer({ store, dataDir: dir, clock, onRevocationList: (audience) => published.push(audience) });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
});

async function own(audience: string, scope: unknown): Promise<string> {
  const r = await post('/token', { grant_type: 'client_credentials', audience, scope: scope as string });
  expect(r.status).toBe(200);
  return r.data.access_token as string;
}
const exchange = (subject: string, audience: string, scope?: unknown) =>
  post('/token', { grant_type: GRANT_TOKEN_EXCHANGE, audience, subject_token: subject, subject_token_type: TOKEN_TYPE_CWT, ...(scope === undefined ? {} : { scope: scope as string }) });
const active = async (token: string) => (await post('/introspect', { token }, 'json', rs)).data.active as boolean;
const hashOf = (token: string) => toHex(tokenHash(fromBase64Url(token)));
const ctiOf = (token: string) => toHex(readableCti(fromBase64Url(token))!);

const trl = (audience: string) => trlHashes(base, audience);

describe('an exchange never widens the subject token\'s scope (RFC 8693 §2.1)', () => {
  it('refuses a text scope beyond the subject token\'s with invalid_scope, and grants one inside it', async () => {
    const subject = await own('ekg', 'read');
    const wider = await exchange(subject, 'tube', 'read write');
    expect(wider.status).toBe(400);
    expect(errorOf(wider)).toBe('invalid_scope');
    expect(errorOf(await exchange(subject, 'tube', 'write'))).toBe('invalid_scope');
    const inside = await exchange(subject, 'tube', 'read');
    expect(inside.status).toBe(200);
    expect(inside.data.scope).toBeUndefined(); // as asked (RFC 6749 §5.1)
  });

  it('with no scope asked, gives the subject token\'s scope, not everything the client may have there', async () => {
    const subject = await own('ekg', 'read');
    const r = await exchange(subject, 'tube');
    expect(r.status).toBe(200);
    expect(r.data.scope).toBe('read');
  });

  it('narrows a too-wide request to the subject token\'s scope where the audience narrows, and says so', async () => {
    const subject = await own('ekg', 'read');
    const r = await exchange(subject, 'tube-narrow', 'read write');
    expect(r.status).toBe(200);
    expect(r.data.scope).toBe('read');
    // Nothing of the request inside the subject's scope: refused even here.
    expect(errorOf(await exchange(subject, 'tube-narrow', 'write'))).toBe('invalid_scope');
  });

  it('caps AIF-REST methods by the subject token\'s (refused, or narrowed where the audience narrows)', async () => {
    const subject = await own('ekg', [['/ecg', 1]]); // GET only
    expect(errorOf(await exchange(subject, 'tube', [['/ecg', 3]]))).toBe('invalid_scope');
    const narrowed = await exchange(subject, 'tube-narrow', [['/ecg', 3]]);
    expect(narrowed.status).toBe(200);
    expect(narrowed.data.scope).toEqual([['/ecg', 1]]);
    expect((await exchange(subject, 'tube', [['/ecg', 1]])).status).toBe(200);
    // A text scope from an AIF subject token shares nothing with it.
    expect(errorOf(await exchange(subject, 'tube', 'read'))).toBe('invalid_scope');
  });

  it('caps AIF-MQTT topic filters and actions by the subject token\'s', async () => {
    const subject = await own('broker-a', [['sensors/ecg', ['sub']]]);
    expect(errorOf(await exchange(subject, 'broker-b', [['sensors/#', ['sub']]]))).toBe('invalid_scope');
    expect(errorOf(await exchange(subject, 'broker-b', [['sensors/ecg', ['pub', 'sub']]]))).toBe('invalid_scope');
    const r = await exchange(subject, 'broker-b');
    expect(r.status).toBe(200);
    expect(r.data.scope).toEqual([['sensors/ecg', ['sub']]]);
  });
});

describe('an exchanged token ends no later than its subject token', () => {
  it('gets the subject\'s remaining lifetime when that is shorter than the audience\'s', async () => {
    const subject = await own('ekg', 'read'); // an hour (DEFAULT_TOKEN_LIFETIME)
    expect((await exchange(subject, 'tube-narrow', 'read')).data.expires_in).toBe(3600);
    const start = now;
    now += 3000;
    try {
      const late = await exchange(subject, 'tube-narrow', 'read');
      expect(late.status).toBe(200);
      expect(late.data.expires_in).toBe(600);
      // And the chain from it ends then too.
      expect((await exchange(late.data.access_token, 'relay', 'read')).data.expires_in).toBe(600);
      now += 600;
      expect(errorOf(await exchange(subject, 'tube-narrow', 'read'))).toBe('invalid_grant');
    } finally {
      now = start;
    }
  });
});

describe('only the client a token was issued to may exchange it', () => {
  it('refuses another client\'s token whose sub is the exchanging client\'s id (invalid_grant)', async () => {
    const verifier = 'w'.repeat(50);
    const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: redirectUri, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
    const code = await loginAndConsent(base, q, 'ekg-dev', 'user-password');
    const appToken = await post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri }, 'json', { authorization: basic('app', 'app-secret') });
    expect(appToken.status).toBe(200);
    expect(errorOf(await exchange(appToken.data.access_token, 'tube', 'read'))).toBe('invalid_grant');
  });
});

describe('an exchanged token dies with its subject token', () => {
  it('is revoked with the subject\'s grant family when a refresh token is reused: on the signed /trl, inactive', async () => {
    const verifier = 'v'.repeat(50);
    const q = new URLSearchParams({ response_type: 'code', client_id: 'ekg-dev', redirect_uri: redirectUri, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
    const code = await loginAndConsent(base, q, 'alice', 'correct horse');
    const grant = await post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri });
    expect(grant.status).toBe(200);
    const x = await exchange(grant.data.access_token, 'tube', 'read');
    expect(x.status).toBe(200);
    const exchanged = x.data.access_token as string;
    expect(await active(exchanged)).toBe(true);
    expect(await trl('tube')).not.toContain(hashOf(exchanged));

    // The refresh token is stolen and used; the holder's use is a reuse: the family ends.
    expect((await post('/token', { grant_type: 'refresh_token', refresh_token: grant.data.refresh_token })).status).toBe(200);
    published.length = 0;
    expect(errorOf(await post('/token', { grant_type: 'refresh_token', refresh_token: grant.data.refresh_token }))).toBe('invalid_grant');

    expect(await active(exchanged)).toBe(false);
    expect(await trl('tube')).toContain(hashOf(exchanged));
    expect(published).toContain('tube');
    // And the revoked subject cannot be exchanged again.
    expect(errorOf(await exchange(grant.data.access_token, 'tube', 'read'))).toBe('invalid_grant');
  });

  it('is revoked when the subject token is revoked at /revoke, down an exchange chain, and nothing else is', async () => {
    const subject = await own('ekg', 'read');
    const bystander = await own('ekg', 'read');
    const x = (await exchange(subject, 'tube-narrow', 'read')).data.access_token as string;
    const chained = (await exchange(x, 'relay', 'read')).data.access_token as string; // ekg → tube-narrow → relay
    const y = (await exchange(subject, 'tube', 'read')).data.access_token as string;
    const z = (await exchange(bystander, 'tube', 'read')).data.access_token as string;
    for (const t of [x, chained, y, z]) expect(await active(t)).toBe(true);
    published.length = 0;
    expect((await post('/revoke', { token: subject })).status).toBe(200);
    for (const t of [subject, x, chained, y]) expect(await active(t)).toBe(false);
    expect(await active(bystander)).toBe(true);
    expect(await active(z)).toBe(true);
    expect(await trl('tube-narrow')).toContain(hashOf(x));
    expect(await trl('relay')).toContain(hashOf(chained));
    const tube = await trl('tube');
    expect(tube).toContain(hashOf(y));
    expect(tube).not.toContain(hashOf(z));
    expect(published.sort()).toEqual(['ekg', 'relay', 'tube', 'tube-narrow']);
  });
});

describe('the store migration that adds exchange links keeps existing data', () => {
  it('re-opens a database written before parent_hash existed: tokens kept, no parent, revocable', async () => {
    const path = join(dir, 'old.sqlite');
    const old = new SqliteStore(path);
    const row = { cti: 'aa', tokenHash: 'ab'.repeat(32), audience: 'ekg', clientId: 'c', subject: 's', scope: 'read', issuedAt: 1, expiresAt: 2e9, reference: false, revoked: false, family: 'f1' };
    await old.putAudience((await store.getAudience('ekg'))!);
    await old.recordToken(row);
    // Back to the schema before this migration, as a database of the previous release is.
    old.db.exec('DROP INDEX tokens_by_hash; ALTER TABLE tokens DROP COLUMN cti_in_token; ALTER TABLE revocations DROP COLUMN issued_at; DROP TABLE pushed_requests; ALTER TABLE clients DROP COLUMN tls_client_auth; ALTER TABLE clients DROP COLUMN require_par; DROP TABLE dpop_proofs; ALTER TABLE auth_codes DROP COLUMN dpop_jkt; ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt; ALTER TABLE clients DROP COLUMN message_pop; DROP INDEX tokens_parent; ALTER TABLE tokens DROP COLUMN parent_hash; UPDATE schema_version SET version = 4');
    old.close();
    const reopened = new SqliteStore(path);
    try {
      expect(await reopened.getTokenByHash(row.tokenHash)).toEqual(row);
      expect(await reopened.revokeFamily('f1', 1)).toEqual(['ekg']);
      expect((await reopened.getTokenByHash(row.tokenHash))!.revoked).toBe(true);
    } finally {
      reopened.close();
    }
  });
});

describe('an exchange that races the revocation of its subject', () => {
  it('revokes the new token at once when the subject was revoked while it was minted (store.linkExchangedToken)', async () => {
    const subject = await own('ekg', 'read');
    const x = await exchange(subject, 'tube', 'read');
    // As if the subject's revocation landed between the subject check and the link: the link
    // comes after, sees it, and takes the new token along.
    const child = { cti: 'c1', tokenHash: 'cd'.repeat(32), audience: 'tube', clientId: 'ekg-dev', subject: 'ekg-dev', scope: 'read', issuedAt: now, expiresAt: now + 600, reference: false, revoked: false };
    await store.recordToken(child);
    expect(await store.revokeToken(hashOf(subject), ctiOf(subject))).toEqual(expect.arrayContaining(['ekg', 'tube']));
    expect(await active(x.data.access_token)).toBe(false);
    expect(await store.linkExchangedToken({ tokenHash: child.tokenHash }, { tokenHash: hashOf(subject), cti: ctiOf(subject) })).toBe(false);
    expect((await store.getTokenByHash(child.tokenHash))!.revoked).toBe(true);
    expect(await trl('tube')).toContain(child.tokenHash);
    // A live subject links and stays live.
    const live = await own('ekg', 'read');
    const sibling = { ...child, cti: 'c2', tokenHash: 'ce'.repeat(32) };
    await store.recordToken(sibling);
    expect(await store.linkExchangedToken({ tokenHash: sibling.tokenHash }, { tokenHash: hashOf(live), cti: ctiOf(live) })).toBe(true);
    expect((await store.getTokenByHash(sibling.tokenHash))!.revoked).toBe(false);
  });
});
