/**
 * Adversarial review of DPoP at the service AS DEPLOYED: `keybound authz serve` in its own process
 * (SQLite in --data-dir, --dpop-nonce-secret-file), attacked over raw HTTP with hand-made proofs.
 * - An RSA proof key with a 2000-bit public exponent (every check costs a private-key operation,
 *   before any client is authenticated) or an oversized modulus is refused.
 * - A jwk that encodes the key non-canonically (another thumbprint for the same key) is refused.
 * - Two DPoP header lines, an iat beyond the window in the future, htu variants (trailing slash,
 *   another port, percent-encoded path, query) are refused; RFC 3986 equivalents are not.
 * - A flood of signed proofs from nobody the service knows leaves no row in its replay record.
 * - JWT access tokens forged with alg none, HS256 under the published key, another kid: inactive.
 * - The (jkt, jti) replay record survives a restart; after a rotation of the nonce secret file a
 *   nonce under the previous secret is still good, and a forged one is refused with a challenge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generatePrimeSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { nativeProvider } from '../cose/adapters/index.js';
import { registerAudience, registerClient, SqliteStore, storeReplayRecord } from '../authz/index.js';
import { MemoryDpopReplay, verifyDpopProof } from '../sender-constraint/index.js';
import { jsonLines, stop, waitForLine } from './support/processes.js';
import { NONCE_SECRET_REREAD_MS, nonceSecretsFromFile } from '../cli/index.js';

const ISSUER = 'https://as.example';
const HTU = `${ISSUER}/token`;
const SECRET = 'svc-secret-0123456789abcdef';
const BASIC = `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`;
const JWT_AUDIENCE = 'https://rs.example/records';
const RS_SECRET = 'records-rs-secret-0123456789abcdef';

let dir: string;
let dataDir: string;
let nonceFile: string;
let service: ChildProcess | undefined;
let base: string;
/** The running service's stderr (pino JSON lines), drained as it comes. */
let serviceLog = '';
const secretA = randomBytes(32).toString('hex');
const secretB = randomBytes(32).toString('hex');

async function start(): Promise<void> {
  const proc = spawn(process.execPath, ['bin/keybound.js', 'authz', 'serve', '--data-dir', dataDir, '--init', '--port', '0', '--issuer', ISSUER, '--dpop-nonce-secret-file', nonceFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  service = proc;
  base = (await waitForLine(proc, /listening on (http:\/\/\S+)/))[1]!;
  // pino JSON on stderr: drained so a full pipe never blocks it, and kept for the warnings.
  serviceLog = '';
  proc.stderr!.on('data', (c: Buffer) => (serviceLog += c.toString()));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'review-dpop-'));
  dataDir = join(dir, 'as');
  mkdirSync(dataDir, { mode: 0o700 });
  nonceFile = join(dir, 'dpop-nonce.secret');
  writeFileSync(nonceFile, `${secretA}\n`, { mode: 0o600 });
  const store = new SqliteStore(join(dataDir, 'authz.sqlite'));
  await registerAudience(store, nativeProvider, { id: 'api', scopes: ['read'] });
  await registerAudience(store, nativeProvider, { id: JWT_AUDIENCE, scopes: ['read'], tokenFormat: 'jwt' });
  await registerClient(store, { id: 'svc', secret: SECRET, audiences: ['api', JWT_AUDIENCE], scopes: ['read'], grantTypes: ['client_credentials'] });
  await registerClient(store, { id: 'records-rs', secret: RS_SECRET, audiences: [JWT_AUDIENCE], grantTypes: [], resourceServer: true });
  store.close();
  await start();
}, 60_000);

afterAll(async () => {
  await stop(service);
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
  nonce: string | undefined;
}

/** POST /token over node:http; `dpop` as an array sends that many DPoP header lines. */
function token(dpop: string | string[] | undefined, audience = 'api', params: Record<string, string> = { grant_type: 'client_credentials', audience, scope: 'read' }, authorization: string | undefined = BASIC): Promise<Answer> {
  const body = new URLSearchParams(params).toString();
  return new Promise((resolve, reject) => {
    const req = request(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}), ...(dpop !== undefined ? { dpop } : {}) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown>, nonce: res.headers['dpop-nonce'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ec = await generateKeyPair('ES256');
const ecJwk = await exportJWK(ec.publicKey);
const now = () => Math.floor(Date.now() / 1000);

function proof(claims: Record<string, unknown>, key: { privateKey: CryptoKey | KeyObject; jwk: JWK; alg: string } = { privateKey: ec.privateKey, jwk: ecJwk, alg: 'ES256' }): Promise<string> {
  return new SignJWT({ jti: randomUUID(), htm: 'POST', htu: HTU, iat: now(), ...claims }).setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk }).sign(key.privateKey);
}

async function currentNonce(): Promise<string> {
  const n = (await token(undefined)).nonce;
  expect(n).toMatch(/^\d+\.[A-Za-z0-9_-]{22}$/);
  return n!;
}

const b64u = (n: bigint): string => {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
};

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return ((s0 % m) + m) % m;
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));

