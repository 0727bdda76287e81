/**
 * Issue 14: two `keybound authz serve` PROCESSES (bin/keybound.js) on one PostgreSQL database,
 * as behind a load balancer. What one instance does, the other must honour: a code issued at A
 * redeems at B (once, even when both race), a refresh token rotated at A and replayed at B ends
 * the family, a revocation at A is on B's signed /trl, a key rotation in the database signs at B,
 * and a kill -9 of A in a burst of issuance loses nothing either acknowledged. DPoP: a proof used
 * at A is a replay at B (the (jkt, jti) record is in the database), and A's server nonce is good
 * at B (stateless, from the --dpop-nonce-secret-file both read).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { fromBase64Url, toHex, tokenHash, readableCti, decodeCbor, type CborMap } from '../cose/index.js';
import { nativeProvider } from '../cose/adapters/index.js';
import { CLIENT_AUTH_FAILURES, PgStore, registerAudience, registerClient, registerUser, s256, SealedKeyVault } from '../authz/index.js';
import { basic, errorOf, loginAndConsent, post, trlHashes } from './support/authz-client.js';
import { startPostgres, postgresUnavailable, type PostgresServer } from './support/postgres-server.js';
import { stop, waitForLine } from './support/processes.js';

const pgMissing = postgresUnavailable();
if (pgMissing) console.warn(`authz-postgres-instances: skipped: ${pgMissing}`);

const REDIRECT = 'https://app.example/cb';
const APP = basic('app', 'app-secret-0123456789abcdef');
const ROOT = join(import.meta.dirname, '..');

let pgServer: PostgresServer;
let dir: string;
let url: string;
let kek: Uint8Array;
let kekFile: string;
let nonceFile: string;
let store: PgStore;
const procs: ChildProcess[] = [];

/** One `keybound authz serve` process on the shared database; resolves with its base URL. */
async function serve(): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/keybound.js'), 'authz', 'serve', '--database', url, '--kek-file', kekFile, '--port', '0', '--issuer', 'https://as.example', '--dpop-nonce-secret-file', nonceFile], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  const m = await waitForLine(proc, /listening on (http:\/\/\S+)/, 60_000);
  // Keep draining its JSON log: a full pipe would block it.
  proc.stderr!.resume();
  return { proc, base: m[1]! };
}

let A: { proc: ChildProcess; base: string };
let B: { proc: ChildProcess; base: string };

