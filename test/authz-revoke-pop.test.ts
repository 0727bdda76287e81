/**
 * Finding 11 (issue 9): revoking a public client's token takes proof of possession of its key.
 * A public client has no credentials but its client_id, which anybody can name; the attack is a
 * thief holding a stolen token of a public client (an app's user) revoking it, or any other, at
 * /revoke of the real service over HTTP. Refused without a proof by the token's cnf key; the key
 * holder revokes it, and the token then introspects inactive and is on the signed /trl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  coseKeyFromMap,
  coseKeyToMap,
  decodeCbor,
  encodeCbor,
  fromBase64Url,
  publicCoseKey,
  toBase64Url,
  toHex,
  tokenHash,
  utf8,
  type CborMap,
  type CoseKey,
} from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { createPopProof, type PopProofFields } from '../device/index.js';
import { createAuthzServer, registerAudience, registerClient, registerUser, s256, SqliteStore, type AuthzServer } from '../authz/index.js';
import { basic, errorOf, loginAndConsent, post as postTo, trlHashes, type Enc } from './support/authz-client.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-revoke-pop-'));
const now = 1_800_000_000;
const clock = () => now;
const ISSUER = 'https://as.example';
const redirectUri = 'http://127.0.0.1:9/cb';
let store: SqliteStore;
let server: AuthzServer;
let base = '';
const post = (path: string, body: Parameters<typeof postTo>[2], enc: Enc = 'json', headers: Record<string, string> = {}) => postTo(base, path, body, enc, headers);
const rs = { authorization: basic('rs', 'rs-secret') };
const active = async (token: string) => (await post('/introspect', { token }, 'json', rs)).data.active as boolean;

function ed25519(): CoseKey {
  const p = nativeProvider.generateKeyPair('Ed25519');
  return { kty: 'OKP', crv: 'Ed25519', x: p.x, d: p.d };
}
const holderKey = ed25519();
const thiefKey = ed25519();

beforeAll(async () => {
  store = new SqliteStore(join(dir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  // A public client: an app on many phones, no secret (RFC 6749 §2.1).
  await registerClient(store, { id: 'phone', audiences: ['ekg'], scopes: ['read'], grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [redirectUri] });
  await registerClient(store, { id: 'rs', secret: 'rs-secret', audiences: ['ekg'], grantTypes: [] });
  await registerUser(store, 'alice', 'correct horse');
  await registerUser(store, 'bob', 'battery staple');
  server = await createAuthzServer({ store, dataDir: dir, clock, issuer: ISSUER });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  store.close();
});

/** A user signs in on the phone app; with a key, its public half goes in req_cnf (RFC 9201 §5). */
async function signIn(user: string, password: string, key?: CoseKey): Promise<{ access: string; refresh: string; popKey: CoseKey }> {
  const verifier = `${user}-`.padEnd(50, 'v');
  const q = new URLSearchParams({ response_type: 'code', client_id: 'phone', redirect_uri: redirectUri, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg' });
  if (key) q.set('req_cnf', toBase64Url(encodeCbor(new Map([[1, coseKeyToMap(publicCoseKey(key))]]))));
  const code = await loginAndConsent(base, q, user, password);
  const r = await post('/token', { grant_type: 'authorization_code', client_id: 'phone', code, code_verifier: verifier, redirect_uri: redirectUri });
  expect(r.status).toBe(200);
  // Without req_cnf the service made a symmetric PoP key and sent it in cnf (RFC 9201 §5).
  const popKey = key ?? coseKeyFromMap((decodeCbor(fromBase64Url(r.data.cnf)) as CborMap).get(1) as CborMap);
  return { access: r.data.access_token, refresh: r.data.refresh_token, popKey };
}

let jtis = 0;
function proof(key: CoseKey, hash: Uint8Array, over: Partial<PopProofFields> = {}): string {
  const jti = utf8(`revoke-jti-${jtis++}`.padEnd(16, '.'));
  const fields: PopProofFields = { purpose: 'revoke', audience: ISSUER, tokenHash: hash, iat: now, jti, clientId: 'phone', ...over };
  return toBase64Url(createPopProof(fields, key, { provider: nativeProvider }));
}
const accessHash = (token: string) => tokenHash(fromBase64Url(token), nativeProvider);
const refreshHash = (token: string) => nativeProvider.digest('SHA-256', utf8(token));
const revoke = (token: string, popProof?: string, enc: Enc = 'json') => post('/revoke', { client_id: 'phone', token, ...(popProof ? { pop_proof: popProof } : {}) }, enc);

const trl = () => trlHashes(base, 'ekg');

describe('a thief holding a public client\'s stolen token cannot revoke it', () => {
  it('is refused without a proof, with a proof by another key, and with the holder\'s proof for another token', async () => {
    const alice = await signIn('alice', 'correct horse', holderKey);
    const other = await signIn('alice', 'correct horse', holderKey);
    const noProof = await revoke(alice.access);
    expect(noProof.status).toBe(400);
    expect(errorOf(noProof)).toBe('invalid_request');
    expect(errorOf(await revoke(alice.access, proof(thiefKey, accessHash(alice.access))))).toBe('invalid_request');
    // A proof the holder made to revoke another token does not revoke this one.
    expect(errorOf(await revoke(alice.access, proof(holderKey, accessHash(other.access))))).toBe('invalid_request');
    // Nor a proof for another purpose, verifier or client, or a stale one.
    expect(errorOf(await revoke(alice.access, proof(holderKey, accessHash(alice.access), { purpose: 'mqtt-connect' })))).toBe('invalid_request');
    expect(errorOf(await revoke(alice.access, proof(holderKey, accessHash(alice.access), { audience: 'ekg' })))).toBe('invalid_request');
    expect(errorOf(await revoke(alice.access, proof(holderKey, accessHash(alice.access), { clientId: 'other' })))).toBe('invalid_request');
    expect(errorOf(await revoke(alice.access, proof(holderKey, accessHash(alice.access), { iat: now - 600 })))).toBe('invalid_request');
    expect(await active(alice.access)).toBe(true);
    expect(await trl()).not.toContain(toHex(accessHash(alice.access)));
  });

  it('cannot end the grant through its refresh token (bound to the holder\'s key) either', async () => {
    const alice = await signIn('alice', 'correct horse', holderKey);
    expect(errorOf(await revoke(alice.refresh))).toBe('invalid_request');
    expect(errorOf(await revoke(alice.refresh, proof(thiefKey, refreshHash(alice.refresh))))).toBe('invalid_request');
    expect(await active(alice.access)).toBe(true);
    expect((await post('/token', { grant_type: 'refresh_token', client_id: 'phone', refresh_token: alice.refresh })).status).toBe(200);
  });

  it('cannot revoke another user\'s token of the same app with its own key', async () => {
    const bob = await signIn('bob', 'battery staple', thiefKey);
    const alice = await signIn('alice', 'correct horse', holderKey);
    expect(errorOf(await revoke(alice.access, proof(thiefKey, accessHash(alice.access))))).toBe('invalid_request');
    expect(await active(alice.access)).toBe(true);
    expect(await active(bob.access)).toBe(true);
  });
});

describe('the key holder revokes its public client\'s token with a proof', () => {
  for (const enc of ['json', 'form'] as const) {
    it(`revokes an access token bound to its key: inactive, on the signed /trl; the proof is not accepted twice (${enc})`, async () => {
      const alice = await signIn('alice', 'correct horse', holderKey);
      const p = proof(holderKey, accessHash(alice.access));
      expect((await revoke(alice.access, p, enc)).status).toBe(200);
      expect(await active(alice.access)).toBe(false);
      expect(await trl()).toContain(toHex(accessHash(alice.access)));
      expect(errorOf(await revoke(alice.access, p, enc))).toBe('invalid_request');
    });
  }

  it('takes the proof as a byte string in CBOR (application/ace+cbor)', async () => {
    const alice = await signIn('alice', 'correct horse', holderKey);
    const body = (p?: string) => new Map<number | string, unknown>([[24, 'phone'], [11, fromBase64Url(alice.access)], ...(p ? [['pop_proof', fromBase64Url(p)] as [string, unknown]] : [])]) as CborMap;
    expect(errorOf(await post('/revoke', body(), 'cbor'))).toBe('invalid_request');
    expect(await active(alice.access)).toBe(true);
    expect((await post('/revoke', body(proof(holderKey, accessHash(alice.access))), 'cbor')).status).toBe(200);
    expect(await active(alice.access)).toBe(false);
  });

  it('revokes with the symmetric PoP key the service made (COSE_Mac0 proof), and a thief cannot', async () => {
    const alice = await signIn('alice', 'correct horse');
    expect(alice.popKey.kty).toBe('Symmetric');
    expect(errorOf(await revoke(alice.access))).toBe('invalid_request');
    const forged: CoseKey = { kty: 'Symmetric', k: nativeProvider.randomBytes(32), ...(alice.popKey.kid ? { kid: alice.popKey.kid } : {}) };
    expect(errorOf(await revoke(alice.access, proof(forged, accessHash(alice.access))))).toBe('invalid_request');
    expect(await active(alice.access)).toBe(true);
    expect((await revoke(alice.access, proof(alice.popKey, accessHash(alice.access)))).status).toBe(200);
    expect(await active(alice.access)).toBe(false);
  });

  it('revokes a refresh token bound to its key with a proof: the grant ends', async () => {
    const alice = await signIn('alice', 'correct horse', holderKey);
    expect((await revoke(alice.refresh, proof(holderKey, refreshHash(alice.refresh)))).status).toBe(200);
    expect(await active(alice.access)).toBe(false);
    expect(errorOf(await post('/token', { grant_type: 'refresh_token', client_id: 'phone', refresh_token: alice.refresh }))).toBe('invalid_grant');
  });

  it('an unknown token still answers 200 with or without a proof (RFC 7009 §2.2: no oracle)', async () => {
    expect((await revoke(toBase64Url(nativeProvider.randomBytes(40)))).status).toBe(200);
    expect((await revoke(toBase64Url(nativeProvider.randomBytes(40)), proof(thiefKey, nativeProvider.randomBytes(32)))).status).toBe(200);
  });
});