/** A real RSA-2048 key pair whose public exponent has 2000 bits: it signs, and its proofs verify (slowly). */
function hugeExponentRsaKey(): { privateKey: KeyObject; jwk: JWK } {
  const p = generatePrimeSync(1024, { bigint: true });
  const q = generatePrimeSync(1024, { bigint: true });
  const phi = (p - 1n) * (q - 1n);
  let e: bigint;
  do e = BigInt(`0x${randomBytes(250).toString('hex')}`) | (1n << 1999n) | 1n;
  while (gcd(e, phi) !== 1n);
  const d = modInverse(e, phi);
  const jwk = { kty: 'RSA', n: b64u(p * q), e: b64u(e) };
  const privateKey = createPrivateKey({ key: { ...jwk, d: b64u(d), p: b64u(p), q: b64u(q), dp: b64u(d % (p - 1n)), dq: b64u(d % (q - 1n)), qi: b64u(modInverse(q, p)) }, format: 'jwk' });
  return { privateKey, jwk };
}

const rsa2048 = await generateKeyPair('PS256', { modulusLength: 2048 });
const rsa2048Jwk = await exportJWK(rsa2048.publicKey);

describe('RSA proof keys whose size the attacker picks', () => {
  it('a validly signed PS256 proof under a 2000-bit public exponent is refused; RSA-2048 with e=65537 still binds a JWT', async () => {
    const huge = hugeExponentRsaKey();
    const nonce = await currentNonce();
    const refused = await token(await proof({ nonce }, { ...huge, alg: 'PS256' }), JWT_AUDIENCE);
    expect([refused.status, refused.body.error, refused.body.error_description]).toEqual([400, 'invalid_dpop_proof', 'DPoP proof RSA exponent not accepted']);

    const ok = await token(await proof({ nonce }, { privateKey: rsa2048.privateKey, jwk: rsa2048Jwk, alg: 'PS256' }), JWT_AUDIENCE);
    expect([ok.status, ok.body.token_type]).toEqual([200, 'DPoP']);
  }, 20_000);

  it('an oversized modulus, a padded exponent and a 1024-bit modulus are refused before any import', async () => {
    const jwk = rsa2048Jwk;
    const withKey = async (bad: JWK) => {
      const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'PS256', jwk: bad })).toString('base64url');
      const payload = Buffer.from(JSON.stringify({ jti: randomUUID(), htm: 'POST', htu: HTU, iat: now() })).toString('base64url');
      return verifyDpopProof(`${header}.${payload}.${randomBytes(256).toString('base64url')}`, { method: 'POST', url: HTU, now: now() }).then(
        () => 'accepted',
        (e: Error & { code?: string }) => `${e.code}: ${e.message}`,
      );
    };
    expect(await withKey({ ...jwk, n: randomBytes(520).toString('base64url') })).toBe('invalid_dpop_proof: DPoP proof RSA modulus size not accepted');
    expect(await withKey({ ...jwk, n: Buffer.concat([Buffer.from([0xff]), randomBytes(127)]).toString('base64url') })).toBe('invalid_dpop_proof: DPoP proof RSA modulus size not accepted');
    expect(await withKey({ ...jwk, e: 'AAEAAQ' })).toBe('invalid_dpop_proof: DPoP proof RSA exponent not accepted');
  });
});

describe('the replay record at the edge of the iat window', () => {
  it('a proof replayed in the last second its iat is accepted is a replay, in memory and in SQLite', async () => {
    const iat = now();
    const WINDOW = 60;
    const jwt = await proof({ iat });
    const edge = iat + WINDOW; // |now - iat| <= window: still accepted (RFC 9449 §11.1)
    const store = new SqliteStore(join(dir, 'edge.sqlite'));
    try {
      const records = { memory: new MemoryDpopReplay({ clock: () => edge }), sqlite: storeReplayRecord(store, () => edge) };
      for (const [name, replay] of Object.entries(records)) {
        const check = { method: 'POST', url: HTU, now: edge, iatWindow: WINDOW, replay };
        await verifyDpopProof(jwt, check);
        const second = await verifyDpopProof(jwt, check).then(() => 'accepted', (e: Error) => e.message);
        expect([name, second]).toEqual([name, 'DPoP proof replayed']);
      }
    } finally {
      store.close();
    }
  });
});