beforeAll(async () => {
  if (pgMissing) return;
  pgServer = await startPostgres();
  url = pgServer.url;
  dir = mkdtempSync(join(tmpdir(), 'keybound-pg-inst-'));
  kek = randomBytes(32);
  kekFile = join(dir, 'kek');
  writeFileSync(kekFile, toHex(kek) + '\n', { mode: 0o600 });
  nonceFile = join(dir, 'dpop-nonce.secret');
  writeFileSync(nonceFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  store = await PgStore.open(url);
  await registerAudience(store, nativeProvider, { id: 'ekg', scopes: ['read'] });
  await registerClient(store, { id: 'app', name: 'App', secret: 'app-secret-0123456789abcdef', audiences: ['ekg'], scopes: ['read'], grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'], redirectUris: [REDIRECT] });
  await registerUser(store, 'alice', 'correct horse battery');
  // A first, alone: it creates the signing key (sealed in the database); B then loads it.
  A = await serve();
  B = await serve();
}, 120_000);

afterAll(async () => {
  for (const p of procs) await stop(p);
  if (store) {
    store.close();
    await store.ended;
  }
  await pgServer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function codeAt(base: string): Promise<{ code: string; verifier: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'st' });
  return { code: await loginAndConsent(base, q, 'alice', 'correct horse battery'), verifier };
}

const redeem = (base: string, c: { code: string; verifier: string }) =>
  post(base, '/token', { grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: REDIRECT }, 'form', { authorization: APP });

describe.skipIf(Boolean(pgMissing))('two authz serve processes on one PostgreSQL database', () => {
  it('publish the same signing key, sealed in the database (no private key in clear there)', async () => {
    const keysA = new Uint8Array(await (await fetch(`${A.base}/keys`)).arrayBuffer());
    const keysB = new Uint8Array(await (await fetch(`${B.base}/keys`)).arrayBuffer());
    expect((decodeCbor(keysA) as CborMap[]).length).toBe(1);
    expect(keysB).toEqual(keysA);
    const { rows } = await store.pool.query('SELECT kid, sealed FROM sealed_signing_keys');
    expect(rows).toHaveLength(1);
    // The private key opens only with the KEK, and not with another one.
    const d = (await new SealedKeyVault(store, kek).read(rows[0].kid))!.d!;
    expect(d.length).toBe(32);
    expect(Buffer.from(rows[0].sealed).includes(Buffer.from(d))).toBe(false);
    await expect(new SealedKeyVault(store, randomBytes(32)).read(rows[0].kid)).rejects.toMatchObject({ code: 'ERR_AUTHZ_KEK' });
  });

  it('an instance with another KEK, or none, or a short one, refuses to start (the database alone signs nothing)', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(process.execPath, [join(ROOT, 'bin/keybound.js'), 'authz', 'serve', '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        p.stdout!.resume();
        p.once('close', (code) => resolve({ code, err })); // after stderr is read to its end, unlike 'exit'
      });
    const wrong = join(dir, 'wrong-kek');
    writeFileSync(wrong, randomBytes(32), { mode: 0o600 });
    const other = await run(['--database', url, '--kek-file', wrong]);
    expect(other.code).toBe(1);
    expect(other.err).toContain('ERR_AUTHZ_KEK');
    expect(other.err).not.toContain(toHex(kek));
    const short = join(dir, 'short-kek');
    writeFileSync(short, 'secret\n', { mode: 0o600 });
    expect((await run(['--database', url, '--kek-file', short])).err).toMatch(/32 random bytes.*ERR_AUTHZ_KEK/);
    expect((await run(['--database', url])).err).toContain('--kek-file');
    expect((await run(['--database', url, '--data-dir', dir, '--kek-file', kekFile])).code).toBe(2);
    expect((await run(['--data-dir', dir, '--kek-file', kekFile])).code).toBe(2);
  }, 60_000);

  it('a code issued through A is redeemed at B, once', async () => {
    const c = await codeAt(A.base);
    const r = await redeem(B.base, c);
    expect(r.status).toBe(200);
    // The form, not just presence: a CWT (tag 61) around a COSE_Sign1 (tag 18), RFC 8392 §6.
    const cwt = decodeCbor(fromBase64Url(r.data.access_token)) as { tag: number; value: { tag: number; value: unknown[] } };
    expect([cwt.tag, cwt.value.tag, cwt.value.value.length]).toEqual([61, 18, 4]);
    const again = await redeem(A.base, c);
    expect(errorOf(again)).toBe('invalid_grant');
  });

  it('a browser login at A continues at B (the cookie sent to B); one consent form approves once across both', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const q = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, code_challenge: s256(verifier), code_challenge_method: 'S256', scope: 'read', audience: 'ekg', state: 'st' });
    let res = await fetch(`${A.base}/authorize?${q}`, { redirect: 'manual' });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    let html = await res.text();
    const request = /name="request" value="([^"]+)"/.exec(html)![1]!;
    const form = (c: string) => ({ cookie: c, 'content-type': 'application/x-www-form-urlencoded' });
    // The session id is in the database only as its hash: a copy of the table signs nobody in.
    const sessionId = cookie.split('=')[1]!;
    const { rows } = await store.pool.query('SELECT * FROM browser_sessions');
    expect(JSON.stringify(rows)).not.toContain(sessionId);
    res = await fetch(`${B.base}/login`, { method: 'POST', redirect: 'manual', headers: form(cookie), body: new URLSearchParams({ csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]!, next: '/consent', request, username: 'alice', password: 'correct horse battery' }) });
    expect(res.status).toBe(200);
    const signedIn = res.headers.get('set-cookie')!.split(';')[0]!;
    expect(signedIn).not.toBe(cookie); // renewed at sign-in (session fixation)
    html = await res.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    // The old cookie is dead at both instances.
    expect((await fetch(`${A.base}/consent`, { method: 'POST', redirect: 'manual', headers: form(cookie), body: new URLSearchParams({ csrf, request, decision: 'approve' }) })).status).not.toBe(302);
    // The same consent form posted to both at once: one code.
    const answers = await Promise.all([A.base, B.base, A.base, B.base].map((base) => fetch(`${base}/consent`, { method: 'POST', redirect: 'manual', headers: form(signedIn), body: new URLSearchParams({ csrf, request, decision: 'approve' }) })));
    const codes = answers.map((r) => (r.status === 302 || r.status === 303 ? new URL(r.headers.get('location')!).searchParams.get('code') : null)).filter((c) => c);
    expect(codes).toHaveLength(1);
    expect((await redeem(B.base, { code: codes[0]!, verifier })).status).toBe(200);
  });

  it('parallel redemption of one code through both gives exactly one winner', async () => {
    for (let round = 0; round < 3; round++) {
      const c = await codeAt(round % 2 ? B.base : A.base);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => redeem(i % 2 ? A.base : B.base, c)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(errorOf(r)).toBe('invalid_grant');
    }
  });

  it('DPoP: a proof used at A is refused at B as a replay; a nonce from A is good at B', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    // Every /token answer carries a fresh nonce; this one is A's.
    const nonce = (await fetch(`${A.base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' })).headers.get('dpop-nonce')!;
    // htu is the token endpoint as the metadata names it (the issuer's URL), whichever instance answers.
    const proof = (jti: string) =>
      new SignJWT({ jti, htm: 'POST', htu: 'https://as.example/token', iat: Math.floor(Date.now() / 1000), nonce }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(privateKey);
    const token = (base: string, dpop: string) => post(base, '/token', { grant_type: 'client_credentials', audience: 'ekg', scope: 'read' }, 'form', { authorization: APP, dpop });
    const once = await proof(randomBytes(12).toString('base64url'));
    const atA = await token(A.base, once);
    expect([atA.status, atA.data?.token_type]).toEqual([200, 'DPoP']);
    const replayed = await token(B.base, once);
    expect([replayed.status, errorOf(replayed)]).toEqual([400, 'invalid_dpop_proof']);
    const fresh = await token(B.base, await proof(randomBytes(12).toString('base64url')));
    expect([fresh.status, fresh.data?.token_type]).toEqual([200, 'DPoP']);
  });

  it('a refresh token rotated at A and replayed at B revokes the family', async () => {
    const first = await redeem(A.base, await codeAt(A.base));
    expect(first.status).toBe(200);
    const refresh0 = first.data.refresh_token as string;
    const rotated = await post(A.base, '/token', { grant_type: 'refresh_token', refresh_token: refresh0 }, 'form', { authorization: APP });
    expect(rotated.status).toBe(200);
    const replay = await post(B.base, '/token', { grant_type: 'refresh_token', refresh_token: refresh0 }, 'form', { authorization: APP });
    expect(errorOf(replay)).toBe('invalid_grant');
    // The legitimate holder's rotated token died with the family, at either instance.
    const next = await post(A.base, '/token', { grant_type: 'refresh_token', refresh_token: rotated.data.refresh_token }, 'form', { authorization: APP });
    expect(errorOf(next)).toBe('invalid_grant');
    // And the family's access tokens are on the TRL, served by B.
    const hashes = await trlHashes(B.base, 'ekg');
    expect(hashes).toContain(toHex(tokenHash(fromBase64Url(rotated.data.access_token))));
  });

  it("a revocation at A appears on B's signed /trl", async () => {
    const t = await post(B.base, '/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'form', { authorization: APP });
    expect(t.status).toBe(200);
    const hash = toHex(tokenHash(fromBase64Url(t.data.access_token)));
    expect(await trlHashes(B.base, 'ekg')).not.toContain(hash);
    expect((await post(A.base, '/revoke', { token: t.data.access_token }, 'form', { authorization: APP })).status).toBe(200);
    expect(await trlHashes(B.base, 'ekg')).toContain(hash);
  });

  it('a key rotated with `authz rotate-key --database` (the operator at A) signs at B within the refresh interval', async () => {
    const before = (await store.listSigningKeys()).filter((k) => k.retiredAt === undefined).at(-1)!.kid;
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [join(ROOT, 'bin/keybound.js'), 'authz', 'rotate-key', '--database', url, '--kek-file', kekFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout!.on('data', (d: Buffer) => (text += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (text += d.toString()));
      p.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(text)))); // output read to its end
    });
    const kid = /new signing key ([0-9a-f]+)/.exec(out)![1]!;
    expect(kid).not.toBe(before);
    expect(out).toContain(`the old key ${before} stays published`);
    let signedBy = '';
    for (let i = 0; i < 50 && signedBy !== kid; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const t = await post(B.base, '/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'form', { authorization: APP });
      expect(t.status).toBe(200);
      // COSE_Sign1 protected header: kid (label 4) names the signing key.
      // CWT tag 61 around COSE_Sign1 tag 18 (RFC 8392 §6): unwrap to the array.
      let parts = decodeCbor(fromBase64Url(t.data.access_token)) as unknown;
      while (!Array.isArray(parts)) parts = (parts as { value: unknown }).value;
      const unprotected = (parts as unknown[])[1] as Map<number, Uint8Array>;
      const protectedMap = decodeCbor((parts as unknown[])[0] as Uint8Array) as Map<number, Uint8Array>;
      signedBy = toHex(protectedMap.get(4) ?? unprotected.get(4)!);
    }
    expect(signedBy).toBe(kid);
    // Both instances publish the new key and the old one (still verifying its tokens).
    const keysA = decodeCbor(new Uint8Array(await (await fetch(`${A.base}/keys`)).arrayBuffer())) as CborMap[];
    const keysB = new Uint8Array(await (await fetch(`${B.base}/keys`)).arrayBuffer());
    expect(keysA).toHaveLength(2);
    expect(decodeCbor(keysB)).toEqual(keysA);
  }, 60_000);

  it('kill -9 of A during a burst of issuance: B keeps serving, every token either acknowledged is recorded', async () => {
    const acknowledged: string[] = [];
    let aDown = 0;
    const one = async (base: string): Promise<void> => {
      try {
        const r = await post(base, '/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'form', { authorization: APP });
        if (r.status === 200) acknowledged.push(r.data.access_token);
      } catch {
        aDown++; // the connection to the killed instance broke: nothing was acknowledged
      }
    };
    const burst: Promise<void>[] = [];
    for (let i = 0; i < 80; i++) {
      burst.push(one(i % 2 ? A.base : B.base));
      if (i === 40) A.proc.kill('SIGKILL');
      if (i % 8 === 7) await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(burst);
    const afterB: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post(B.base, '/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'form', { authorization: APP });
      expect(r.status).toBe(200);
      afterB.push(r.data.access_token);
    }
    expect(aDown).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(20);
    for (const t of [...acknowledged, ...afterB]) {
      const rec = await store.getTokenByHash(toHex(tokenHash(fromBase64Url(t))), toHex(readableCti(fromBase64Url(t))!));
      expect(rec?.audience).toBe('ekg');
    }
  }, 120_000);

  // Last: it leaves 127.0.0.1 blocked at both instances for the rest of the window.
  it('failed client authentications are counted across instances: A and B together allow CLIENT_AUTH_FAILURES, not twice', async () => {
    const C = await serve(); // A was killed above
    const wrong = basic('app', 'not-the-secret-0123456789');
    const statuses: number[] = [];
    for (let i = 0; i < CLIENT_AUTH_FAILURES + 8; i++) {
      const r = await post(i % 2 ? B.base : C.base, '/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'form', { authorization: wrong });
      statuses.push(r.status);
    }
    // Each process alone would have answered all 72 with 401 (36 each, under its own 64). The
    // shared count allows 64 in all, fewer by the attempts A had taken when it was killed above
    // (a crashed instance gives nothing back: the count errs toward refusing).
    const refused = statuses.filter((s) => s === 401).length;
    expect(refused).toBeLessThanOrEqual(CLIENT_AUTH_FAILURES);
    expect(refused).toBeGreaterThan(CLIENT_AUTH_FAILURES - 20);
    expect(statuses.slice(CLIENT_AUTH_FAILURES).every((s) => s === 429)).toBe(true);
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
    // The right secret is refused too now, at either: the address is blocked before any scrypt.
    expect((await post(B.base, '/token', { grant_type: 'client_credentials', audience: 'ekg' }, 'form', { authorization: APP })).status).toBe(429);
  }, 120_000);
});