describe('JWT access tokens the service never issued', () => {
  it('/introspect: alg none, HS256 under the published public key, an unknown kid, a re-signed or edited payload are all inactive', async () => {
    const issued = await token(await proof({ nonce: await currentNonce() }), JWT_AUDIENCE);
    expect([issued.status, issued.body.token_type]).toEqual([200, 'DPoP']);
    const jwt = issued.body.access_token as string;
    const [h, p, sig] = jwt.split('.') as [string, string, string];
    const { kid } = decodeProtectedHeader(jwt);
    const jwks = (await (await fetch(`${base}/jwks.json`)).json()) as { keys: JWK[] };
    const published = jwks.keys.find((k) => k.kid === kid)!;
    expect(published).toBeDefined();
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const widened = { ...claims, scope: 'read write admin', exp: (claims.exp as number) + 86_400 };
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const hs256 = async (secret: Uint8Array) => new SignJWT(widened).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: kid! }).sign(secret);
    const attacker = await generateKeyPair('ES256');
    const forgeries = {
      none: `${enc({ alg: 'none', typ: 'at+jwt', kid })}.${enc(widened)}.`,
      hs256Jwk: await hs256(Buffer.from(JSON.stringify(published))),
      hs256X: await hs256(Buffer.from(published.x!, 'base64url')),
      unknownKid: await new SignJWT(widened).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'rotated-or-unknown' }).sign(attacker.privateKey),
      sameKid: await new SignJWT(widened).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: kid! }).sign(attacker.privateKey),
      editedPayload: `${h}.${enc(widened)}.${sig}`,
    };
    const introspect = async (t: string) => {
      const r = await fetch(`${base}/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`records-rs:${RS_SECRET}`).toString('base64')}` }, body: new URLSearchParams({ token: t }) });
      const body = (await r.json()) as { active?: boolean; error?: string };
      return body.active ?? `${r.status} ${body.error}`;
    };
    expect(await introspect(jwt)).toBe(true);
    // An unsigned JWT is not even a token's shape (ace-params.ts tokenParam): refused outright.
    const expected: Record<string, unknown> = { none: '400 invalid_request' };
    for (const [name, forged] of Object.entries(forgeries)) expect([name, await introspect(forged)]).toEqual([name, expected[name] ?? false]);
  });
});

describe('one key, one thumbprint', () => {
  it('a proof whose jwk encodes the same key non-canonically (padding, a newline, unused bits set) is refused', async () => {
    const x = ecJwk.x!;
    const last = x.at(-1)!;
    // P-256: 32 bytes in 43 characters, the last one's 2 low bits unused: set one of them.
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const unusedBits = x.slice(0, -1) + B64.charAt(B64.indexOf(last) + 1);
    const nonce = await currentNonce();
    for (const variant of [`${x}=`, `${x}\n`, unusedBits]) {
      const r = await token(await proof({ nonce }, { privateKey: ec.privateKey, jwk: { ...ecJwk, x: variant }, alg: 'ES256' }));
      expect([JSON.stringify(variant.slice(-2)), r.status, r.body.error_description]).toEqual([JSON.stringify(variant.slice(-2)), 400, 'DPoP proof jwk x is not canonical base64url']);
    }
  });
});

describe('the proof as it travels', () => {
  it('two DPoP header lines are refused, even when each is a good proof', async () => {
    const nonce = await currentNonce();
    const r = await token([await proof({ nonce }), await proof({ nonce })]);
    expect([r.status, r.body.error]).toEqual([400, 'invalid_dpop_proof']);
  });

  it('an iat beyond the window in the future is refused; one inside it is accepted', async () => {
    const nonce = await currentNonce();
    const future = await token(await proof({ nonce, iat: now() + 120 }));
    expect([future.status, future.body.error]).toEqual([400, 'invalid_dpop_proof']);
    const near = await token(await proof({ nonce, iat: now() + 20 }));
    expect(near.status).toBe(200);
  });

  it('htu: RFC 3986 equivalents pass, another path, port, encoding or a query do not', async () => {
    const nonce = await currentNonce();
    const status = async (htu: string) => (await token(await proof({ nonce, htu }))).status;
    expect(await status('HTTPS://AS.EXAMPLE:443/token')).toBe(200);
    expect(await status('https://as.example/x/../token')).toBe(200);
    for (const htu of ['https://as.example/token/', 'https://as.example:8443/token', 'http://as.example/token', 'https://as.example/%74oken', 'https://as.example/token?x=1', 'https://as.example/TOKEN', 'https://as.example.evil/token']) {
      expect([htu, await status(htu)]).toEqual([htu, 400]);
    }
  });
});

/** The (jkt, jti) rows the service holds, read from its SQLite file by a second, read-only connection. */
function replayRows(jkt?: string): number {
  const db = new Database(join(dataDir, 'authz.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = (jkt === undefined ? db.prepare('SELECT count(*) AS n FROM dpop_proofs').get() : db.prepare('SELECT count(*) AS n FROM dpop_proofs WHERE jkt = ?').get(jkt)) as { n: number };
    return row.n;
  } finally {
    db.close();
  }
}

describe('the replay record against a flood', () => {
  it('distinct jti sent by nobody the service knows leave no row in its store; an issued token leaves one', async () => {
    const flooder = await generateKeyPair('ES256');
    const key = { privateKey: flooder.privateKey, jwk: await exportJWK(flooder.publicKey), alg: 'ES256' };
    const jkt = (await verifyDpopProof(await proof({}, key), { method: 'POST', url: HTU, now: now() })).jkt;
    const nonce = await currentNonce();
    // No client authentication, so the per-address limit of failed client authentications never
    // applies: an unsupported grant, a public client that does not exist, a code that was never issued.
    const floods: Array<Record<string, string>> = [
      { grant_type: 'password', username: 'u', password: 'p' },
      { grant_type: 'authorization_code', client_id: 'nobody', code: 'x', code_verifier: 'y'.repeat(43), redirect_uri: 'http://127.0.0.1:9/cb' },
      { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'nobody', device_code: 'x' },
    ];
    for (let i = 0; i < 30; i++) {
      const r = await token(await proof({ nonce }, key), 'api', floods[i % floods.length]!, undefined);
      expect(r.status).toBeGreaterThanOrEqual(400);
    }
    expect(replayRows(jkt)).toBe(0);
    expect((await token(await proof({ nonce }, key))).status).toBe(200);
    expect(replayRows(jkt)).toBe(1);
  });
});

describe('the replay record and the nonce secret across a restart', () => {
  it('a proof used before a restart is a replay after it; after a rotation a nonce under the previous secret is still good', async () => {
    const nonceA = await currentNonce();
    const used = await proof({ nonce: nonceA });
    expect((await token(used)).status).toBe(200);

    // Rotation: the new secret first, the old one second (cli/dpop-nonce-secret-file.ts).
    await stop(service);
    writeFileSync(nonceFile, `${secretB}\n${secretA}\n`, { mode: 0o600 });
    await start();
    const replayed = await token(used);
    expect([replayed.status, replayed.body.error, replayed.body.error_description]).toEqual([400, 'invalid_dpop_proof', 'DPoP proof replayed']);
    const fresh = await token(await proof({ nonce: nonceA }));
    expect(fresh.status).toBe(200);
    // Answers now carry nonces under the new secret (the old one is only accepted, never issued).
    expect(fresh.nonce).not.toBe(nonceA);
    // A made-up nonce in the right shape is refused with a challenge.
    const forged = await token(await proof({ nonce: `${nonceA.split('.')[0]}.${randomBytes(16).toString('base64url')}` }));
    expect([forged.status, forged.body.error]).toEqual([400, 'use_dpop_nonce']);
  }, 30_000);

  it('a rewrite the service refuses (oversized) keeps the last good secrets and is logged, never silently', async () => {
    writeFileSync(nonceFile, `${randomBytes(3000).toString('hex')}\n`, { mode: 0o600 });
    await new Promise((r) => setTimeout(r, NONCE_SECRET_REREAD_MS + 200));
    const challenge = await currentNonce(); // the first request after the interval re-reads the file
    expect((await token(await proof({ nonce: challenge }))).status).toBe(200);
    const warned = jsonLines(serviceLog).filter((l) => l.event === 'dpop_nonce_secret_file_refused');
    expect(warned.length).toBeGreaterThanOrEqual(1);
    expect(String(warned[0]!.msg)).toMatch(/larger than 4096 bytes.*still using the last good secrets/);
  }, 15_000);
});

describe('--dpop-nonce-secret-file swapped under the service', () => {
  it('a swap to a symlink to a world-readable file is followed and warned about; a swap to 3 lines is refused and warned about', () => {
    const file = join(dir, 'swap.secret');
    const target = join(dir, 'world-readable.secret');
    writeFileSync(file, `${'a'.repeat(64)}\n`, { mode: 0o600 });
    const warnings: string[] = [];
    let t = 0;
    const secrets = nonceSecretsFromFile(file, '--dpop-nonce-secret-file', () => t, (event) => warnings.push(event));
    writeFileSync(target, `${'c'.repeat(64)}\n`, { mode: 0o644 });
    unlinkSync(file);
    symlinkSync(target, file);
    t += NONCE_SECRET_REREAD_MS;
    expect(Buffer.from(secrets().current).toString()).toBe('c'.repeat(64));
    expect(warnings).toEqual(['secret_file_readable']);
    writeFileSync(target, `${'d'.repeat(64)}\n${'e'.repeat(64)}\n${'f'.repeat(64)}\n`);
    t += NONCE_SECRET_REREAD_MS;
    expect(Buffer.from(secrets().current).toString()).toBe('c'.repeat(64));
    expect(warnings).toEqual(['secret_file_readable', 'dpop_nonce_secret_file_refused']);
  });
});
